/**
 * The contract between the benchmark harness and one benchmarked "system".
 *
 * A system is a module under `bench/systems/` exporting {@link BenchSystem.serve} and
 * {@link BenchSystem.load}. The harness runs `serve` in a server child process and `load`
 * in a separate client child process; the module is registered in `bench/systems/index.ts`.
 */
import type { CpuMessage, StreamPhaseMessage, StreamResultMessage } from "./stream.js";

/** The echoed payload: 16 bytes (ASCII, so it is also 16 bytes as a UTF-8 string). */
export const MESSAGE = "0123456789abcdef";

/** What a client's {@link BenchSystem.load} sees while it generates load. */
export interface LoadContext {
  /** Number of calls to keep in flight on the one connection/channel. */
  readonly inflight: number;
  /** The 16-byte message to echo ({@link MESSAGE}). */
  readonly message: string;
  /**
   * `true` while new calls should be issued. Becomes `false` when the measurement window
   * ends; `load` must then stop issuing, wait for its in-flight calls and resolve.
   */
  readonly active: boolean;
  /**
   * Report one completed (and verified) call.
   *
   * @param t0 `performance.now()` taken when the call was issued.
   * @param t1 `performance.now()` taken when its response arrived (defaults to now); pass it
   *   explicitly to share one timestamp between several responses of the same read.
   */
  done(t0: number, t1?: number): void;
}

/** One benchmarked system: an echo server and a closed-loop client for it. */
export interface BenchSystem {
  /**
   * Runs in the server child: start an echo server listening on 127.0.0.1 (any free port)
   * that answers `example.EchoService/Echo`-like calls with the request's message, and
   * resolve with the port. The process is killed when the harness is done with it.
   */
  serve(): Promise<number>;
  /**
   * Runs in the client child: open ONE connection/channel to `127.0.0.1:port`, keep
   * `ctx.inflight` echo calls in flight (issuing a new call whenever one completes) while
   * `ctx.active`, call `ctx.done` for every completed call, and resolve once
   * `ctx.active` is false and all in-flight calls have completed. Reject on any error,
   * including a wrong echo.
   */
  load(port: number, ctx: LoadContext): Promise<void>;
}

/** An entry of the system registry (`bench/systems/index.ts`). */
export interface SystemEntry {
  /** Name shown in the report and accepted by `BENCH_ONLY`. */
  readonly name: string;
  /** Lazily imports the system's module (so a child only loads the system it runs). */
  readonly module: () => Promise<BenchSystem>;
}

/** Message a server child sends to the harness once it listens. */
export interface ReadyMessage {
  type: "ready";
  port: number;
}

/** Message a client child sends to the harness with its measurement. */
export interface ResultMessage {
  type: "result";
  /** Calls completed inside the measurement window. */
  calls: number;
  /** Actual length of the measurement window, ms. */
  elapsedMs: number;
  /**
   * Latency of the window's calls, µs: mean and max over all calls, percentiles over all of
   * them or, past 2^21 calls, over a uniform reservoir sample.
   */
  p50Us: number;
  p99Us: number;
  meanUs: number;
  maxUs: number;
  /** CPU time of the client process during the window, µs. */
  clientCpuUs?: number;
  /** CPU time of the server process during the window, µs (filled in by the harness). */
  serverCpuUs?: number;
}

/** Message a child sends when it fails. */
export interface ErrorMessage {
  type: "error";
  message: string;
}

/** Any message from a child to the harness. */
/** A client child's measurement window opened or closed: the harness reads the server's CPU then. */
export interface PhaseMessage {
  type: "phase";
  at: "start" | "end";
}

export type ChildMessage =
  | ReadyMessage
  | ResultMessage
  | PhaseMessage
  | ErrorMessage
  | StreamPhaseMessage
  | StreamResultMessage
  | CpuMessage;

/** Parameters passed (as JSON in `argv[3]`) to a client child. */
export interface ClientParams {
  port: number;
  inflight: number;
  warmupMs: number;
  measureMs: number;
}
