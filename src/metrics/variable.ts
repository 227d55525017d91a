/**
 * The base of every metric (brpc's `bvar::Variable`): a value that can describe itself as
 * text and be exposed under a name in a registry.
 */
import { defaultRegistry, type MetricRegistry } from "./registry.js";
import type { SeriesRecorder } from "./series.js";

/**
 * Where an exposed variable is listed (brpc's `DisplayFilter`): plain-text dumps (`/vars` as
 * text, Prometheus), HTML pages, or both (the default).
 */
export const DisplayFilter = { PLAIN_TEXT: 1, HTML: 2, ALL: 3 } as const;
/** One of `DisplayFilter`'s values. */
export type DisplayFilter = (typeof DisplayFilter)[keyof typeof DisplayFilter];

/** Options of `expose()` / `exposeAs()`. */
export interface ExposeOptions {
  /** The registry to expose in; default `defaultRegistry`. */
  registry?: MetricRegistry;
  /** Where the variable is listed; default `DisplayFilter.ALL`. */
  display?: DisplayFilter;
}

/** A metric with a text value that may be exposed under a brpc-style name. */
export abstract class Variable {
  private exposedName = "";
  private exposedIn: MetricRegistry | undefined = undefined;
  /** @internal The composite this variable is a part of (LatencyRecorder), if any. */
  _owner: object | undefined = undefined;
  /** @internal Which part of `_owner` this is (`"latency"`, `"max_latency"`, `"p1"`, ...). */
  _part = "";

  /** The value as text, as brpc's `describe()` prints it; strings are quoted if `quoteString`. */
  abstract describe(quoteString?: boolean): string;

  /** The exposed name, or `""` while hidden. */
  get name(): string {
    return this.exposedName;
  }

  /** The registry this variable is exposed in, if any. */
  get registry(): MetricRegistry | undefined {
    return this.exposedIn;
  }

  /** True while exposed. */
  get isExposed(): boolean {
    return this.exposedName !== "";
  }

  /**
   * Expose under `toUnderscoredName(name)` (brpc's `expose()`). An exposed variable is first
   * hidden. Returns false (and stays hidden) if the name is empty or already taken: brpc
   * rejects duplicate names rather than replacing them.
   */
  expose(name: string, options?: ExposeOptions): boolean {
    return this.exposeAs("", name, options);
  }

  /** Expose as `<prefix>_<name>`, both underscored (brpc's `expose_as()`); see `expose()`. */
  exposeAs(prefix: string, name: string, options: ExposeOptions = {}): boolean {
    this.hide();
    const registry = options.registry ?? defaultRegistry;
    const full = registry._expose(prefix, name, this, options.display ?? DisplayFilter.ALL);
    if (full === undefined) return false;
    this.exposedName = full;
    this.exposedIn = registry;
    return true;
  }

  /** Remove from the registry; false if it was not exposed. */
  hide(): boolean {
    if (this.exposedIn === undefined) return false;
    this.exposedIn._hide(this.exposedName, this);
    this.exposedName = "";
    this.exposedIn = undefined;
    return true;
  }

  /** `describe()`. */
  toString(): string {
    return this.describe();
  }

  /** @internal The series this variable keeps while exposed, if it has one (brpc rules). */
  _createSeries(): SeriesRecorder | undefined {
    return undefined;
  }
}
