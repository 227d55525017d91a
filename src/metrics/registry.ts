/**
 * The table of exposed variables (brpc's global `VarMap`), injectable for tests: a
 * `MetricRegistry` instance, plus `defaultRegistry` for the process.
 */
import type { FamilyMember, MetricFamily } from "./family.js";
import { exposedName, NameFilter } from "./name.js";
import { defaultSampler, type Sampler, type SamplerTask } from "./sampler.js";
import type { SeriesRecorder } from "./series.js";
import type { DisplayFilter, Variable } from "./variable.js";

/** Options of `new MetricRegistry()`. */
export interface RegistryOptions {
  /** Ticks the series of exposed variables; default `defaultSampler`. */
  sampler?: Sampler;
  /** Keep a trend series per exposed variable (brpc's `-save_series`); default true. */
  saveSeries?: boolean;
  /** Most families that may be exposed (brpc's `-bvar_max_multi_dimension_metric_number`); default 1024. */
  maxFamilies?: number;
}

/** Options of `listVariables()`. */
export interface ListOptions {
  /** Only variables shown there; default: all. */
  display?: DisplayFilter;
  /** The one-character wildcard of the filter; default `?` (brpc's `/vars` uses `$`). */
  questionMark?: string;
}

interface Entry {
  readonly variable: Variable;
  readonly display: DisplayFilter;
  readonly series: SeriesRecorder | undefined;
  readonly task: SamplerTask | undefined;
}

/** A family as the registry holds it. */
export type AnyFamily = MetricFamily<FamilyMember>;

/** Exposed variables and families by name. */
export class MetricRegistry {
  /** The sampler that ticks series. */
  readonly sampler: Sampler;
  /** True if exposed variables keep series. */
  readonly saveSeries: boolean;
  /** Most families that may be exposed. */
  readonly maxFamilies: number;
  private readonly vars = new Map<string, Entry>();
  private readonly families = new Map<string, AnyFamily>();

  /** An empty registry; see `RegistryOptions`. */
  constructor(options: RegistryOptions = {}) {
    this.sampler = options.sampler ?? defaultSampler;
    this.saveSeries = options.saveSeries ?? true;
    this.maxFamilies = options.maxFamilies ?? 1024;
  }

  /** Number of exposed variables (families not included). */
  get size(): number {
    return this.vars.size;
  }

  /** True if a variable or family has this exact name. */
  has(name: string): boolean {
    return this.vars.has(name) || this.families.has(name);
  }

  /** The variable exposed as `name`. */
  getVariable(name: string): Variable | undefined {
    return this.vars.get(name)?.variable;
  }

  /** The value of `name` as text (brpc's `describe_exposed`), undefined if not exposed. */
  describe(name: string, quoteString = false): string | undefined {
    return this.vars.get(name)?.variable.describe(quoteString);
  }

  /**
   * Sorted names of exposed variables matching `filter` (brpc's wildcards: `*`, `?`, and
   * alternatives separated by `;` or `,`; empty matches all).
   */
  listVariables(filter = "", options: ListOptions = {}): string[] {
    const f = new NameFilter(filter, options.questionMark ?? "?");
    const out: string[] = [];
    for (const [name, e] of this.vars) {
      if (options.display !== undefined && (e.display & options.display) === 0) continue;
      if (f.matches(name)) out.push(name);
    }
    return out.sort();
  }

  /**
   * The chart JSON of `name` (brpc's `/vars/<name>?series`): a trend of 174 points, an array
   * of trends for vectors, the CDF for `*_latency_cdf`; undefined if it has none.
   */
  seriesJson(name: string): string | undefined {
    return this.vars.get(name)?.series?.json();
  }

  /** True if `name` is exposed and keeps a series (`seriesJson(name)` gives its chart). */
  hasSeries(name: string): boolean {
    return this.vars.get(name)?.series !== undefined;
  }

  /** Sorted names of exposed families matching `filter` (same syntax as `listVariables`). */
  listFamilies(filter = ""): string[] {
    const f = new NameFilter(filter);
    return [...this.families.keys()].filter((n) => f.matches(n)).sort();
  }

  /** The family exposed as `name`. */
  getFamily(name: string): AnyFamily | undefined {
    return this.families.get(name);
  }

  /** @internal Used by `Variable.exposeAs`: the exposed name, or undefined if rejected. */
  _expose(prefix: string, name: string, variable: Variable, display: DisplayFilter): string | undefined {
    if (name.length === 0) return undefined;
    const full = exposedName(prefix, name);
    if (full.length === 0 || this.has(full)) return undefined;
    const series = this.saveSeries ? variable._createSeries() : undefined;
    let task: SamplerTask | undefined;
    if (series?.sampled) {
      task = {
        takeSample: () => {
          series.sample();
          return true;
        },
      };
      this.sampler.add(task, "series");
    }
    this.vars.set(full, { variable, display, series, task });
    return full;
  }

  /** @internal Used by `Variable.hide`. */
  _hide(name: string, variable: Variable): void {
    const e = this.vars.get(name);
    if (e === undefined || e.variable !== variable) return;
    this.vars.delete(name);
    if (e.task !== undefined) this.sampler.remove(e.task);
  }

  /** @internal Used by `MetricFamily`: the exposed name, or an error text. */
  _exposeFamily(name: string, family: AnyFamily): { name: string } | { error: string } {
    const full = exposedName("", name);
    if (full.length === 0) return { error: `invalid family name "${name}"` };
    if (this.has(full)) return { error: `"${full}" is already exposed` };
    if (this.families.size >= this.maxFamilies) {
      return { error: `too many families (max ${this.maxFamilies})` };
    }
    this.families.set(full, family);
    return { name: full };
  }

  /** @internal Used by `MetricFamily.hide`. */
  _hideFamily(name: string, family: AnyFamily): void {
    if (this.families.get(name) === family) this.families.delete(name);
  }
}

/** The process-wide registry used unless a `registry` option says otherwise. */
export const defaultRegistry = new MetricRegistry();
