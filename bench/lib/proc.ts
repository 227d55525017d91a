/**
 * Harness side of the child processes: fork `child.js` for a system's server or client,
 * wait for its messages, and make sure no child survives the harness.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { CpuMessage } from "./stream.js";
import type { ChildMessage, ClientParams, ReadyMessage, ResultMessage } from "./system.js";

const CHILD_SCRIPT = fileURLToPath(new URL("./child.js", import.meta.url));
const live = new Set<ChildProcess>();

/** Kill every live child (SIGKILL); safe to call from an 'exit' handler. */
export function killAllChildren(): void {
  for (const child of live) child.kill("SIGKILL");
  live.clear();
}

let handlersInstalled = false;
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", killAllChildren);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      killAllChildren();
      process.exit(128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const)[sig]);
    });
  }
}

let profiled = 0;

/**
 * Node flags of a child: none (harness flags such as --inspect are not inherited), or
 * `--cpu-prof` into the directory `BENCH_CPU_PROF` names, one
 * `<role>-<system>[-<size>]-<n>.cpuprofile` per child.
 */
function childExecArgv(args: readonly string[]): string[] {
  const dir = process.env.BENCH_CPU_PROF;
  if (dir === undefined || dir === "") return [];
  let label = `${args[0]}-${args[1]}`;
  if (args[2] !== undefined) {
    const size = (JSON.parse(args[2]) as { size?: number }).size;
    if (size !== undefined) label += `-${size}`;
  }
  const name = `${label.replace(/[^A-Za-z0-9._-]/g, "_")}-${++profiled}.cpuprofile`;
  return ["--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}`];
}

/** Fork `child.js` with `args`; the child is killed if the harness exits. */
export function spawnChild(args: string[]): ChildProcess {
  installHandlers();
  const child = fork(CHILD_SCRIPT, args, {
    execArgv: childExecArgv(args),
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

/**
 * Resolve with the first message of type `type` from `child`; reject on an error message,
 * on the child exiting first, or after `timeoutMs`.
 */
export function expect<T extends ChildMessage>(
  child: ChildProcess,
  type: T["type"],
  what: string,
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    const onMessage = (msg: ChildMessage): void => {
      if (msg.type === type) {
        cleanup();
        resolve(msg as T);
      } else if (msg.type === "error") {
        cleanup();
        reject(new Error(`${what} failed: ${msg.message}`));
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      cleanup();
      reject(new Error(`${what} exited (${signal ?? `code ${code}`}) before sending "${type}"`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what}: no "${type}" within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

/** Stop `child`: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/** A running server child and its port. */
export interface ServerHandle {
  child: ChildProcess;
  port: number;
}

/**
 * Fork the server of `system` and wait until it reports its port (`role` "stream-server"
 * for a stream system).
 */
export async function startServer(
  system: string,
  timeoutMs = 15_000,
  role: "server" | "stream-server" = "server",
): Promise<ServerHandle> {
  const child = spawnChild([role, system]);
  try {
    const ready = await expect<ReadyMessage>(child, "ready", `${system} server`, timeoutMs);
    return { child, port: ready.port };
  } catch (err) {
    await stopChild(child);
    throw err;
  }
}

const CPU_QUERY_TIMEOUT_MS = 2000;

/** The CPU time (µs) of `child`, or null if it does not answer in time (e.g. a busy loop). */
export async function cpuOf(child: ChildProcess): Promise<number | null> {
  try {
    const reply = expect<CpuMessage>(child, "cpu", "cpu query", CPU_QUERY_TIMEOUT_MS);
    child.send({ type: "cpu?" });
    return (await reply).us;
  } catch {
    return null;
  }
}

/**
 * Fork the client of `system`, let it run its warm-up and measurement, return its result;
 * with `server`, also the server's CPU time over the client's measurement window.
 */
export async function runClient(
  system: string,
  params: ClientParams,
  server?: ChildProcess,
): Promise<ResultMessage> {
  const child = spawnChild(["client", system, JSON.stringify(params)]);
  const timeoutMs = params.warmupMs + params.measureMs + 30_000;
  let cpuStart: Promise<number | null> | undefined;
  let cpuEnd: Promise<number | null> | undefined;
  const onPhase = (msg: ChildMessage): void => {
    if (msg.type !== "phase" || server === undefined) return;
    if (msg.at === "start") cpuStart = cpuOf(server);
    else cpuEnd = cpuOf(server);
  };
  child.on("message", onPhase);
  try {
    const r = await expect<ResultMessage>(child, "result", `${system} client`, timeoutMs);
    const [a, b] = await Promise.all([cpuStart, cpuEnd]);
    if (a != null && b != null) r.serverCpuUs = b - a;
    return r;
  } finally {
    child.off("message", onPhase);
    await stopChild(child);
  }
}
