/**
 * Latency percentiles from bounded reservoirs (brpc's `detail/percentile.h`). Values are
 * split by magnitude into 32 intervals ((2^i, 2^(i+1)], so long tails land in their own,
 * sparsely used intervals and survive sampling); each second keeps at most
 * `SAMPLES_PER_INTERVAL` values per interval, replaced by reservoir sampling when more arrive
 * (every value of the second then has the same chance to be kept). A window merges its
 * seconds, weighting each kept value by how many values it stands for.
 */

/** Values kept per interval per second (brpc's `GlobalPercentileSamples<254>`). */
export const SAMPLES_PER_INTERVAL = 254;
const NUM_INTERVALS = 32;
const MAX_VALUE = 4294967295;
const EMPTY = new Uint32Array(0);

/** One second of values: per interval, how many were added and the kept ones. */
export class PercentileSamples {
  /** Values added per interval (a second never sees 2^32 of them). */
  readonly added = new Uint32Array(NUM_INTERVALS);
  /** Kept values per interval (allocated on first use, then reused). */
  readonly kept: Uint32Array[] = new Array<Uint32Array>(NUM_INTERVALS).fill(EMPTY);
  /** Values added in all intervals. */
  total = 0;
  private sorted = false;

  /** Forget the values, keep the buffers. */
  clear(): void {
    this.added.fill(0);
    this.total = 0;
    this.sorted = false;
  }

  /** Sort the kept values of every interval (once; only for a second that no longer changes). */
  sort(): void {
    if (this.sorted) return;
    for (let i = 0; i < NUM_INTERVALS; i++) {
      const n = Math.min(this.added[i], SAMPLES_PER_INTERVAL);
      if (n > 1) this.kept[i].subarray(0, n).sort();
    }
    this.sorted = true;
  }
}

/**
 * The current second's reservoir plus recycled ones; `add()` never allocates once every
 * interval in use has its buffer.
 */
export class PercentileReservoir {
  /** The second being filled. */
  current = new PercentileSamples();
  private readonly free: PercentileSamples[] = [];
  private rng: number;

  /** An empty reservoir; `seed` feeds the xorshift32 generator used for replacement. */
  constructor(seed = 0x9e3779b9) {
    this.rng = seed | 0 || 1;
  }

  /** Add one value; negative values and NaN are dropped, values above 2^32 - 1 are clamped. */
  add(x: number): void {
    if (!(x >= 0)) return;
    const v = x >= MAX_VALUE ? MAX_VALUE : x >>> 0;
    // Interval: 0 for 0..2, else ceil(log2 v) - 1, i.e. v in (2^i, 2^(i+1)].
    const i = v <= 2 ? 0 : 31 - Math.clz32(v - 1);
    const cur = this.current;
    let buf = cur.kept[i];
    if (buf.length === 0) {
      buf = new Uint32Array(SAMPLES_PER_INTERVAL);
      cur.kept[i] = buf;
    }
    const n = cur.added[i];
    cur.added[i] = n + 1;
    cur.total++;
    if (n < SAMPLES_PER_INTERVAL) {
      buf[n] = v;
    } else {
      // Reservoir replacement: keep the new value with probability SIZE / (n + 1).
      let s = this.rng;
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      this.rng = s;
      // j uniform in [0, n] by scaling (a float multiply is much cheaper than a modulo).
      const j = Math.floor((s >>> 0) * 2.3283064365386963e-10 * (n + 1));
      if (j < SAMPLES_PER_INTERVAL) buf[j] = v;
    }
  }

  /** Hand out the current second and start a new one (the sampler's per-second reset). */
  takeSecond(): PercentileSamples {
    const done = this.current;
    this.current = this.free.pop() ?? new PercentileSamples();
    return done;
  }

  /** Return a second that left the window, for reuse. */
  recycle(s: PercentileSamples): void {
    s.clear();
    this.free.push(s);
  }
}

/** One second's kept values of an interval, sorted, and how many values each stands for. */
interface Run {
  readonly values: Uint32Array;
  readonly weight: number;
}

interface Interval {
  readonly added: number;
  readonly runs: Run[];
  readonly min: number;
  readonly max: number;
}

/**
 * Several seconds merged for percentile queries (brpc's `CombinedPercentiles`). Nothing is
 * copied: each second is sorted once, and a query binary-searches the value whose weighted
 * rank is reached, in O(32 x seconds x log 254).
 */
export class CombinedPercentiles {
  /** Values added over all merged seconds. */
  readonly count: number;
  private readonly intervals: Interval[] = [];

  /** Merge `seconds` (sorting each one that is not sorted yet). */
  constructor(seconds: readonly PercentileSamples[]) {
    let count = 0;
    for (const s of seconds) s.sort();
    for (let i = 0; i < NUM_INTERVALS; i++) {
      let added = 0;
      let min = MAX_VALUE;
      let max = 0;
      const runs: Run[] = [];
      for (const s of seconds) {
        const a = s.added[i];
        if (a === 0) continue;
        const n = Math.min(a, SAMPLES_PER_INTERVAL);
        const values = s.kept[i].subarray(0, n);
        runs.push({ values, weight: a / n });
        added += a;
        if (values[0] < min) min = values[0];
        if (values[n - 1] > max) max = values[n - 1];
      }
      if (added > 0) this.intervals.push({ added, runs, min, max });
      count += added;
    }
    this.count = count;
  }

  /** The `ratio` quantile (0.99 = p99) of the merged values; 0 if there are none. */
  get(ratio: number): number {
    // The epsilon keeps 0.999 * 1000 (= 999.0000000000001) at rank 999.
    let n = Math.ceil(ratio * this.count - 1e-6);
    if (n > this.count) n = this.count;
    if (n <= 0) return 0;
    for (const iv of this.intervals) {
      if (n <= iv.added) return select(iv, n);
      n -= iv.added;
    }
    return 0;
  }
}

/** Smallest value whose weighted rank in `iv` reaches `n` (1-based). */
function select(iv: Interval, n: number): number {
  let lo = iv.min;
  let hi = iv.max;
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (weightedAtMost(iv.runs, mid) >= n - 1e-9) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Number of values <= x the runs stand for. */
function weightedAtMost(runs: readonly Run[], x: number): number {
  let total = 0;
  for (const r of runs) {
    const v = r.values;
    let lo = 0;
    let hi = v.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (v[mid] <= x) lo = mid + 1;
      else hi = mid;
    }
    total += lo * r.weight;
  }
  return total;
}
