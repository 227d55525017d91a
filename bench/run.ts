/**
 * `npm run bench`: the request/response parts (bench/lib/parts.ts): echo of a 16-byte
 * message over baidu_std and baselines, HTTP JSON echo (brpc-ts vs node:http), gRPC unary
 * echo (brpc-ts vs @grpc/grpc-js), the overhead of the automatic metrics (echo with metrics
 * on vs off), each system at every in-flight level, server and client
 * in separate child processes, one run at a time; then stream throughput
 * (bench/lib/stream-run.ts) of every stream system at every message size. Prints tables
 * and ratios; writes dist/bench-results.json. Knobs: BENCH_SECONDS, BENCH_WARMUP,
 * BENCH_ONLY, BENCH_INFLIGHT, BENCH_ROUNDS, BENCH_PARTS, BENCH_UNARY, BENCH_HTTP,
 * BENCH_GRPC, BENCH_METRICS, BENCH_STREAM, BENCH_STREAM_SIZES, BENCH_HTTP_CLIENT, BENCH_HTTP_CONNECTIONS,
 * BENCH_CPU_PROF (see docs/benchmarks.md).
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { readConfig } from "./lib/config.js";
import { parts } from "./lib/parts.js";
import { runClient, startServer, stopChild } from "./lib/proc.js";
import {
  formatRatios,
  header,
  machineInfo,
  type Ratio,
  type RunResult,
  summarize,
  table,
} from "./lib/report.js";
import {
  formatSize,
  formatStreamRatios,
  runStreams,
  streamRatios,
  streamTable,
  summarizeStreams,
} from "./lib/stream-run.js";
import { findStreamSystem, streamSystems, systems } from "./systems/index.js";

const RESULTS_FILE = fileURLToPath(new URL("../bench-results.json", import.meta.url));

async function measure(system: string, inflight: number, warmupMs: number, measureMs: number) {
  const server = await startServer(system);
  try {
    const r = await runClient(system, { port: server.port, inflight, warmupMs, measureMs }, server.child);
    const seconds = r.elapsedMs / 1000;
    const { p50Us, p99Us, meanUs, maxUs } = r;
    const result: RunResult = {
      system,
      inflight,
      rounds: 1,
      calls: r.calls,
      seconds,
      callsPerSec: r.calls / seconds,
      p50Us,
      p99Us,
      meanUs,
      maxUs,
    };
    if (r.clientCpuUs !== undefined && r.serverCpuUs !== undefined && r.calls > 0) {
      result.cpuUsPerCall = (r.clientCpuUs + r.serverCpuUs) / r.calls;
    }
    return result;
  } finally {
    await stopChild(server.child);
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  // BENCH_ONLY names systems of either part; each part runs the ones it knows.
  for (const n of config.only ?? []) {
    if (!systems.some((s) => s.name === n) && !streamSystems.some((s) => s.name === n)) {
      const known = [...new Set([...systems, ...streamSystems].map((s) => s.name))].join(", ");
      throw new Error(`BENCH_ONLY: unknown bench system "${n}" (known: ${known})`);
    }
  }
  const partRuns = [];
  for (const part of parts) {
    if (!config[part.key]) continue;
    const names = config.only ? part.systems.filter((n) => config.only!.includes(n)) : part.systems;
    if (names.length === 0) continue;
    partRuns.push({ part, names, runs: [] as RunResult[] });
  }
  const streamEntries = config.stream
    ? config.only
      ? config.only.filter((n) => streamSystems.some((s) => s.name === n)).map(findStreamSystem)
      : streamSystems
    : [];
  console.log(header());

  // Systems alternate within each in-flight level, so the runs compared by a ratio are
  // close in time; rounds repeat the whole sequence of a part.
  const partResults: Record<
    string,
    { systems: readonly string[]; results: RunResult[]; ratios: Ratio[]; runs: RunResult[] }
  > = {};
  for (const { part, names, runs } of partRuns) {
    console.log(
      `\n${part.title}: warm-up ${config.warmupMs / 1000} s, measure ${config.measureMs / 1000} s, ` +
        `${config.rounds} round(s), systems: ${names.join(", ")}`,
    );
    for (let round = 1; round <= config.rounds; round++) {
      const order = part.alternate && round % 2 === 0 ? names.toReversed() : names;
      for (const inflight of config.inflight) {
        for (const system of order) {
          const r = { ...(await measure(system, inflight, config.warmupMs, config.measureMs)), round };
          console.error(
            `  round ${round}: ${system} @${inflight}: ${Math.round(r.callsPerSec)} calls/s, ` +
              `p50 ${r.p50Us.toFixed(1)} µs, p99 ${r.p99Us.toFixed(1)} µs`,
          );
          runs.push(r);
        }
      }
    }
    const results = summarize(runs);
    const ratioList = part.ratios(runs, config.inflight);
    for (const inflight of config.inflight) console.log(`\n${table(results, inflight, part.connections)}`);
    console.log(`\n${formatRatios(ratioList)}`);
    partResults[part.key] = { systems: names, results, ratios: ratioList, runs };
  }

  let stream: object | undefined;
  if (streamEntries.length > 0) {
    console.log(
      `\nstream throughput, 1 stream on 1 connection, server writes / client reads, sizes ` +
        `${config.streamSizes.map(formatSize).join(", ")}, warm-up ${config.warmupMs / 1000} s, ` +
        `measure ${config.measureMs / 1000} s, ${config.rounds} round(s), systems: ` +
        `${streamEntries.map((e) => e.name).join(", ")}` +
        (process.env.BENCH_STREAM_WINDOW ? `, brpc-ts window ${process.env.BENCH_STREAM_WINDOW} B` : ""),
    );
    const streamRuns = await runStreams(config, streamEntries);
    const streamResults = summarizeStreams(streamRuns);
    const streamRatioList = streamRatios(streamRuns, config.streamSizes);
    console.log(`\n${streamTable(streamResults)}`);
    console.log(`\n${formatStreamRatios(streamRatioList)}`);
    const failed = streamRuns.filter((r) => r.error !== undefined);
    if (failed.length > 0) {
      console.log(`\n${failed.length} stream run(s) failed:`);
      for (const f of failed)
        console.log(`  round ${f.round}: ${f.system} ${formatSize(f.size)}: ${f.error}`);
      process.exitCode = 1;
    }
    stream = {
      brpcTsWindow: process.env.BENCH_STREAM_WINDOW ? Number(process.env.BENCH_STREAM_WINDOW) : "default",
      systems: streamEntries.map(({ name, variant, description }) => ({ name, variant, description })),
      results: streamResults,
      ratios: streamRatioList,
      runs: streamRuns,
    };
  }

  writeFileSync(
    RESULTS_FILE,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: machineInfo(),
        config,
        // The baidu_std part at the top level, as before; the others under their keys.
        results: partResults.unary?.results ?? [],
        ratios: partResults.unary?.ratios ?? [],
        runs: partResults.unary?.runs ?? [],
        http: partResults.http,
        grpc: partResults.grpc,
        metrics: partResults.metrics,
        stream,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nresults written to ${RESULTS_FILE}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
