/**
 * Profiles of node:inspector as call trees, and what `/hotspots` shows of them: the top
 * functions by self and total weight, collapsed stacks (the input format of flamegraph.pl
 * and speedscope), and a flame graph drawn server-side as SVG (no script).
 *
 * Weights are samples for a CPU profile (converted to milliseconds for display) and bytes
 * for a sampling heap profile.
 */
import { escapeHtml } from "./html.js";

/** A V8 call frame (Runtime.CallFrame). */
export interface CallFrame {
  functionName: string;
  scriptId?: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

/** A node of a `.cpuprofile` (Profiler.ProfileNode). */
export interface CpuProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

/** A `.cpuprofile` (Profiler.Profile). */
export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** A node of a `.heapprofile` (HeapProfiler.SamplingHeapProfileNode). */
export interface HeapProfileNode {
  callFrame: CallFrame;
  selfSize: number;
  id: number;
  children: HeapProfileNode[];
}

/** A `.heapprofile` (HeapProfiler.SamplingHeapProfile). */
export interface HeapProfile {
  head: HeapProfileNode;
  samples?: { size: number; nodeId: number; ordinal: number }[];
}

/** A frame of the aggregated tree: children with the same name are merged. */
export interface Frame {
  readonly name: string;
  /** Weight of this frame itself. */
  self: number;
  /** Weight of this frame and everything it called. */
  total: number;
  readonly children: Map<string, Frame>;
}

/** Frames deeper than this are cut (their weight stays in the last frame kept). */
export const MAX_DEPTH = 256;

function newFrame(name: string): Frame {
  return { name, self: 0, total: 0, children: new Map() };
}

/** "fn url:line" (1-based line) of a V8 call frame; V8's pseudo frames keep their "(name)". */
export function frameName(f: CallFrame): string {
  const fn = f.functionName === "" ? "(anonymous)" : f.functionName;
  if (f.url === "") return fn;
  return `${fn} ${f.url}:${f.lineNumber + 1}`;
}

/** Fill in `total` from `self` bottom-up. */
function sumTotals(f: Frame): number {
  let t = f.self;
  for (const c of f.children.values()) t += sumTotals(c);
  f.total = t;
  return t;
}

/** Child `name` of `parent`, created if needed. */
function childOf(parent: Frame, name: string): Frame {
  let c = parent.children.get(name);
  if (c === undefined) {
    c = newFrame(name);
    parent.children.set(name, c);
  }
  return c;
}

/**
 * The call tree of a CPU profile, in samples. `(idle)` (the process waiting for events)
 * is left out unless `withIdle`; its samples are returned apart.
 */
export function cpuTree(p: CpuProfile, withIdle = false): { root: Frame; idle: number; samples: number } {
  const byId = new Map<number, CpuProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const root = newFrame("(root)");
  let idle = 0;
  let samples = 0;
  const first = p.nodes[0];
  if (first === undefined) return { root, idle, samples };
  // Iterative walk: profiles can be deep.
  const stack: { node: CpuProfileNode; frame: Frame; depth: number }[] = [
    { node: first, frame: root, depth: 0 },
  ];
  const seen = new Set<number>();
  while (stack.length > 0) {
    const { node, frame, depth } = stack.pop()!;
    if (seen.has(node.id)) continue;
    seen.add(node.id);
    const hits = node.hitCount ?? 0;
    samples += hits;
    frame.self += hits;
    for (const id of node.children ?? []) {
      const child = byId.get(id);
      if (child === undefined) continue;
      const name = frameName(child.callFrame);
      if (name === "(idle)" && !withIdle) {
        idle += child.hitCount ?? 0;
        samples += child.hitCount ?? 0;
        seen.add(child.id);
        continue;
      }
      const f = depth + 1 >= MAX_DEPTH ? frame : childOf(frame, name);
      stack.push({ node: child, frame: f, depth: f === frame ? depth : depth + 1 });
    }
  }
  sumTotals(root);
  return { root, idle, samples };
}

/** The call tree of a sampling heap profile, in bytes (allocations still alive when it was taken). */
export function heapTree(p: HeapProfile): Frame {
  const root = newFrame("(root)");
  const stack: { node: HeapProfileNode; frame: Frame; depth: number }[] = [];
  root.self += p.head.selfSize;
  for (const c of p.head.children) stack.push({ node: c, frame: root, depth: 0 });
  while (stack.length > 0) {
    const { node, frame, depth } = stack.pop()!;
    const f = depth + 1 >= MAX_DEPTH ? frame : childOf(frame, frameName(node.callFrame));
    f.self += node.selfSize;
    const d = f === frame ? depth : depth + 1;
    for (const c of node.children) stack.push({ node: c, frame: f, depth: d });
  }
  sumTotals(root);
  return root;
}

/** Weight of one function: by itself, and with what it called (recursion counted once). */
export interface FunctionWeight {
  name: string;
  self: number;
  total: number;
}

/** Every function of the tree with its self and total weight (the root excluded). */
export function functionWeights(root: Frame): FunctionWeight[] {
  const out = new Map<string, FunctionWeight>();
  const onPath = new Map<string, number>();
  const walk = (f: Frame) => {
    let w = out.get(f.name);
    if (w === undefined) {
      w = { name: f.name, self: 0, total: 0 };
      out.set(f.name, w);
    }
    w.self += f.self;
    const depth = onPath.get(f.name) ?? 0;
    if (depth === 0) w.total += f.total;
    onPath.set(f.name, depth + 1);
    for (const c of f.children.values()) walk(c);
    onPath.set(f.name, depth);
  };
  for (const c of root.children.values()) walk(c);
  return [...out.values()];
}

/**
 * Collapsed stacks: one line per distinct stack with self weight, frames from the root
 * joined by `;` (flamegraph.pl / speedscope / inferno input). `;` in names becomes `,`.
 */
export function collapsedStacks(root: Frame, scale = 1): string {
  const lines: string[] = [];
  const path: string[] = [];
  const walk = (f: Frame) => {
    path.push(f.name.replaceAll(";", ",").replaceAll("\n", " "));
    const v = Math.round(f.self * scale);
    if (v > 0) lines.push(`${path.join(";")} ${v}`);
    for (const c of f.children.values()) walk(c);
    path.pop();
  };
  for (const c of root.children.values()) walk(c);
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

/** A table of the `n` heaviest functions by `key`, values shown with `fmt`. */
export function topTable(
  weights: readonly FunctionWeight[],
  key: "self" | "total",
  n: number,
  whole: number,
  unit: string,
  fmt: (v: number) => string,
): string {
  const rows = [...weights]
    .filter((w) => w[key] > 0)
    .sort((a, b) => b[key] - a[key] || (a.name < b.name ? -1 : 1));
  const pct = (v: number) => (whole > 0 ? `${((100 * v) / whole).toFixed(2)}%` : "-");
  const head = [`self ${unit}`, "self%", `total ${unit}`, "total%", "function"];
  const body = rows.slice(0, n).map((w) => [fmt(w.self), pct(w.self), fmt(w.total), pct(w.total), w.name]);
  const widths = head
    .slice(0, 4)
    .map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] as string).length)));
  const line = (r: string[]) =>
    `${r
      .slice(0, 4)
      .map((c, i) => c.padStart(widths[i] as number))
      .join("  ")}  ${r[4]}`;
  return `${[line(head), ...body.map(line)].join("\n")}\n`;
}

// ---- SVG ------------------------------------------------------------------------------

/** Look of the flame graph. */
export interface FlameGraphOptions {
  /** Width in px (default 1200). */
  width?: number;
  /** Frames narrower than this (px) are not drawn (default 0.3). */
  minWidth?: number;
  /** At most this many frames are drawn, the widest first (default 8000). */
  maxFrames?: number;
  /** The tooltip of a frame: its weight as text. */
  format: (v: number) => string;
  /** Title at the top. */
  title: string;
}

const ROW = 17;
const FONT = 11;
/** Average width of a character of the 11px monospace font, to fit labels. */
const CHAR = 6.6;

/** A warm colour for `name`, stable across renders. */
function colour(name: string): string {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  const u = h >>> 0;
  const r = 205 + (u % 50);
  const g = 80 + ((u >>> 8) % 130);
  const b = 40 + ((u >>> 16) % 50);
  return `rgb(${r},${g},${b})`;
}

/**
 * The flame graph of `root` as an `<svg>` element: the root at the bottom, callees above
 * their callers, widths proportional to total weight. One `<rect>` and `<title>` per frame
 * wide enough, a `<text>` label when it fits. Every name is escaped.
 */
export function flameGraphSvg(root: Frame, o: FlameGraphOptions): string {
  const width = o.width ?? 1200;
  const minWidth = o.minWidth ?? 0.3;
  const maxFrames = o.maxFrames ?? 8000;
  const total = root.total;
  interface Box {
    f: Frame;
    x: number;
    w: number;
    depth: number;
  }
  const boxes: Box[] = [];
  let maxDepth = 0;
  if (total > 0) {
    // Breadth-first, so that the frame budget keeps the widest (shallowest) frames.
    let level: Box[] = [{ f: root, x: 0, w: width, depth: 0 }];
    while (level.length > 0 && boxes.length < maxFrames) {
      const next: Box[] = [];
      for (const b of level) {
        if (boxes.length >= maxFrames) break;
        boxes.push(b);
        if (b.depth > maxDepth) maxDepth = b.depth;
        let x = b.x;
        const kids = [...b.f.children.values()].sort((p, q) =>
          p.name < q.name ? -1 : p.name > q.name ? 1 : 0,
        );
        for (const c of kids) {
          const w = (c.total / total) * width;
          if (w >= minWidth) next.push({ f: c, x, w, depth: b.depth + 1 });
          x += w;
        }
      }
      level = next;
    }
  }
  const top = 24;
  const height = top + (maxDepth + 1) * ROW + 4;
  let s =
    `<svg xmlns="http://www.w3.org/2000/svg" class="flamegraph" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="monospace" font-size="${FONT}">\n` +
    `<text x="${width / 2}" y="16" text-anchor="middle" font-size="14">${escapeHtml(o.title)}</text>\n`;
  for (const b of boxes) {
    const y = height - 4 - (b.depth + 1) * ROW;
    const pct = total > 0 ? ((100 * b.f.total) / total).toFixed(2) : "0";
    const tip = `${b.f.name} (${o.format(b.f.total)}, ${pct}%; self ${o.format(b.f.self)})`;
    s +=
      `<g class="frame"><title>${escapeHtml(tip)}</title>` +
      `<rect x="${b.x.toFixed(2)}" y="${y}" width="${b.w.toFixed(2)}" height="${ROW - 1}" rx="2" fill="${colour(b.f.name)}"/>`;
    const chars = Math.floor((b.w - 6) / CHAR);
    if (chars >= 3) {
      const label = b.f.name.length <= chars ? b.f.name : `${b.f.name.slice(0, chars - 2)}..`;
      s += `<text x="${(b.x + 3).toFixed(2)}" y="${y + ROW - 5}">${escapeHtml(label)}</text>`;
    }
    s += "</g>\n";
  }
  return `${s}</svg>\n`;
}
