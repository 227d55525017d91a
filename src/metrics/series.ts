/**
 * Trend series of exposed variables (brpc's `detail::Series`, `-save_series`): 60 per-second
 * values roll into 60 per-minute values, those into 24 per-hour values, those into 30 per-day
 * values. `json()` renders what brpc's `/vars/<name>?series` returns for its charts:
 * `{"label":"trend","data":[[0,v],...,[173,v]]}`, oldest day first, newest second last.
 */
import { jsonNumber } from "./format.js";

/**
 * How 60 seconds (60 minutes, 24 hours) fold into the next level: "average" for additive
 * values (counters, gauges, averages), "max"/"min" for windowed Maxer/Miner (brpc only divides
 * when the reducer's operator is an addition).
 */
export type RollUp = "average" | "max" | "min";

/** Number of points in a rendered series: 30 days + 24 hours + 60 minutes + 60 seconds. */
export const SERIES_POINTS = 174;

/** One numeric trend: 60 seconds, 60 minutes, 24 hours, 30 days. */
export class Series {
  // Layout as in brpc: seconds [0,60), minutes [60,120), hours [120,144), days [144,174).
  private readonly values = new Float64Array(SERIES_POINTS);
  private second = 0;
  private minute = 0;
  private hour = 0;
  private day = 0;

  /** An all-zero series that folds with `rollUp`. */
  constructor(readonly rollUp: RollUp = "average") {}

  /** Append this second's value (and fold full minutes, hours and days). */
  append(value: number): void {
    this.values[this.second] = value;
    if (++this.second < 60) return;
    this.second = 0;
    this.values[60 + this.minute] = this.fold(0, 60);
    if (++this.minute < 60) return;
    this.minute = 0;
    this.values[120 + this.hour] = this.fold(60, 60);
    if (++this.hour < 24) return;
    this.hour = 0;
    this.values[144 + this.day] = this.fold(120, 24);
    if (++this.day >= 30) this.day = 0;
  }

  /** The 174 points in display order: 30 days, 24 hours, 60 minutes, 60 seconds, oldest first. */
  points(): number[] {
    const out: number[] = [];
    for (let i = 0; i < 30; i++) out.push(this.values[144 + ((i + this.day) % 30)]);
    for (let i = 0; i < 24; i++) out.push(this.values[120 + ((i + this.hour) % 24)]);
    for (let i = 0; i < 60; i++) out.push(this.values[60 + ((i + this.minute) % 60)]);
    for (let i = 0; i < 60; i++) out.push(this.values[(i + this.second) % 60]);
    return out;
  }

  /** `{"label":"<label>","data":[[0,v],...]}`. */
  json(label = "trend"): string {
    return seriesJson(label, this.points());
  }

  private fold(start: number, n: number): number {
    const v = this.values;
    let acc = v[start];
    if (this.rollUp === "average") {
      for (let i = 1; i < n; i++) acc += v[start + i];
      return acc / n;
    }
    if (this.rollUp === "max") {
      for (let i = 1; i < n; i++) if (v[start + i] > acc) acc = v[start + i];
    } else {
      for (let i = 1; i < n; i++) if (v[start + i] < acc) acc = v[start + i];
    }
    return acc;
  }
}

/** `{"label":"<label>","data":[[0,p0],[1,p1],...]}` for chart points. */
export function seriesJson(label: string, points: readonly number[]): string {
  let s = `{"label":${JSON.stringify(label)},"data":[`;
  for (let i = 0; i < points.length; i++) {
    if (i > 0) s += ",";
    s += `[${i},${jsonNumber(points[i])}]`;
  }
  return `${s}]}`;
}

/**
 * Keeps the series of one exposed variable; the registry creates one per exposed variable
 * (when series are on) and ticks it once a second.
 */
export interface SeriesRecorder {
  /** False if the JSON is computed on demand and the recorder needs no ticks (latency CDF). */
  readonly sampled: boolean;
  /** Take this second's value. */
  sample(): void;
  /** The chart JSON (`{"label":"trend",...}`, or an array of them for vectors). */
  json(): string;
}

/** A scalar trend fed by `read()`; values that are not numbers (strings) are skipped. */
export class TrendRecorder implements SeriesRecorder {
  readonly sampled = true;
  private readonly series: Series;

  /** Sample `read()` into a series folding with `rollUp`. */
  constructor(
    private readonly read: () => unknown,
    rollUp: RollUp = "average",
  ) {
    this.series = new Series(rollUp);
  }

  /** @inheritdoc */
  sample(): void {
    const v = this.read();
    if (typeof v === "number") this.series.append(v);
  }

  /** @inheritdoc */
  json(): string {
    return this.series.json();
  }
}

/**
 * The trend of an average (`sum / count`, e.g. a Window over an IntRecorder): sums and counts
 * are kept and folded separately, so a minute is the average of all its records rather than
 * the mean of 60 per-second averages (brpc folds the `Stat` pair the same way).
 */
export class RatioTrendRecorder implements SeriesRecorder {
  readonly sampled = true;
  private readonly sums = new Series("average");
  private readonly counts = new Series("average");

  /** Sample `read()`, which returns `[sum, count]`. */
  constructor(private readonly read: () => readonly [number, number]) {}

  /** @inheritdoc */
  sample(): void {
    const [sum, count] = this.read();
    this.sums.append(sum);
    this.counts.append(count);
  }

  /** @inheritdoc */
  json(): string {
    const s = this.sums.points();
    const c = this.counts.points();
    return seriesJson(
      "trend",
      s.map((sum, i) => (c[i] === 0 ? 0 : sum / c[i])),
    );
  }
}

/** One averaged trend per component of a vector value (brpc's `Series<Vector<T,N>>`). */
export class VectorTrendRecorder implements SeriesRecorder {
  readonly sampled = true;
  private readonly series: Series[];

  /** Sample `read()` (one number per label) into one series per label. */
  constructor(
    private readonly labels: readonly string[],
    private readonly read: () => readonly number[],
  ) {
    this.series = labels.map(() => new Series("average"));
  }

  /** @inheritdoc */
  sample(): void {
    const v = this.read();
    for (let i = 0; i < this.series.length; i++) this.series[i].append(v[i] ?? 0);
  }

  /** @inheritdoc */
  json(): string {
    return `[${this.series.map((s, i) => s.json(this.labels[i])).join(",")}]`;
  }
}
