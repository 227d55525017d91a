/**
 * Reducers (brpc's `Adder`, `Maxer`, `Miner`): one number folded with `+`, `max` or `min`.
 * JavaScript runs metrics on one thread, so there are no per-thread agents to combine: a
 * record is one field update.
 */
import { formatNumber } from "./format.js";
import { type ReduceOps, ReducerSampler, type Sampler, type Windowable } from "./sampler.js";
import { type SeriesRecorder, TrendRecorder } from "./series.js";
import { Variable } from "./variable.js";

const SUM_OPS: ReduceOps<number> = {
  invertible: true,
  combine: (a, b) => a + b,
  subtract: (newest, oldest) => newest - oldest,
};
const MAX_OPS: ReduceOps<number> = {
  invertible: false,
  combine: (a, b) => (b > a ? b : a),
  subtract: (newest) => newest,
};
const MIN_OPS: ReduceOps<number> = {
  invertible: false,
  combine: (a, b) => (b < a ? b : a),
  subtract: (newest) => newest,
};

/** A running sum (brpc's `Adder<T>`, `adder << n`): `add(n)`, `value`, `reset()`. */
export class Adder extends Variable implements Windowable<number> {
  /** @internal */
  readonly _windowKind = "sum";
  private sum = 0;
  private sampler: ReducerSampler<number> | undefined = undefined;

  /** Add `n` (may be negative). */
  add(n: number): void {
    this.sum += n;
  }

  /** The sum so far. */
  get value(): number {
    return this.sum;
  }

  /** Set the sum back to 0; returns the sum before. */
  reset(): number {
    const v = this.sum;
    this.sum = 0;
    return v;
  }

  /** @inheritdoc */
  describe(): string {
    return formatNumber(this.sum);
  }

  /** @internal */
  override _createSeries(): SeriesRecorder {
    return new TrendRecorder(() => this.sum, "average");
  }

  /** @internal */
  _reducerSampler(sampler: Sampler): ReducerSampler<number> {
    this.sampler ??= new ReducerSampler(this, (a: Adder) => a.value, SUM_OPS, sampler);
    return this.sampler;
  }
}

/** What Maxer and Miner share: the extreme kept so far, reset by windows every second. */
abstract class Extreme extends Variable implements Windowable<number> {
  /** @internal */
  abstract readonly _windowKind: "max" | "min";
  protected current: number;
  private sampler: ReducerSampler<number> | undefined = undefined;

  constructor(
    readonly identity: number,
    private readonly ops: ReduceOps<number>,
  ) {
    super();
    this.current = identity;
  }

  /** The extreme recorded (since the last reset), or `identity`. */
  get value(): number {
    return this.current;
  }

  /** Back to `identity`; returns the value before. */
  reset(): number {
    const v = this.current;
    this.current = this.identity;
    return v;
  }

  /** @inheritdoc */
  describe(): string {
    return formatNumber(this.current);
  }

  /** @internal */
  _reducerSampler(sampler: Sampler): ReducerSampler<number> {
    this.sampler ??= new ReducerSampler(this, (m: Extreme) => m.reset(), this.ops, sampler);
    return this.sampler;
  }
}

/**
 * The largest recorded number (brpc's `Maxer<T>`): `record(n)`, `value`, `reset()`.
 * `identity` is the value before any record (default `-Infinity`; brpc's integer Maxer
 * starts at the type's minimum).
 *
 * As in brpc, a Window over a Maxer resets it every second (a maximum cannot be subtracted),
 * so once windowed, `value` is the maximum since the last tick. A Maxer keeps no series of
 * its own (brpc neither); a Window over it does.
 */
export class Maxer extends Extreme {
  /** @internal */
  readonly _windowKind = "max";

  /** A Maxer holding `identity`. */
  constructor(identity = Number.NEGATIVE_INFINITY) {
    super(identity, MAX_OPS);
  }

  /** Keep `n` if it is the largest so far. */
  record(n: number): void {
    if (n > this.current) this.current = n;
  }
}

/**
 * The smallest recorded number (brpc's `Miner<T>`): `record(n)`, `value`, `reset()`.
 * `identity` defaults to `+Infinity`. Windows reset it every second, as for `Maxer`.
 */
export class Miner extends Extreme {
  /** @internal */
  readonly _windowKind = "min";

  /** A Miner holding `identity`. */
  constructor(identity = Number.POSITIVE_INFINITY) {
    super(identity, MIN_OPS);
  }

  /** Keep `n` if it is the smallest so far. */
  record(n: number): void {
    if (n < this.current) this.current = n;
  }
}
