import { performance } from "node:perf_hooks";
import { type LoadContext, MESSAGE, type ResultMessage } from "./system.js";

/** Latency samples kept per run; beyond this, a uniform reservoir sample (Algorithm R). */
const RESERVOIR_SIZE = 1 << 21;

/**
 * The {@link LoadContext} of a client child: runs the warm-up / measure / stop phases,
 * counts every call that completes inside the measurement window and keeps its latency
 * (all of them up to {@link RESERVOIR_SIZE} calls, a uniform random sample beyond).
 */
export class Recorder implements LoadContext {
  readonly inflight: number;
  readonly message = MESSAGE;
  active = true;
  #measuring = false;
  #start = 0;
  #end = 0;
  /** Calls completed in the window. */
  #calls = 0;
  #sum = 0;
  #max = 0;
  readonly #samples = new Float64Array(RESERVOIR_SIZE);

  /** @param inflight calls to keep in flight. */
  constructor(inflight: number) {
    this.inflight = inflight;
  }

  done(t0: number, t1: number = performance.now()): void {
    if (!this.#measuring) return;
    const ms = t1 - t0;
    this.#sum += ms;
    if (ms > this.#max) this.#max = ms;
    const i = this.#calls++;
    if (i < RESERVOIR_SIZE) {
      this.#samples[i] = ms;
    } else {
      const j = Math.floor(Math.random() * (i + 1));
      if (j < RESERVOIR_SIZE) this.#samples[j] = ms;
    }
  }

  /**
   * Run the phases: `warmupMs` unrecorded, then `measureMs` recorded, then `active = false`.
   * Resolves when the measurement window has closed.
   */
  async runPhases(
    warmupMs: number,
    measureMs: number,
    onPhase?: (at: "start" | "end") => void,
  ): Promise<void> {
    await sleep(warmupMs);
    this.#start = performance.now();
    this.#measuring = true;
    onPhase?.("start");
    await sleep(measureMs);
    this.#end = performance.now();
    this.#measuring = false;
    this.active = false;
    onPhase?.("end");
  }

  /** Summarize the measurement window (call after {@link Recorder.runPhases} resolved). */
  result(): ResultMessage {
    const n = this.#calls;
    const sorted = this.#samples.subarray(0, Math.min(n, RESERVOIR_SIZE)).sort();
    return {
      type: "result",
      calls: n,
      elapsedMs: this.#end - this.#start,
      p50Us: percentile(sorted, 0.5) * 1000,
      p99Us: percentile(sorted, 0.99) * 1000,
      meanUs: n ? (this.#sum / n) * 1000 : Number.NaN,
      maxUs: n ? this.#max * 1000 : Number.NaN,
    };
  }
}

/** Nearest-rank percentile `p` (0..1] of ascending `sorted`; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1]!;
}

/** Resolve after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
