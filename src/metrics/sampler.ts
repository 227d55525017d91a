/**
 * The once-a-second sampling behind windows and series (brpc's `SamplerCollector` thread):
 * one shared, unref'd timer per `Sampler`, armed when the first task arrives and cleared when
 * the last one leaves. Tests drive a sampler by hand with `tick()` and an injected clock.
 */

/** Something a `Sampler` calls once per tick. */
export interface SamplerTask {
  /** Take this second's sample at `nowMs`; return false to be dropped from the sampler. */
  takeSample(nowMs: number): boolean;
}

/** When a task runs within a tick: reducer samples first, then series that read windows. */
export type SamplerPhase = "reducer" | "series";

/** Options of `new Sampler()`. */
export interface SamplerOptions {
  /** Milliseconds on a monotonic clock; default `performance.now()`. */
  clock?: () => number;
  /** Time between ticks; default 1000 (brpc samples every second). */
  intervalMs?: number;
  /** Arm a timer when tasks exist; default true. false: only `tick()` samples (tests). */
  autoStart?: boolean;
}

/** Runs registered tasks once per interval on one unref'd timer. */
export class Sampler {
  private readonly clock: () => number;
  private readonly intervalMs: number;
  private readonly autoStart: boolean;
  private readonly reducers = new Set<SamplerTask>();
  private readonly series = new Set<SamplerTask>();
  private timer: ReturnType<typeof setInterval> | undefined;

  /** A sampler; see `SamplerOptions`. */
  constructor(options: SamplerOptions = {}) {
    this.clock = options.clock ?? (() => performance.now());
    this.intervalMs = options.intervalMs ?? 1000;
    this.autoStart = options.autoStart ?? true;
  }

  /** The sampler's clock, in milliseconds. */
  now(): number {
    return this.clock();
  }

  /** Number of registered tasks. */
  get taskCount(): number {
    return this.reducers.size + this.series.size;
  }

  /** True while the timer is armed. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Register `task` (arms the timer if it is the first one). */
  add(task: SamplerTask, phase: SamplerPhase = "reducer"): void {
    (phase === "reducer" ? this.reducers : this.series).add(task);
    if (this.autoStart && this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** Unregister `task` (clears the timer if it was the last one). */
  remove(task: SamplerTask): void {
    this.reducers.delete(task);
    this.series.delete(task);
    this.stopIfIdle();
  }

  /**
   * Sample every task now (the timer calls this each interval). `nowMs` defaults to the clock.
   * A task that throws keeps its place and misses this sample.
   */
  tick(nowMs: number = this.clock()): void {
    for (const set of [this.reducers, this.series]) {
      for (const task of set) {
        let keep = true;
        try {
          keep = task.takeSample(nowMs);
        } catch {
          // A throwing PassiveStatus callback must not stop the other tasks.
        }
        if (!keep) set.delete(task);
      }
    }
    this.stopIfIdle();
  }

  private stopIfIdle(): void {
    if (this.timer !== undefined && this.taskCount === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/** The process-wide sampler used unless a `sampler` option says otherwise. */
export const defaultSampler = new Sampler();

/** How a `ReducerSampler` turns its samples into the value of a window. */
export interface ReduceOps<T> {
  /**
   * True if samples are running totals (Adder, IntRecorder, PassiveStatus) and a window is
   * newest minus oldest; false if each sample is one second's value taken with a reset
   * (Maxer, Miner, percentiles) and a window combines the samples inside it.
   */
  readonly invertible: boolean;
  /** Combine two samples (non-invertible windows). */
  combine(a: T, b: T): T;
  /** newest minus oldest (invertible windows). */
  subtract(newest: T, oldest: T): T;
  /** Called with a sample that fell out of the ring and the (live) source, for reuse. */
  recycle?(sample: T, source: object): void;
}

/** A window's worth of data and the milliseconds it spans. */
export interface Span<T> {
  data: T;
  ms: number;
}

/**
 * The per-second samples of one reducer (brpc's `ReducerSampler`): a ring holding the last
 * `windowSize + 1` samples, taken once at creation and then at every tick. The source is held
 * weakly; when it is garbage collected the task drops out of the sampler.
 */
export class ReducerSampler<T> implements SamplerTask {
  /** Windows are at most an hour long, as in brpc. */
  static readonly MAX_WINDOW = 3600;

  private readonly source: WeakRef<object>;
  private data: T[] = [];
  private times: number[] = [];
  private head = 0; // index of the oldest sample
  private count = 0;
  private windowSize = 1;
  /** Bumped on every sample, so readers can cache what they derive from the ring. */
  version = 0;

  /**
   * Start sampling `source` with `read(source)` on `sampler`. `read` must not capture
   * `source` (the sampler holds `read` strongly and `source` weakly).
   */
  constructor(
    source: object,
    private readonly read: (source: never) => T,
    private readonly ops: ReduceOps<T>,
    private readonly sampler: Sampler,
  ) {
    this.source = new WeakRef(source);
    this.grow(2);
    this.push(read(source as never), sampler.now());
    sampler.add(this, "reducer");
  }

  /** Make the ring hold windows of `seconds` (windows only grow). */
  setWindowSize(seconds: number): void {
    checkWindowSize(seconds);
    if (seconds > this.windowSize) {
      this.windowSize = seconds;
      if (seconds + 1 > this.data.length) this.grow(seconds + 1);
    }
  }

  /** Stop sampling (the ring keeps what it has). */
  stop(): void {
    this.sampler.remove(this);
  }

  /** @internal Called by the sampler. */
  takeSample(nowMs: number): boolean {
    const source = this.source.deref();
    if (source === undefined) return false;
    const evicted = this.push(this.read(source as never), nowMs);
    if (evicted !== undefined) this.ops.recycle?.(evicted, source);
    return true;
  }

  /** The value over the last `seconds` (or fewer if fewer were sampled); undefined before 2 samples. */
  span(seconds: number): Span<T> | undefined {
    if (this.count <= 1) return undefined;
    const oldest = Math.min(seconds, this.count - 1);
    let data = this.at(0);
    if (this.ops.invertible) {
      data = this.ops.subtract(data, this.at(oldest));
    } else {
      for (let k = 1; k < oldest; k++) data = this.ops.combine(data, this.at(k));
    }
    return { data, ms: this.timeAt(0) - this.timeAt(oldest) };
  }

  /** The per-second samples inside the last `seconds`, newest first (non-invertible reducers). */
  samples(seconds: number): T[] {
    const out: T[] = [];
    if (this.count <= 1) return out;
    const oldest = Math.min(seconds, this.count - 1);
    for (let k = 0; k < oldest; k++) out.push(this.at(k));
    return out;
  }

  /** The k-th newest sample (0 = newest). */
  private at(k: number): T {
    return this.data[(this.head + this.count - 1 - k) % this.data.length];
  }

  private timeAt(k: number): number {
    return this.times[(this.head + this.count - 1 - k) % this.data.length];
  }

  /** Append a sample; returns the one it pushed out of a full ring. */
  private push(sample: T, nowMs: number): T | undefined {
    this.version++;
    const cap = this.data.length;
    if (this.count === cap) {
      const evicted = this.data[this.head];
      this.data[this.head] = sample;
      this.times[this.head] = nowMs;
      this.head = (this.head + 1) % cap;
      return evicted;
    }
    const i = (this.head + this.count) % cap;
    this.data[i] = sample;
    this.times[i] = nowMs;
    this.count++;
    return undefined;
  }

  private grow(capacity: number): void {
    const data: T[] = [];
    const times: number[] = [];
    for (let k = this.count - 1; k >= 0; k--) {
      data.push(this.at(k));
      times.push(this.timeAt(k));
    }
    data.length = capacity;
    times.length = capacity;
    this.data = data;
    this.times = times;
    this.head = 0;
  }
}

/** Throws unless `seconds` is an integer window size in [1, 3600]. */
export function checkWindowSize(seconds: number): void {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > ReducerSampler.MAX_WINDOW) {
    throw new RangeError(`window size must be an integer in [1, 3600] seconds, got ${seconds}`);
  }
}

/**
 * How a windowed value of a source is read and trended: `"sum"` (running totals, series
 * averaged), `"max"` / `"min"` (per-second resets, series keep the extreme), `"stat"`
 * (sum and count, the value is their average).
 */
export type WindowKind = "sum" | "max" | "min" | "stat";

/** A variable that `Window` / `PerSecond` can follow (brpc: a reducer with a `sampler_type`). */
export interface Windowable<T> {
  /** @internal */
  readonly _windowKind: WindowKind;
  /** @internal The source's one ReducerSampler, created on first use on `sampler`. */
  _reducerSampler(sampler: Sampler): ReducerSampler<T>;
}
