/**
 * Process variables (brpc's bvar/default_variables.cpp, under the same names where brpc has
 * them) and Node's own: CPU, memory, file descriptors, threads, heap, event-loop lag and
 * utilisation, garbage collection pauses, open connections. See docs/metrics.md.
 */
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import {
  createHistogram,
  type EventLoopUtilization,
  PerformanceObserver,
  performance,
  type RecordableHistogram,
} from "node:perf_hooks";
import { liveConnections } from "../transport/connection.js";
import { Adder, Maxer } from "./reducer.js";
import { defaultRegistry, type MetricRegistry } from "./registry.js";
import type { SamplerTask } from "./sampler.js";
import { PassiveStatus } from "./status.js";
import type { Variable } from "./variable.js";
import { PerSecond, Window } from "./window.js";

/** Period of the event-loop lag timer, in ms (`monitorEventLoopDelay`'s default resolution). */
const LAG_RESOLUTION_MS = 10;
/** Seconds the event-loop lag values cover (brpc's `-bvar_dump_interval`). */
const LAG_WINDOW = 10;
/** Values read from /proc or process.memoryUsage() are reused for this long (ms). */
const CACHE_MS = 100;
/** /proc/self/fd is not scanned past this many entries (brpc's MAX_FD_SCAN_COUNT). */
const MAX_FD_SCAN = 10003;

/** A reading reused for {@link CACHE_MS}: one syscall serves every variable reading it. */
function cached<T>(read: () => T): () => T {
  let at = Number.NEGATIVE_INFINITY;
  let value: T;
  return () => {
    const t = performance.now();
    if (t - at >= CACHE_MS) {
      value = read();
      at = t;
    }
    return value;
  };
}

const memory = cached(() => process.memoryUsage());
const cpu = cached(() => process.cpuUsage());
const pageSize = 4096;
/** /proc/self/statm in bytes: [size, resident, shared]; undefined off Linux. */
const statm = cached((): number[] | undefined => {
  try {
    return readFileSync("/proc/self/statm", "latin1")
      .trim()
      .split(" ")
      .slice(0, 3)
      .map((p) => Number(p) * pageSize);
  } catch {
    return undefined;
  }
});

function threadCount(): number {
  try {
    // Field 20 of /proc/self/stat; the command (field 2) may contain spaces, so count after ")".
    const s = readFileSync("/proc/self/stat", "latin1");
    const fields = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return Number(fields[17]);
  } catch {
    return 0;
  }
}

function fdCount(): number {
  try {
    // readdirSync's own descriptor is listed too.
    return Math.min(readdirSync("/proc/self/fd").length - 1, MAX_FD_SCAN);
  } catch {
    return 0;
  }
}

/**
 * Per-second state shared by the registries the process variables are exposed in.
 *
 * Event-loop lag: a timer every {@link LAG_RESOLUTION_MS} ms records how late it runs, into
 * one histogram per second, {@link LAG_WINDOW} of them kept. (perf_hooks'
 * `monitorEventLoopDelay` measures the same way, but its histogram can neither be merged
 * nor reset without losing the interval that follows the reset, which is where a blocking
 * sampler tick would show.)
 */
class ProcessMonitor implements SamplerTask {
  /** The lag of the last {@link LAG_WINDOW} seconds in µs + 1 (a histogram needs values >= 1). */
  readonly #lagRing: RecordableHistogram[] = [];
  #lagSlot = 0;
  #lagNow: RecordableHistogram;
  #lagLast = performance.now();
  /** The ring merged, computed when read after a tick. */
  #lagMerged: RecordableHistogram | undefined = undefined;
  utilization = 0;
  #elu: EventLoopUtilization;
  readonly gcCount = new Adder();
  readonly gcPause = new Adder();
  readonly gcPauseMax = new Maxer(0);

  constructor() {
    for (let i = 0; i < LAG_WINDOW; i++) this.#lagRing.push(createHistogram());
    this.#lagNow = this.#lagRing[0] as RecordableHistogram;
    // Neither the timer nor the observer keeps the process alive.
    setInterval(() => {
      const t = performance.now();
      this.#lagNow.record(Math.max(1, Math.round((t - this.#lagLast - LAG_RESOLUTION_MS) * 1000) + 1));
      this.#lagLast = t;
    }, LAG_RESOLUTION_MS).unref();
    this.#elu = performance.eventLoopUtilization();
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const us = e.duration * 1000;
        this.gcCount.add(1);
        this.gcPause.add(us);
        this.gcPauseMax.record(us);
      }
    });
    obs.observe({ entryTypes: ["gc"] });
  }

  /** Event-loop lag over the last 10 s in µs: the `p` percentile, or the max with `p` = 100. */
  lagOver(p: number): number {
    if (this.#lagMerged === undefined) {
      const merged = createHistogram();
      for (const h of this.#lagRing) merged.add(h);
      this.#lagMerged = merged;
    }
    const m = this.#lagMerged;
    if (m.count === 0) return 0;
    return (p === 100 ? m.max : m.percentile(p)) - 1;
  }

  /** Once a second: start the next second's lag histogram; utilisation of the second that ended. */
  takeSample(): boolean {
    this.#lagSlot = (this.#lagSlot + 1) % LAG_WINDOW;
    this.#lagNow = this.#lagRing[this.#lagSlot] as RecordableHistogram;
    this.#lagNow.reset();
    this.#lagMerged = undefined;
    const now = performance.eventLoopUtilization();
    this.utilization = performance.eventLoopUtilization(now, this.#elu).utilization;
    this.#elu = now;
    return true;
  }
}

let monitor: ProcessMonitor | undefined;
const exposedIn = new WeakSet<MetricRegistry>();

/**
 * Expose the process variables in `registry` (default `defaultRegistry`); calling it again
 * does nothing. A running server with metrics on calls it. Names taken already are skipped.
 * Nothing it starts keeps the process alive.
 *
 * brpc's names: `process_cpu_usage` (cores used over the last 10 s; `_user`, `_system`),
 * `process_memory_resident`, `process_memory_virtual`, `process_memory_shared` (bytes),
 * `process_fd_count`, `process_thread_count`, `process_uptime` (s), `system_core_count`,
 * `system_loadavg_1m/5m/15m`, `rpc_socket_count`, `rpc_channel_connection_count`.
 * Node's: `process_heap_used`, `process_heap_total`, `process_external_memory`,
 * `process_array_buffers` (bytes), `process_event_loop_lag_p50/p99/max` (µs, last 10 s),
 * `process_event_loop_utilization` (0..1, last second), `process_gc_count`,
 * `process_gc_count_second`, `process_gc_pause` (µs, total), `process_gc_pause_second`
 * (µs of pause per second over 10 s), `process_gc_pause_max` (longest pause over 10 s, µs).
 */
export function exposeProcessMetrics(registry: MetricRegistry = defaultRegistry): void {
  if (exposedIn.has(registry)) return;
  exposedIn.add(registry);
  monitor ??= new ProcessMonitor();
  const m = monitor;
  const sampler = registry.sampler;
  sampler.add(m);
  const opts = { sampler };
  const cpuSeconds = new PassiveStatus(() => {
    const u = cpu();
    return (u.user + u.system) / 1e6;
  });
  const userSeconds = new PassiveStatus(() => cpu().user / 1e6);
  const systemSeconds = new PassiveStatus(() => cpu().system / 1e6);
  const vars: Array<[string, Variable]> = [
    ["process_cpu_usage", new PerSecond(cpuSeconds, 10, opts)],
    ["process_cpu_usage_user", new PerSecond(userSeconds, 10, opts)],
    ["process_cpu_usage_system", new PerSecond(systemSeconds, 10, opts)],
    ["process_memory_resident", new PassiveStatus(() => memory().rss)],
    ["process_memory_virtual", new PassiveStatus(() => statm()?.[0] ?? 0)],
    ["process_memory_shared", new PassiveStatus(() => statm()?.[2] ?? 0)],
    ["process_fd_count", new PassiveStatus(fdCount)],
    ["process_thread_count", new PassiveStatus(threadCount)],
    ["process_uptime", new PassiveStatus(() => Math.round(process.uptime() * 1e6) / 1e6)],
    ["system_core_count", new PassiveStatus(availableParallelism)],
    ["system_loadavg_1m", new PassiveStatus(() => loadavg()[0] ?? 0)],
    ["system_loadavg_5m", new PassiveStatus(() => loadavg()[1] ?? 0)],
    ["system_loadavg_15m", new PassiveStatus(() => loadavg()[2] ?? 0)],
    ["rpc_socket_count", new PassiveStatus(() => liveConnections.server + liveConnections.client)],
    ["rpc_channel_connection_count", new PassiveStatus(() => liveConnections.client)],
    ["process_heap_used", new PassiveStatus(() => memory().heapUsed)],
    ["process_heap_total", new PassiveStatus(() => memory().heapTotal)],
    ["process_external_memory", new PassiveStatus(() => memory().external)],
    ["process_array_buffers", new PassiveStatus(() => memory().arrayBuffers)],
    ["process_event_loop_lag_p50", new PassiveStatus(() => m.lagOver(50))],
    ["process_event_loop_lag_p99", new PassiveStatus(() => m.lagOver(99))],
    ["process_event_loop_lag_max", new PassiveStatus(() => m.lagOver(100))],
    ["process_event_loop_utilization", new PassiveStatus(() => Math.round(m.utilization * 1e4) / 1e4)],
    ["process_gc_count", new PassiveStatus(() => m.gcCount.value)],
    ["process_gc_count_second", new PerSecond(m.gcCount, 10, opts)],
    ["process_gc_pause", new PassiveStatus(() => Math.round(m.gcPause.value))],
    ["process_gc_pause_second", new PerSecond(m.gcPause, 10, opts)],
    ["process_gc_pause_max", new Window(m.gcPauseMax, 10, opts)],
  ];
  for (const [name, v] of vars) v.expose(name, { registry });
}
