/** brpc's `Status<T>` (a value you set) and `PassiveStatus<T>` (a value read from a callback). */
import { formatNumber } from "./format.js";
import { type ReduceOps, ReducerSampler, type Sampler, type Windowable } from "./sampler.js";
import { type SeriesRecorder, TrendRecorder } from "./series.js";
import { Variable } from "./variable.js";

function text(v: number | string, quoteString: boolean): string {
  if (typeof v === "number") return formatNumber(v);
  return quoteString ? `"${v}"` : v;
}

/** `number` for numeric types (also literals such as `1`), `string` for string ones. */
export type Widen<T> = T extends number ? number : T extends string ? string : T;

/** A value that is set (brpc's `Status<T>::set_value`): `set(v)`, `value`. Numbers keep a series. */
export class Status<T extends number | string = number> extends Variable {
  private current: Widen<T>;

  /** Holds `initial`. */
  constructor(initial: T) {
    super();
    this.current = initial as Widen<T>;
  }

  /** The value. */
  get value(): Widen<T> {
    return this.current;
  }

  /** Replace the value. */
  set(value: Widen<T>): void {
    this.current = value;
  }

  /** @inheritdoc */
  describe(quoteString = false): string {
    return text(this.current, quoteString);
  }

  /** @internal */
  override _createSeries(): SeriesRecorder | undefined {
    return typeof this.current === "number" ? new TrendRecorder(() => this.current) : undefined;
  }
}

const PASSIVE_OPS: ReduceOps<number> = {
  invertible: true,
  combine: (a, b) => a + b,
  subtract: (newest, oldest) => newest - oldest,
};

function readPassive(p: PassiveStatus<number | string>): number {
  const v = p.value;
  return typeof v === "number" ? v : 0;
}

/**
 * A value computed on read by `read()` (brpc's `PassiveStatus<T>`): memory in use, queue
 * length, uptime. Numeric ones keep a series (their per-second samples) and can be windowed
 * like a running total (newest minus oldest). A throwing callback skips that sample.
 */
export class PassiveStatus<T extends number | string = number>
  extends Variable
  implements Windowable<number>
{
  /** @internal */
  readonly _windowKind = "sum";
  private sampler: ReducerSampler<number> | undefined = undefined;

  /** Reads its value from `read`. */
  constructor(private readonly read: () => T) {
    super();
  }

  /** `read()`. */
  get value(): T {
    return this.read();
  }

  /** @inheritdoc */
  describe(quoteString = false): string {
    return text(this.read(), quoteString);
  }

  /** @internal */
  override _createSeries(): SeriesRecorder | undefined {
    let v: unknown;
    try {
      v = this.read();
    } catch {
      v = 0;
    }
    // String-valued statuses have no trend (brpc: only additive types keep series).
    return typeof v === "string" ? undefined : new TrendRecorder(this.read, "average");
  }

  /** @internal */
  _reducerSampler(sampler: Sampler): ReducerSampler<number> {
    this.sampler ??= new ReducerSampler(this, readPassive, PASSIVE_OPS, sampler);
    return this.sampler;
  }
}
