/**
 * brpc's `LatencyRecorder`: one `record(us)` feeds the count, qps, average and max latency
 * and the percentiles of the last `windowSize` seconds, exposed as brpc's family of variables
 * `<prefix>_latency`, `_max_latency`, `_qps`, `_count`, `_latency_80/_90/_99`,
 * `_latency_999`, `_latency_9999`, `_latency_cdf`, `_latency_percentiles`.
 */
import { formatNumber } from "./format.js";
import { CombinedPercentiles, PercentileReservoir, type PercentileSamples } from "./percentile.js";
import { IntRecorder } from "./recorder.js";
import { Maxer } from "./reducer.js";
import { defaultSampler, type ReduceOps, ReducerSampler, type Sampler } from "./sampler.js";
import { type SeriesRecorder, VectorTrendRecorder } from "./series.js";
import { PassiveStatus } from "./status.js";
import { DisplayFilter, type ExposeOptions, Variable } from "./variable.js";
import { DEFAULT_WINDOW_SECONDS, Window } from "./window.js";

/** Options of `new LatencyRecorder()`. */
export interface LatencyRecorderOptions {
  /** Seconds the windowed values cover; default 10 (brpc's `-bvar_dump_interval`). */
  windowSize?: number;
  /** Samples the windows; default `defaultSampler`. */
  sampler?: Sampler;
  /**
   * The three configurable percentiles, in percent (brpc's `-bvar_latency_p1/p2/p3`);
   * default `[80, 90, 99]`. Each must be an integer in (0, 100).
   */
  percentiles?: readonly [number, number, number];
}

/** Ratios and labels of brpc's `_latency_cdf` chart: 10%..90%, 91%..99%, 99.9%, 99.99%. */
const CDF_POINTS: ReadonlyArray<readonly [number, number]> = [
  ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => [i * 10, i / 10] as const),
  ...[91, 92, 93, 94, 95, 96, 97, 98, 99].map((i) => [i, i / 100] as const),
  [100, 0.999],
  [101, 0.9999],
];

const PERCENTILE_OPS: ReduceOps<PercentileSamples> = {
  invertible: false,
  combine: (a) => a,
  subtract: (a) => a,
  recycle: (s, source) => (source as PercentileReservoir).recycle(s),
};

/** `_latency_cdf`: text `"click to view"`, chart JSON computed on demand. */
class CdfVariable extends Variable {
  constructor(private readonly recorder: LatencyRecorder) {
    super();
  }
  /** brpc prints this text; the data is the chart. */
  describe(): string {
    return '"click to view"';
  }
  /** Not sampled: the CDF of the current window, computed when asked. */
  override _createSeries(): SeriesRecorder {
    const r = this.recorder;
    return {
      sampled: false,
      sample: () => {},
      json: () => {
        const data = r.cdf().map(([x, y]) => `[${x},${y}]`);
        return `{"label":"cdf","data":[${data.join(",")}]}`;
      },
    };
  }
}

/** `_latency_percentiles`: the vector `[p1,p2,p3,p999]`, quoted as brpc prints vectors. */
class PercentilesVariable extends Variable {
  constructor(private readonly recorder: LatencyRecorder) {
    super();
  }
  /** `"[p1,p2,p3,p999]"`, quoted (brpc's `-quote_vector`), so dumps skip it. */
  describe(): string {
    return `"[${this.recorder.percentiles().join(",")}]"`;
  }
  /** One trend per component, labelled as brpc labels them. */
  override _createSeries(): SeriesRecorder {
    const [p1, p2, p3] = this.recorder.percentileOptions;
    const labels = [`${p1}%`, `${p2}%`, `${p3}%`, "99.9%"];
    return new VectorTrendRecorder(labels, () => this.recorder.percentiles());
  }
}

/**
 * Records latencies (microseconds by convention) and derives brpc's latency statistics.
 * `record(us)` is a few field updates and never allocates. Windowed values cover the last
 * `windowSize` complete seconds; `count` is the total so far. Negative values and NaN are
 * dropped; percentiles treat values as unsigned 32-bit integers (fractions truncated).
 * Memory: at most ~1 KiB per interval of magnitude in use per second of the window.
 */
export class LatencyRecorder {
  /** Seconds covered by the windowed values. */
  readonly windowSize: number;
  /** The three configurable percentiles, in percent. */
  readonly percentileOptions: readonly [number, number, number];
  private readonly sum = new IntRecorder();
  private readonly max = new Maxer(0);
  private readonly reservoir = new PercentileReservoir();
  private readonly latencyWindow: Window;
  private readonly maxWindow: Window;
  private readonly percentileSamples: ReducerSampler<PercentileSamples>;
  private readonly parts: ReadonlyArray<readonly [string, Variable, DisplayFilter]>;
  private combined: CombinedPercentiles | undefined = undefined;
  private combinedVersion = -1;

  /** A recorder; see `LatencyRecorderOptions`. */
  constructor(options: LatencyRecorderOptions = {}) {
    const sampler = options.sampler ?? defaultSampler;
    this.windowSize = options.windowSize ?? DEFAULT_WINDOW_SECONDS;
    const ps = options.percentiles ?? [80, 90, 99];
    for (const p of ps) {
      if (!Number.isInteger(p) || p <= 0 || p >= 100) {
        throw new RangeError(`latency percentiles must be integers in (0, 100), got ${p}`);
      }
    }
    this.percentileOptions = [ps[0], ps[1], ps[2]];
    this.latencyWindow = new Window(this.sum, this.windowSize, { sampler });
    this.maxWindow = new Window(this.max, this.windowSize, { sampler });
    this.percentileSamples = new ReducerSampler(
      this.reservoir,
      (r: PercentileReservoir) => r.takeSecond(),
      PERCENTILE_OPS,
      sampler,
    );
    this.percentileSamples.setWindowSize(this.windowSize);
    const { PLAIN_TEXT, HTML, ALL } = DisplayFilter;
    const [p1, p2, p3] = this.percentileOptions;
    this.parts = [
      ["latency", this.latencyWindow, ALL],
      ["max_latency", this.maxWindow, ALL],
      ["count", new PassiveStatus(() => this.count), ALL],
      ["qps", new PassiveStatus(() => this.qps), ALL],
      [`latency_${p1}`, new PassiveStatus(() => this.percentile(p1 / 100)), PLAIN_TEXT],
      [`latency_${p2}`, new PassiveStatus(() => this.percentile(p2 / 100)), PLAIN_TEXT],
      [`latency_${p3}`, new PassiveStatus(() => this.percentile(p3 / 100)), PLAIN_TEXT],
      ["latency_999", new PassiveStatus(() => this.percentile(0.999)), PLAIN_TEXT],
      ["latency_9999", new PassiveStatus(() => this.percentile(0.9999)), ALL],
      ["latency_cdf", new CdfVariable(this), HTML],
      ["latency_percentiles", new PercentilesVariable(this), HTML],
    ];
    const partNames = [
      "latency",
      "max_latency",
      "count",
      "qps",
      "p1",
      "p2",
      "p3",
      "p999",
      "p9999",
      "cdf",
      "percentiles",
    ];
    this.parts.forEach(([, v], i) => {
      v._owner = this;
      v._part = partNames[i] ?? "";
    });
  }

  /** Record one latency. */
  record(us: number): void {
    if (!(us >= 0)) return;
    this.sum.record(us);
    this.max.record(us);
    this.reservoir.add(us);
  }

  /** Latencies recorded so far (not windowed). */
  get count(): number {
    return this.sum.count;
  }

  /** Records per second over the window, rounded. */
  get qps(): number {
    return this.qpsOver(this.windowSize);
  }

  /** Records per second over the last `seconds`, rounded. */
  qpsOver(seconds: number): number {
    const span = this.latencyWindow.getSpan(seconds);
    if (span === undefined || span.ms <= 0 || typeof span.data === "number") return 0;
    return Math.round((span.data.count * 1000) / span.ms);
  }

  /** Average latency over the window (0 if nothing was recorded). */
  get latency(): number {
    return this.latencyWindow.value;
  }

  /** Largest latency over the window. */
  get maxLatency(): number {
    return this.maxWindow.value;
  }

  /** The `ratio` quantile over the window (0.99 = p99); 0 if nothing was recorded. */
  percentile(ratio: number): number {
    const v = this.percentileSamples.version;
    if (this.combined === undefined || this.combinedVersion !== v) {
      this.combined = new CombinedPercentiles(this.percentileSamples.samples(this.windowSize));
      this.combinedVersion = v;
    }
    return this.combined.get(ratio);
  }

  /** p50 over the window. */
  get p50(): number {
    return this.percentile(0.5);
  }
  /** p80 over the window. */
  get p80(): number {
    return this.percentile(0.8);
  }
  /** p90 over the window. */
  get p90(): number {
    return this.percentile(0.9);
  }
  /** p99 over the window. */
  get p99(): number {
    return this.percentile(0.99);
  }
  /** p99.9 over the window. */
  get p999(): number {
    return this.percentile(0.999);
  }
  /** p99.99 over the window. */
  get p9999(): number {
    return this.percentile(0.9999);
  }

  /**
   * Quantiles for `ratios`; default brpc's `latency_percentiles()`: the three configured
   * percentiles and p99.9.
   */
  percentiles(ratios?: readonly number[]): number[] {
    const [p1, p2, p3] = this.percentileOptions;
    return (ratios ?? [p1 / 100, p2 / 100, p3 / 100, 0.999]).map((r) => this.percentile(r));
  }

  /**
   * brpc's latency CDF chart data: `[percent, latency]` for 10..90 (step 10), 91..99, then
   * 100 for p99.9 and 101 for p99.99.
   */
  cdf(): Array<[number, number]> {
    return CDF_POINTS.map(([x, ratio]) => [x, this.percentile(ratio)]);
  }

  /** The prefix the parts are exposed under (`"<prefix>"` of `<prefix>_latency`), or `""`. */
  get name(): string {
    const n = this.latencyWindow.name;
    return n === "" ? "" : n.slice(0, -"_latency".length);
  }

  /**
   * Expose the parts as `<name>_latency`, `<name>_qps`, ... A trailing `latency`/`Latency`
   * of `name` is dropped (as brpc does). Returns false, with nothing exposed, if the name is
   * empty or any part's name is taken.
   */
  expose(name: string, options?: ExposeOptions): boolean {
    return this.exposeAs("", name, options);
  }

  /** Expose the parts as `<prefix>_<name>_latency`, ...; see `expose()`. */
  exposeAs(prefix: string, name: string, options: ExposeOptions = {}): boolean {
    this.hide();
    let base = name;
    if (base.endsWith("latency") || base.endsWith("Latency")) base = base.slice(0, -7);
    if (base.length === 0) return false;
    if (prefix.length > 0) base = `${prefix}_${base}`;
    for (const [suffix, v, display] of this.parts) {
      if (!v.exposeAs(base, suffix, { registry: options.registry, display })) {
        this.hide();
        return false;
      }
    }
    return true;
  }

  /** Hide every part; false if none was exposed. */
  hide(): boolean {
    let any = false;
    for (const [, v] of this.parts) any = v.hide() || any;
    return any;
  }

  /** Hide and stop sampling (the recorder keeps working but its windows stop moving). */
  dispose(): void {
    this.hide();
    this.percentileSamples.stop();
    this.sum._reducerSampler(defaultSampler).stop();
    this.max._reducerSampler(defaultSampler).stop();
  }

  /** `{latency=<avg> max<window>=<max> qps=<qps> count=<count>}` as brpc prints a recorder. */
  describe(): string {
    return (
      `{latency=${formatNumber(Math.trunc(this.latency))} max${this.windowSize}=` +
      `${formatNumber(this.maxLatency)} qps=${this.qps} count=${this.count}}`
    );
  }

  /** `describe()`. */
  toString(): string {
    return this.describe();
  }
}
