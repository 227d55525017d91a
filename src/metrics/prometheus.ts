/**
 * The Prometheus text dump of brpc's `/brpc_metrics` (`prometheus_metrics_service.cpp`):
 * every numeric variable as a gauge, LatencyRecorders of `rpc_server*` folded into a summary,
 * then every family as labelled samples. Served as `text/plain` (format 0.0.4).
 */
import type { FamilyMember } from "./family.js";
import { formatNumber } from "./format.js";
import { LatencyRecorder } from "./latency.js";
import { type AnyFamily, defaultRegistry, type MetricRegistry } from "./registry.js";
import { DisplayFilter } from "./variable.js";

/** Names starting with this get their LatencyRecorder parts folded into a summary (brpc's server prefix). */
export const SUMMARY_PREFIX = "rpc_server";

/** Content type of the dump. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4";

/** Parts of a recorder that the summary replaces (its `_qps` stays a gauge). */
const FOLDED = new Set(["latency", "max_latency", "count", "p1", "p2", "p3", "p999", "p9999"]);

/** A label value escaped for the text format: backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

/**
 * The dump of `registry` (default `defaultRegistry`): variables listed for plain text, sorted
 * by name, as `# HELP name` / `# TYPE name gauge` / `name value`; string values are skipped.
 * For a LatencyRecorder exposed under `rpc_server*`, its parts other than `_qps` become one
 * summary, written where `<prefix>_max_latency` sorts:
 * `{quantile="0.8"}`, `"0.9"`, `"0.99"` (the recorder's p1/p2/p3), `"0.999"`, `"0.9999"`,
 * `"1"` (max latency), `"avg"` (integer average), `<prefix>_sum` (avg x count, as brpc
 * approximates it) and `<prefix>_count`. Families follow, sorted by name.
 */
export function prometheusText(registry: MetricRegistry = defaultRegistry): string {
  let out = "";
  for (const name of registry.listVariables("", { display: DisplayFilter.PLAIN_TEXT })) {
    const v = registry.getVariable(name);
    if (v === undefined) continue;
    const owner = v._owner;
    if (owner instanceof LatencyRecorder && FOLDED.has(v._part) && name.startsWith(SUMMARY_PREFIX)) {
      if (v._part === "max_latency") out += summary(name.slice(0, -"_max_latency".length), owner);
      continue;
    }
    const desc = v.describe(true);
    if (desc.startsWith('"')) continue;
    const brace = name.indexOf("{");
    const metric = brace < 0 ? name : name.slice(0, brace);
    out += `# HELP ${metric}\n# TYPE ${metric} gauge\n${name} ${desc}\n`;
  }
  for (const name of registry.listFamilies()) {
    const f = registry.getFamily(name);
    if (f !== undefined) out += familyText(f);
  }
  return out;
}

function summary(base: string, r: LatencyRecorder): string {
  const [p1, p2, p3] = r.percentileOptions;
  const avg = Math.trunc(r.latency);
  const count = r.count;
  const q = (quantile: string, value: number): string =>
    `${base}{quantile="${quantile}"} ${formatNumber(value)}\n`;
  return (
    `# HELP ${base}\n# TYPE ${base} summary\n` +
    q(String(p1 / 100), r.percentile(p1 / 100)) +
    q(String(p2 / 100), r.percentile(p2 / 100)) +
    q(String(p3 / 100), r.percentile(p3 / 100)) +
    q("0.999", r.percentile(0.999)) +
    q("0.9999", r.percentile(0.9999)) +
    q("1", r.maxLatency) +
    q("avg", avg) +
    `${base}_sum ${formatNumber(avg * count)}\n` +
    `${base}_count ${count}\n`
  );
}

/** `{k="v",...[,quantile="q"]}`. */
function labelText(names: readonly string[], values: readonly string[], quantile?: number): string {
  const pairs = names.map((n, i) => `${n}="${escapeLabelValue(values[i])}"`);
  if (quantile !== undefined) pairs.push(`quantile="${quantile}"`);
  return `{${pairs.join(",")}}`;
}

/**
 * One family: `# HELP`/`# TYPE name gauge` then `name{labels} value` per member. Families of
 * LatencyRecorders give brpc's five groups: `_latency` (average, then `quantile="80"`,
 * `"90"`, `"99"`, `"999"`, `"9999"` as brpc writes them), `_max_latency`, `_qps` (gauges)
 * and `_count` (counter).
 */
function familyText(f: AnyFamily): string {
  const entries = [...f.entries()];
  if (entries.length === 0) return "";
  const name = f.name;
  const labels = f.labelNames;
  const head = (metric: string, type: string): string => `# HELP ${metric}\n# TYPE ${metric} ${type}\n`;
  if (entries[0][1] instanceof LatencyRecorder) {
    const recs = entries as Array<[readonly string[], FamilyMember]>;
    const lat = recs.filter(
      (e): e is [readonly string[], LatencyRecorder] => e[1] instanceof LatencyRecorder,
    );
    let out = head(`${name}_latency`, "gauge");
    for (const [values, r] of lat) {
      out += `${name}_latency${labelText(labels, values)} ${formatNumber(Math.trunc(r.latency))}\n`;
      const [p1, p2, p3] = r.percentileOptions;
      for (const p of [p1, p2, p3]) {
        out += `${name}_latency${labelText(labels, values, p)} ${formatNumber(r.percentile(p / 100))}\n`;
      }
      out += `${name}_latency${labelText(labels, values, 999)} ${formatNumber(r.percentile(0.999))}\n`;
      out += `${name}_latency${labelText(labels, values, 9999)} ${formatNumber(r.percentile(0.9999))}\n`;
    }
    out += head(`${name}_max_latency`, "gauge");
    for (const [values, r] of lat) {
      out += `${name}_max_latency${labelText(labels, values)} ${formatNumber(r.maxLatency)}\n`;
    }
    out += head(`${name}_qps`, "gauge");
    for (const [values, r] of lat) out += `${name}_qps${labelText(labels, values)} ${r.qps}\n`;
    out += head(`${name}_count`, "counter");
    for (const [values, r] of lat) out += `${name}_count${labelText(labels, values)} ${r.count}\n`;
    return out;
  }
  let out = head(name, "gauge");
  for (const [values, v] of entries) {
    const desc = v.describe(true);
    if (desc.startsWith('"')) continue;
    out += `${name}${labelText(labels, values)} ${desc}\n`;
  }
  return out;
}
