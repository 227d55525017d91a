/**
 * Entry script of every benchmark child process (forked by `bench/lib/proc.ts`):
 *
 * - `child.js server <system>`: start the system's echo server, send `{type:"ready", port}`.
 * - `child.js client <system> <ClientParams JSON>`: run the system's load through the
 *   warm-up and measurement phases (telling `{type:"phase"}` at the window's start and end,
 *   when the harness reads the server's CPU time), send `{type:"result", ...}` with its own
 *   CPU time over the window and exit.
 * - `child.js stream-server <stream system>`: start its writer server, send `{type:"ready", port}`.
 * - `child.js stream-client <stream system> <StreamClientParams JSON>`: read through the
 *   warm-up and measurement phases (telling `{type:"stream-phase"}` at the window's start
 *   and end), send `{type:"stream-result", ...}` and exit.
 *
 * Any child answers `{type:"cpu?"}` with `{type:"cpu", us}` (its CPU time so far).
 * Failures are sent as `{type:"error", message}`. A child exits as soon as its IPC channel
 * to the harness closes, so it never outlives the harness.
 */
import { findStreamSystem, findSystem } from "../systems/index.js";
import { Recorder, sleep } from "./stats.js";
import { type StreamClientParams, StreamRecorder } from "./stream.js";
import type { ChildMessage, ClientParams } from "./system.js";

/** How long a client may take to drain its in-flight calls after the window closed. */
const DRAIN_TIMEOUT_MS = 5000;

function send(msg: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(msg, undefined, {}, () => resolve());
  });
}

async function fail(err: unknown): Promise<never> {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  await send({ type: "error", message });
  process.exit(1);
}

async function runServer(systemName: string): Promise<void> {
  const system = await findSystem(systemName).module();
  const port = await system.serve();
  await send({ type: "ready", port });
}

async function runClient(systemName: string, params: ClientParams): Promise<void> {
  const system = await findSystem(systemName).module();
  const rec = new Recorder(params.inflight);
  let loadSettled = false;
  const loading = system.load(params.port, rec).then(
    () => {
      loadSettled = true;
      if (rec.active) throw new Error("load() resolved before the measurement window ended");
    },
    (err: unknown) => {
      loadSettled = true;
      throw err;
    },
  );
  // CPU of this process over the window; the harness reads the server's at the same points.
  let cpu0 = 0;
  let clientCpuUs = 0;
  const cpuUs = (): number => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  const onPhase = (at: "start" | "end"): void => {
    if (at === "start") cpu0 = cpuUs();
    else clientCpuUs = cpuUs() - cpu0;
    void send({ type: "phase", at });
  };
  // Whichever comes first: the load fails, or the measurement window closes.
  await Promise.race([loading, rec.runPhases(params.warmupMs, params.measureMs, onPhase)]);
  // Let in-flight calls drain so the connection closes cleanly (bounded).
  await Promise.race([loading, sleep(DRAIN_TIMEOUT_MS)]);
  if (!loadSettled) console.error(`[${systemName}] client did not drain within ${DRAIN_TIMEOUT_MS} ms`);
  await send({ ...rec.result(), clientCpuUs });
  process.exit(0);
}

async function runStreamServer(name: string): Promise<void> {
  const system = await findStreamSystem(name).module();
  const port = await system.serve();
  await send({ type: "ready", port });
}

async function runStreamClient(name: string, params: StreamClientParams): Promise<void> {
  const entry = findStreamSystem(name);
  const system = await entry.module();
  const rec = new StreamRecorder(params.size, entry.variant);
  let readSettled = false;
  const reading = system.read(params.port, rec).finally(() => {
    readSettled = true;
  });
  const phases = rec.runPhases(params.warmupMs, params.measureMs, (phase) => {
    void send({ type: "stream-phase", phase });
  });
  // Whichever comes first: a failure (reader, verification, stall) or the window closing.
  await Promise.race([reading.then(() => phases), rec.failed, phases]);
  if (!rec.active && !readSettled) await Promise.race([reading, rec.failed, sleep(DRAIN_TIMEOUT_MS)]);
  if (rec.error !== undefined) throw rec.error;
  if (!readSettled) console.error(`[${name}] stream reader did not close within ${DRAIN_TIMEOUT_MS} ms`);
  await send(rec.result());
  process.exit(0);
}

process.on("message", (msg: { type?: string }) => {
  if (msg?.type === "cpu?") {
    const u = process.cpuUsage();
    void send({ type: "cpu", us: u.user + u.system });
  }
});
// Under --cpu-prof (BENCH_CPU_PROF), exit normally on SIGTERM so that the profile is written.
if (process.execArgv.some((a) => a.startsWith("--cpu-prof"))) process.on("SIGTERM", () => process.exit(0));
process.on("disconnect", () => process.exit(0));
process.on("uncaughtException", (err) => void fail(err));
process.on("unhandledRejection", (err) => void fail(err));

const [role, systemName, paramsJson] = process.argv.slice(2);
if (role === "server" && systemName) {
  runServer(systemName).catch(fail);
} else if (role === "client" && systemName && paramsJson) {
  runClient(systemName, JSON.parse(paramsJson) as ClientParams).catch(fail);
} else if (role === "stream-server" && systemName) {
  runStreamServer(systemName).catch(fail);
} else if (role === "stream-client" && systemName && paramsJson) {
  runStreamClient(systemName, JSON.parse(paramsJson) as StreamClientParams).catch(fail);
} else {
  void fail(
    new Error(
      "usage: child.js server <system> | client <system> <params-json> | " +
        "stream-server <system> | stream-client <system> <params-json>",
    ),
  );
}
