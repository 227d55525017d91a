/** Number-to-text rules shared by variable descriptions, series JSON and the Prometheus dump. */

/**
 * A number as brpc's streams print it: integers in full, other values with at most 6
 * significant digits (C++ `ostream` default precision, e.g. `33.3333`), infinities and NaN
 * as the Prometheus text format spells them (`+Inf`, `-Inf`, `NaN`).
 */
export function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  if (n === Number.POSITIVE_INFINITY) return "+Inf";
  if (n === Number.NEGATIVE_INFINITY) return "-Inf";
  if (Number.isNaN(n)) return "NaN";
  return String(Number(n.toPrecision(6)));
}

/** `formatNumber` for JSON: non-finite values become `null` (a gap in a chart). */
export function jsonNumber(n: number): string {
  return Number.isFinite(n) ? formatNumber(n) : "null";
}

/**
 * An average as brpc prints a `bvar::Stat` (IntRecorder, LatencyRecorder's `_latency`): the
 * truncated integer average when it is not 0, else the fractional average (`0.5`).
 */
export function formatAverage(sum: number, count: number): string {
  if (count === 0) return "0";
  const avg = sum / count;
  const truncated = Math.trunc(avg);
  return truncated !== 0 ? formatNumber(truncated) : formatNumber(avg);
}
