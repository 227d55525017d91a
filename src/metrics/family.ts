/**
 * Labelled families (brpc's `MultiDimension<T>`, "mbvar"): one variable per combination of
 * label values, created on first use, dumped to Prometheus as `name{k="v",...} value`.
 */
import type { LatencyRecorder } from "./latency.js";
import { type AnyFamily, defaultRegistry, type MetricRegistry } from "./registry.js";
import type { Variable } from "./variable.js";

/** What a family holds: any variable, or a LatencyRecorder. */
export type FamilyMember = Variable | LatencyRecorder;

/** Label values: by name (`{ method: "Echo", code: "0" }`) or in label order (`["Echo", "0"]`). */
export type LabelValues = Readonly<Record<string, string | number>> | readonly (string | number)[];

/** Options of `new MetricFamily()`. */
export interface FamilyOptions {
  /** Where to expose the family; default `defaultRegistry`; `null`: not exposed. */
  registry?: MetricRegistry | null;
  /**
   * Most label combinations (default 1024). Beyond it `get()` returns one shared overflow
   * member that is not exported, and `dropped` counts those calls.
   */
  maxLabelSets?: number;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

type Node = Map<string, unknown>;

/**
 * A family of variables keyed by label values. The family is exposed when constructed (a
 * family is a long-lived singleton, so a name clash is a bug and the constructor throws).
 * Members are never exposed one by one and keep no series; they appear in the Prometheus
 * dump and in `entries()`.
 */
export class MetricFamily<V extends FamilyMember> {
  /** Label names, in dump order. */
  readonly labelNames: readonly string[];
  /** Most label combinations. */
  readonly maxLabelSets: number;
  private exposedName = "";
  private readonly registry: MetricRegistry | undefined;
  private readonly root: Node = new Map();
  private readonly members = new Map<V, readonly string[]>();
  private overflow: V | undefined = undefined;
  private droppedCount = 0;

  /**
   * A family `name` (underscored like a variable name) with `labelNames` (Prometheus label
   * syntax), whose members `factory` creates. Throws if the name is taken in the registry or
   * the registry holds too many families.
   */
  constructor(
    name: string,
    labelNames: readonly string[],
    private readonly factory: () => V,
    options: FamilyOptions = {},
  ) {
    for (const l of labelNames) {
      if (!LABEL_NAME.test(l)) throw new TypeError(`invalid label name "${l}"`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new TypeError("duplicate label names");
    this.labelNames = [...labelNames];
    this.maxLabelSets = options.maxLabelSets ?? 1024;
    const registry = options.registry === undefined ? defaultRegistry : options.registry;
    if (registry !== null) {
      const r = registry._exposeFamily(name, this as unknown as AnyFamily);
      if ("error" in r) throw new Error(`cannot expose family: ${r.error}`);
      this.exposedName = r.name;
      this.registry = registry;
    }
  }

  /** The exposed name, or `""` if not exposed. */
  get name(): string {
    return this.exposedName;
  }

  /** Number of label combinations (brpc's `count_stats()`). */
  get size(): number {
    return this.members.size;
  }

  /** How many `get()` calls asked for a new combination beyond `maxLabelSets`. */
  get dropped(): number {
    return this.droppedCount;
  }

  /**
   * The member for `labels`, created on first use (brpc's `get_stats()`). Every label must be
   * given. Past `maxLabelSets` combinations a new combination gets the shared overflow member,
   * which is not exported. Throws TypeError for a missing label.
   */
  get(labels: LabelValues): V {
    const names = this.labelNames;
    const k = names.length;
    const byPosition = Array.isArray(labels);
    if (byPosition && labels.length !== k) return this.getSlow(labels);
    let node: unknown = this.root;
    if (k === 0) node = this.root.get("");
    for (let i = 0; i < k && node !== undefined; i++) {
      const raw = byPosition
        ? (labels as readonly unknown[])[i]
        : (labels as Readonly<Record<string, unknown>>)[names[i]];
      node = (node as Node).get(typeof raw === "string" ? raw : this.keyOf(raw, i));
    }
    return node !== undefined ? (node as V) : this.getSlow(labels);
  }

  /** True if `labels` has a member (the overflow member does not count). */
  has(labels: LabelValues): boolean {
    return this.find(labels) !== undefined;
  }

  /** Remove the member for `labels` (disposing a LatencyRecorder); false if there was none. */
  delete(labels: LabelValues): boolean {
    const values = this.labelNames.map((_, i) => this.valueAt(labels, i));
    const path: Node[] = [this.root];
    for (let i = 0; i < values.length - 1; i++) {
      const next = path[i].get(values[i]) as Node | undefined;
      if (next === undefined) return false;
      path.push(next);
    }
    let v: V | undefined;
    if (values.length === 0) {
      v = this.root.get("") as V | undefined;
      this.root.delete("");
    } else {
      const leaf = path[path.length - 1];
      v = leaf.get(values[values.length - 1]) as V | undefined;
      if (v === undefined) return false;
      leaf.delete(values[values.length - 1]);
      // Prune emptied inner nodes.
      for (let i = path.length - 1; i > 0 && path[i].size === 0; i--) path[i - 1].delete(values[i - 1]);
    }
    if (v === undefined) return false;
    this.members.delete(v);
    disposeMember(v);
    return true;
  }

  /** Remove every member (brpc's `clear_stats()`). */
  clear(): void {
    for (const v of this.members.keys()) disposeMember(v);
    this.members.clear();
    this.root.clear();
  }

  /** `[labelValues, member]` pairs in creation order. */
  entries(): IterableIterator<[readonly string[], V]> {
    return [...this.members].map(([v, l]): [readonly string[], V] => [l, v])[Symbol.iterator]();
  }

  /** brpc's mbvar description: `{"name" : "<name>", "labels" : ["a", "b"], "stats_count" : n}`. */
  describe(): string {
    const labels = this.labelNames.map((l) => `"${l}"`).join(", ");
    return `{"name" : "${this.exposedName}", "labels" : [${labels}], "stats_count" : ${this.size}}`;
  }

  /** Remove the family from its registry; false if it was not exposed. */
  hide(): boolean {
    if (this.registry === undefined || this.exposedName === "") return false;
    this.registry._hideFamily(this.exposedName, this as unknown as AnyFamily);
    this.exposedName = "";
    return true;
  }

  /** The i-th label value of `labels` as a string. */
  private valueAt(labels: LabelValues, i: number): string {
    const v = Array.isArray(labels)
      ? (labels as readonly unknown[])[i]
      : (labels as Readonly<Record<string, unknown>>)[this.labelNames[i]];
    return typeof v === "string" ? v : this.keyOf(v, i);
  }

  /** A non-string label value as a key: numbers as text; anything else is a missing label. */
  private keyOf(v: unknown, i: number): string {
    if (typeof v === "number") return String(v);
    throw new TypeError(`missing value of label "${this.labelNames[i]}"`);
  }

  private find(labels: LabelValues): V | undefined {
    const k = this.labelNames.length;
    if (k === 0) return this.root.get("") as V | undefined;
    let node = this.root;
    for (let i = 0; i < k - 1; i++) {
      const next = node.get(this.valueAt(labels, i)) as Node | undefined;
      if (next === undefined) return undefined;
      node = next;
    }
    return node.get(this.valueAt(labels, k - 1)) as V | undefined;
  }

  /** Lookup that may create: validates, applies the cap, inserts. */
  private getSlow(labels: LabelValues): V {
    if (Array.isArray(labels) && labels.length !== this.labelNames.length) {
      throw new TypeError(`expected ${this.labelNames.length} label values, got ${labels.length}`);
    }
    const values = this.labelNames.map((_, i) => this.valueAt(labels, i));
    const found = this.find(labels);
    if (found !== undefined) return found;
    if (this.members.size >= this.maxLabelSets) {
      this.droppedCount++;
      this.overflow ??= this.factory();
      return this.overflow;
    }
    const v = this.factory();
    if (values.length === 0) {
      this.root.set("", v);
    } else {
      let node = this.root;
      for (let i = 0; i < values.length - 1; i++) {
        let next = node.get(values[i]) as Node | undefined;
        if (next === undefined) {
          next = new Map();
          node.set(values[i], next);
        }
        node = next;
      }
      node.set(values[values.length - 1], v);
    }
    this.members.set(v, values);
    return v;
  }
}

/** Stop a removed member's sampling if it has any (LatencyRecorder). */
function disposeMember(v: FamilyMember): void {
  const d = (v as { dispose?: () => void }).dispose;
  if (typeof d === "function") d.call(v);
}
