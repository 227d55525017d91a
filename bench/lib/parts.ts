/**
 * The request/response parts of `npm run bench`: each runs its systems (names of the
 * registry in bench/systems/index.ts) at every in-flight level, one run at a time, and
 * reports its own ratios. The stream part is separate (bench/lib/stream-run.ts).
 */
import { pairedRatio, type Ratio, type RunResult, ratios as unaryRatios } from "./report.js";

/** A request/response part of the benchmark. */
export interface UnaryPart {
  /** Key in the config switches (`BENCH_<KEY>`), `BENCH_PARTS` and the results JSON. */
  readonly key: "unary" | "http" | "grpc" | "metrics";
  /** First line of the part's report (what is echoed, how). */
  readonly title: string;
  /** Systems run, in order; in each round and level they run back to back. */
  readonly systems: readonly string[];
  /**
   * Reverse the order of the systems every other round, so that neither side of a ratio
   * always runs first (the first of a pair measured about 3% slower in an A/A run).
   */
  readonly alternate?: boolean;
  /** How many connections a level uses, for the table titles. */
  connections(inflight: number): string;
  /** The part's ratio lines from all rounds' runs. */
  ratios(runs: readonly RunResult[], levels: readonly number[]): Ratio[];
}

const cps = (r: RunResult) => r.callsPerSec;
const p50 = (r: RunResult) => r.p50Us;
/** Calls per CPU second (client and server together): higher is cheaper, like calls/s. */
const callsPerCpu = (r: RunResult) => (r.cpuUsPerCall === undefined ? 0 : 1 / r.cpuUsPerCall);

function httpConnections(inflight: number): string {
  const raw = process.env.BENCH_HTTP_CONNECTIONS;
  const n = raw ? Math.min(Number(raw), inflight) : inflight;
  const client = process.env.BENCH_HTTP_CLIENT || "raw";
  return `${n} HTTP/1.1 connection${n === 1 ? "" : "s"} (${client} client)`;
}

export const parts: readonly UnaryPart[] = [
  {
    key: "unary",
    title: "echo 16 B over baidu_std and baselines",
    systems: ["brpc-ts", "bare", "bare-batched", "grpc-js"],
    connections: () => "1 connection",
    ratios: (runs) => unaryRatios(runs),
  },
  {
    key: "metrics",
    title: "overhead of the automatic metrics: baidu_std echo 16 B with metrics on (default) and off",
    systems: ["brpc-ts", "brpc-ts-nometrics"],
    alternate: true,
    connections: () => "1 connection",
    ratios: (runs, levels) =>
      levels.flatMap((n) => [
        pairedRatio(
          runs,
          `brpc-ts/brpc-ts-nometrics calls/s @${n} in flight (target >= 0.95)`,
          "brpc-ts",
          "brpc-ts-nometrics",
          n,
          cps,
        ),
        pairedRatio(
          runs,
          `brpc-ts/brpc-ts-nometrics calls per CPU second (client + server) @${n} (target >= 0.95)`,
          "brpc-ts",
          "brpc-ts-nometrics",
          n,
          callsPerCpu,
        ),
        pairedRatio(
          runs,
          `brpc-ts p50 / brpc-ts-nometrics p50 @${n} in flight`,
          "brpc-ts",
          "brpc-ts-nometrics",
          n,
          p50,
        ),
      ]),
  },
  {
    key: "http",
    title: 'HTTP JSON echo {"message": <16 B>}, POST /EchoService/Echo, same load generator for both servers',
    systems: ["http-brpc-ts", "http-node", "http-brpc-ts-async"],
    connections: httpConnections,
    ratios: (runs, levels) =>
      levels.flatMap((n) => [
        pairedRatio(
          runs,
          `http-brpc-ts-async/http-node calls/s @${n} (async handler, information)`,
          "http-brpc-ts-async",
          "http-node",
          n,
          cps,
        ),
        pairedRatio(
          runs,
          `http-brpc-ts/http-node calls/s @${n} in flight`,
          "http-brpc-ts",
          "http-node",
          n,
          cps,
        ),
        pairedRatio(
          runs,
          `http-brpc-ts p50 / http-node p50 @${n} in flight`,
          "http-brpc-ts",
          "http-node",
          n,
          p50,
        ),
      ]),
  },
  {
    key: "grpc",
    title: "gRPC unary echo 16 B, one h2 connection",
    systems: ["grpc-brpc-ts", "grpc-js", "grpc-js-to-brpc-ts", "brpc-ts-to-grpc-js", "h2-bare"],
    connections: () => "1 h2 connection",
    ratios: (runs, levels) =>
      levels.flatMap((n) => [
        pairedRatio(runs, `grpc-brpc-ts/grpc-js calls/s @${n} in flight`, "grpc-brpc-ts", "grpc-js", n, cps),
        pairedRatio(
          runs,
          `grpc-brpc-ts p50 / grpc-js p50 @${n} in flight`,
          "grpc-brpc-ts",
          "grpc-js",
          n,
          p50,
        ),
        pairedRatio(
          runs,
          `grpc-js-to-brpc-ts/grpc-js calls/s @${n} (server's share)`,
          "grpc-js-to-brpc-ts",
          "grpc-js",
          n,
          cps,
        ),
        pairedRatio(
          runs,
          `brpc-ts-to-grpc-js/grpc-js calls/s @${n} (client's share)`,
          "brpc-ts-to-grpc-js",
          "grpc-js",
          n,
          cps,
        ),
        pairedRatio(runs, `h2-bare/grpc-js calls/s @${n} (node:http2 ceiling)`, "h2-bare", "grpc-js", n, cps),
        pairedRatio(runs, `grpc-brpc-ts/h2-bare calls/s @${n}`, "grpc-brpc-ts", "h2-bare", n, cps),
      ]),
  },
];
