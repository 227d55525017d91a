/**
 * Windowed views of a reducer (brpc's `Window<R>` and `PerSecond<R>`): the value of the last N
 * seconds, from samples taken once a second by the shared sampler.
 */
import { formatAverage, formatNumber } from "./format.js";
import type { Stat } from "./recorder.js";
import { defaultSampler, type ReducerSampler, type Sampler, type Span, type Windowable } from "./sampler.js";
import { RatioTrendRecorder, type RollUp, type SeriesRecorder, TrendRecorder } from "./series.js";
import { Variable } from "./variable.js";

/** Window length used when none is given (brpc's `-bvar_dump_interval`, 10 s). */
export const DEFAULT_WINDOW_SECONDS = 10;

/** Options of `new Window()` / `new PerSecond()`. */
export interface WindowOptions {
  /** Samples the source; default `defaultSampler`. A source is sampled by the first one given. */
  sampler?: Sampler;
}

/** A source a Window can follow: Adder, Maxer, Miner, IntRecorder, PassiveStatus<number>. */
export type WindowSource = Windowable<number> | Windowable<Stat>;

function rollUpOf(source: WindowSource): RollUp {
  return source._windowKind === "max" ? "max" : source._windowKind === "min" ? "min" : "average";
}

/** What Window and PerSecond share: the source's samples over `windowSize` seconds. */
abstract class Windowed<T extends number | Stat> extends Variable {
  protected readonly samples: ReducerSampler<T>;

  constructor(
    protected readonly source: Windowable<T>,
    readonly windowSize: number,
    options: WindowOptions,
  ) {
    super();
    this.samples = source._reducerSampler(options.sampler ?? defaultSampler);
    this.samples.setWindowSize(windowSize);
  }

  /** The value over the window. */
  get value(): number {
    return this.getValue(this.windowSize);
  }

  /** The value over the last `seconds`. */
  abstract getValue(seconds: number): number;
}

/**
 * The value of `source` over the last `windowSize` seconds: the sum added (Adder,
 * PassiveStatus), the max/min recorded (Maxer/Miner), the average recorded (IntRecorder).
 * Complete seconds only: what was recorded since the last tick shows after the next one;
 * 0 until two samples exist.
 */
export class Window extends Windowed<number | Stat> {
  /** Follow `source` over `windowSize` seconds (an integer in [1, 3600]). */
  constructor(source: WindowSource, windowSize: number, options: WindowOptions = {}) {
    super(source as Windowable<number | Stat>, windowSize, options);
  }

  /** The value over the last `seconds` (at most the largest window on this source). */
  getValue(seconds: number): number {
    const span = this.samples.span(seconds);
    if (span === undefined) return 0;
    if (typeof span.data === "number") return span.data;
    return span.data.count === 0 ? 0 : span.data.sum / span.data.count;
  }

  /** The raw span (number, or `{ sum, count }` for IntRecorder) and the milliseconds it covers. */
  getSpan(seconds: number = this.windowSize): Span<number | Stat> | undefined {
    return this.samples.span(seconds);
  }

  /** @inheritdoc */
  describe(): string {
    const span = this.samples.span(this.windowSize);
    if (span !== undefined && typeof span.data !== "number") {
      return formatAverage(span.data.sum, span.data.count);
    }
    return formatNumber(this.value);
  }

  /** @internal */
  override _createSeries(): SeriesRecorder {
    if (this.source._windowKind === "stat") {
      return new RatioTrendRecorder(() => {
        const d = this.samples.span(this.windowSize)?.data as Stat | undefined;
        return d === undefined ? [0, 0] : [d.sum, d.count];
      });
    }
    return new TrendRecorder(() => this.value, rollUpOf(this.source as WindowSource));
  }
}

/**
 * The per-second rate of `source` over the last `windowSize` seconds (default 10): the
 * window's value divided by the seconds it really spans. Not rounded (brpc rounds integer
 * reducers). Its series is the rate over the last second, so short peaks stay visible.
 */
export class PerSecond extends Windowed<number> {
  /** Follow `source` (an Adder, Maxer, Miner or numeric PassiveStatus). */
  constructor(
    source: Windowable<number>,
    windowSize: number = DEFAULT_WINDOW_SECONDS,
    options: WindowOptions = {},
  ) {
    super(source, windowSize, options);
  }

  /** The rate over the last `seconds`, per second. */
  getValue(seconds: number): number {
    const span = this.samples.span(seconds);
    if (span === undefined || span.ms <= 0) return 0;
    return (span.data * 1000) / span.ms;
  }

  /** @inheritdoc */
  describe(): string {
    return formatNumber(this.value);
  }

  /** @internal */
  override _createSeries(): SeriesRecorder {
    return new TrendRecorder(() => this.getValue(1), rollUpOf(this.source));
  }
}
