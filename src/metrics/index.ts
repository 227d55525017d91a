/**
 * brpc's bvar metrics in TypeScript: reducers, recorders, windows, statuses, labelled
 * families, per-second series and the Prometheus dump. See docs/metrics.md.
 */
export { type FamilyMember, type FamilyOptions, type LabelValues, MetricFamily } from "./family.js";
export { formatNumber } from "./format.js";
export { LatencyRecorder, type LatencyRecorderOptions } from "./latency.js";
export { NameFilter, toUnderscoredName, wildcardMatch } from "./name.js";
export { CombinedPercentiles, PercentileReservoir, SAMPLES_PER_INTERVAL } from "./percentile.js";
export {
  escapeLabelValue,
  PROMETHEUS_CONTENT_TYPE,
  prometheusText,
  SUMMARY_PREFIX,
} from "./prometheus.js";
export { IntRecorder, type Stat } from "./recorder.js";
export { Adder, Maxer, Miner } from "./reducer.js";
export {
  type AnyFamily,
  defaultRegistry,
  type ListOptions,
  MetricRegistry,
  type RegistryOptions,
} from "./registry.js";
export { defaultSampler, Sampler, type SamplerOptions, type SamplerTask } from "./sampler.js";
export { type RollUp, SERIES_POINTS, Series } from "./series.js";
export { PassiveStatus, Status, type Widen } from "./status.js";
export { DisplayFilter, type ExposeOptions, Variable } from "./variable.js";
export {
  DEFAULT_WINDOW_SECONDS,
  PerSecond,
  Window,
  type WindowOptions,
  type WindowSource,
} from "./window.js";

import { defaultRegistry } from "./registry.js";
import type { Variable } from "./variable.js";

/** `defaultRegistry.listVariables(filter)`: sorted exposed names matching brpc's wildcards. */
export function listVariables(filter = ""): string[] {
  return defaultRegistry.listVariables(filter);
}

/** `defaultRegistry.getVariable(name)`. */
export function getVariable(name: string): Variable | undefined {
  return defaultRegistry.getVariable(name);
}

/** `defaultRegistry.describe(name)`: the value of an exposed variable as text. */
export function describeVariable(name: string): string | undefined {
  return defaultRegistry.describe(name);
}

/** `defaultRegistry.seriesJson(name)`: brpc's `/vars/<name>?series` JSON. */
export function seriesJson(name: string): string | undefined {
  return defaultRegistry.seriesJson(name);
}
