/** brpc's `IntRecorder`: the average of recorded numbers (sum / count). */
import { formatAverage } from "./format.js";
import { type ReduceOps, ReducerSampler, type Sampler, type Windowable } from "./sampler.js";
import { Variable } from "./variable.js";

/** A sum and a count (brpc's `bvar::Stat`). */
export interface Stat {
  readonly sum: number;
  readonly count: number;
}

const STAT_OPS: ReduceOps<Stat> = {
  invertible: true,
  combine: (a, b) => ({ sum: a.sum + b.sum, count: a.count + b.count }),
  subtract: (a, b) => ({ sum: a.sum - b.sum, count: a.count - b.count }),
};

/**
 * Records numbers and reports their average: `record(n)`, `average`, `sum`, `count`,
 * `reset()`. Text as brpc prints a `Stat`: the truncated integer average unless that is 0,
 * then the fractional one. Unlike brpc, inputs are not clamped to 32 bits (sums are doubles,
 * exact up to 2^53). Keeps no series (brpc neither); a Window over it does.
 */
export class IntRecorder extends Variable implements Windowable<Stat> {
  /** @internal */
  readonly _windowKind = "stat";
  private total = 0;
  private num = 0;
  private sampler: ReducerSampler<Stat> | undefined = undefined;

  /** Record one number. */
  record(n: number): void {
    this.total += n;
    this.num++;
  }

  /** Sum of the recorded numbers. */
  get sum(): number {
    return this.total;
  }

  /** How many numbers were recorded. */
  get count(): number {
    return this.num;
  }

  /** sum / count, 0 before any record. */
  get average(): number {
    return this.num === 0 ? 0 : this.total / this.num;
  }

  /** `{ sum, count }` now. */
  get value(): Stat {
    return { sum: this.total, count: this.num };
  }

  /** Back to nothing recorded; returns the stat before. */
  reset(): Stat {
    const v = this.value;
    this.total = 0;
    this.num = 0;
    return v;
  }

  /** @inheritdoc */
  describe(): string {
    return formatAverage(this.total, this.num);
  }

  /** @internal */
  _reducerSampler(sampler: Sampler): ReducerSampler<Stat> {
    this.sampler ??= new ReducerSampler(this, (r: IntRecorder) => r.value, STAT_OPS, sampler);
    return this.sampler;
  }
}
