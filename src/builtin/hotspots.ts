/**
 * brpc's `/hotspots` (src/brpc/builtin/hotspots_service.cpp) on V8's profilers, taken
 * in-process through node:inspector:
 *
 * - `/hotspots/cpu?seconds=N`: a CPU profile of the whole process for N seconds (default
 *   10, at most 60; sampling every `interval` µs, default 1000).
 * - `/hotspots/heap?seconds=N`: a sampling heap profile: allocations made during those N
 *   seconds that are still alive at the end (`interval`: bytes between samples, default 32768).
 *
 * Answers: with `?download=1` (or `Accept: application/json`) the raw `.cpuprofile` /
 * `.heapprofile` JSON as an attachment, which Chrome DevTools (Performance / Memory tab)
 * and speedscope load; else a flame graph: for curl, the top functions by self and total
 * weight and the collapsed stacks; for browsers, an SVG flame graph drawn here. `?last=1`
 * shows (or downloads) the last profile taken instead of taking a new one.
 *
 * One profile at a time per process: a request arriving meanwhile gets 503 (ELIMIT).
 * The profile runs on timers, so the event loop keeps serving while it is taken.
 */
import { Session } from "node:inspector/promises";
import { ErrorCode } from "../errors/errno.js";
import { RpcError } from "../errors/rpc-error.js";
import { CompressType } from "../protocol/compress.js";
import type { ServerContext } from "../server/context.js";
import type { Server } from "../server/server.js";
import {
  type CpuProfile,
  collapsedStacks,
  cpuTree,
  type Frame,
  flameGraphSvg,
  functionWeights,
  type HeapProfile,
  heapTree,
  topTable,
} from "./flamegraph.js";
import { escapeHtml, sendPage, sendText, useHtml } from "./html.js";
import type { BuiltinInfo } from "./registry.js";

/** Profiling time when `seconds` is not given. */
export const DEFAULT_PROFILING_SECONDS = 10;
/** Longest profile (brpc's `-max_profiling_seconds` is 300; an HTTP request waits all that time). */
export const MAX_PROFILING_SECONDS = 60;
/** Functions listed in the text tables. */
const TOP = 30;

/** What the index page and the navigation bar say about `/hotspots`. */
export const hotspotsInfo: BuiltinInfo = {
  tab: "hotspots",
  order: 60,
  index: [
    { path: "/hotspots", text: "CPU and heap profiles (node:inspector)" },
    {
      path: "/hotspots/cpu",
      text: "CPU profile for ?seconds=10: flame graph, ?download=1 for .cpuprofile",
      indent: true,
    },
    {
      path: "/hotspots/heap",
      text: "Live allocations sampled for ?seconds=10, ?download=1 for .heapprofile",
      indent: true,
    },
  ],
};

type Kind = "cpu" | "heap";

/** The profile being taken (one per process), and the last one of each kind. */
let running: Kind | undefined;
const last: { cpu?: Taken<CpuProfile>; heap?: Taken<HeapProfile> } = {};

interface Taken<P> {
  profile: P;
  seconds: number;
  /** Date.now() when it ended. */
  at: number;
}

/** True while a profile is being taken by /hotspots. */
export function profiling(): boolean {
  return running !== undefined;
}

/** Wait `ms`, or less if `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Why node:inspector failed, for the page. */
function inspectorError(err: unknown): RpcError {
  const e = err as { code?: string; message?: string };
  const what = e?.code ? `${e.code}: ${e.message}` : String(e?.message ?? err);
  return new RpcError(ErrorCode.EINTERNAL, `Fail to profile with node:inspector (${what})`);
}

/**
 * Take a profile of `kind` for `seconds` (sampling `interval`: µs for cpu, bytes for heap),
 * ending early if `signal` aborts. Throws an RpcError: ELIMIT while another runs,
 * EINTERNAL when the inspector refuses (e.g. not available in this build of node).
 */
export async function takeProfile(
  kind: "cpu",
  seconds: number,
  interval?: number,
  signal?: AbortSignal,
): Promise<CpuProfile>;
export async function takeProfile(
  kind: "heap",
  seconds: number,
  interval?: number,
  signal?: AbortSignal,
): Promise<HeapProfile>;
export async function takeProfile(
  kind: Kind,
  seconds: number,
  interval?: number,
  signal?: AbortSignal,
): Promise<CpuProfile | HeapProfile> {
  if (running !== undefined) {
    throw new RpcError(
      ErrorCode.ELIMIT,
      `Another profile (${running}) is being taken by /hotspots, try again when it is done`,
    );
  }
  running = kind;
  const session = new Session();
  let connected = false;
  try {
    try {
      session.connect();
      connected = true;
      if (kind === "cpu") {
        await session.post("Profiler.enable");
        await session.post("Profiler.setSamplingInterval", { interval: interval ?? 1000 });
        await session.post("Profiler.start");
      } else {
        await session.post("HeapProfiler.enable");
        await session.post("HeapProfiler.startSampling", { samplingInterval: interval ?? 32768 });
      }
    } catch (err) {
      throw inspectorError(err);
    }
    await sleep(seconds * 1000, signal);
    try {
      if (kind === "cpu") {
        const { profile } = await session.post("Profiler.stop");
        last.cpu = { profile: profile as CpuProfile, seconds, at: Date.now() };
        return profile as CpuProfile;
      }
      const { profile } = await session.post("HeapProfiler.stopSampling");
      last.heap = { profile: profile as HeapProfile, seconds, at: Date.now() };
      return profile as HeapProfile;
    } catch (err) {
      throw inspectorError(err);
    }
  } finally {
    if (connected) {
      await session.post(kind === "cpu" ? "Profiler.disable" : "HeapProfiler.disable").catch(() => {});
      session.disconnect();
    }
    running = undefined;
  }
}

function intParam(q: URLSearchParams, name: string, def: number, min: number, max: number): number {
  const v = q.get(name);
  if (v === null || v === "") return def;
  if (!/^\d{1,9}$/.test(v.trim())) throw new RpcError(ErrorCode.EREQUEST, `Invalid ${name}=\`${v}'`);
  const n = Number(v.trim());
  if (n < min || n > max)
    throw new RpcError(ErrorCode.EREQUEST, `${name}=${n} is out of range [${min}, ${max}]`);
  return n;
}

function flag(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v !== null && v !== "0" && v !== "false";
}

function wantsDownload(ctx: ServerContext): boolean {
  const q = ctx.http?.query;
  if (q !== undefined && flag(q, "download")) return true;
  const accept = ctx.http?.header("accept");
  return accept !== undefined && /\bapplication\/json\b/i.test(accept);
}

/** "cpu-<pid>-<yyyymmdd-hhmmss>.cpuprofile" */
function fileName(kind: Kind, at: number): string {
  const d = new Date(at);
  const p = (n: number) => String(n).padStart(2, "0");
  const stamp = `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
  return `${kind}-${process.pid}-${stamp}.${kind === "cpu" ? "cpuprofile" : "heapprofile"}`;
}

function sendDownload(ctx: ServerContext, kind: Kind, taken: Taken<CpuProfile | HeapProfile>): void {
  const http = ctx.http;
  http?.setHeader("Content-Type", "application/json");
  http?.setHeader("Content-Disposition", `attachment; filename="${fileName(kind, taken.at)}"`);
  http?.setHeader("X-Content-Type-Options", "nosniff");
  http?.setHeader("Cache-Control", "no-store");
  ctx.responseAttachment = JSON.stringify(taken.profile);
  ctx.responseCompressType = CompressType.GZIP;
}

const ms = (v: number) => v.toFixed(2);

function bytes(v: number): string {
  if (v >= 1 << 30) return `${(v / (1 << 30)).toFixed(2)}GiB`;
  if (v >= 1 << 20) return `${(v / (1 << 20)).toFixed(2)}MiB`;
  if (v >= 1 << 10) return `${(v / (1 << 10)).toFixed(1)}KiB`;
  return `${v}B`;
}

/** What is shown of a profile: its tree, units and a one-line summary. */
interface View {
  root: Frame;
  /** Weight of the root as shown (ms or bytes). */
  unit: string;
  /** Tree weight -> displayed value. */
  scale: number;
  fmt: (v: number) => string;
  summary: string;
}

function cpuView(t: Taken<CpuProfile>, withIdle: boolean): View {
  const p = t.profile;
  const { root, idle, samples } = cpuTree(p, withIdle);
  const n = p.samples?.length ?? samples;
  const spanMs = (p.endTime - p.startTime) / 1000;
  const perSample = n > 0 ? spanMs / n : 0;
  const idlePct = samples > 0 ? ((100 * idle) / samples).toFixed(1) : "0";
  return {
    root,
    unit: "ms",
    scale: perSample,
    fmt: (v) => `${ms(v * perSample)}ms`,
    summary:
      `CPU profile of ${t.seconds}s (pid ${process.pid}): ${n} samples every ~${(perSample * 1000).toFixed(0)}us, ` +
      `${ms(root.total * perSample)}ms busy shown, idle ${idlePct}%${withIdle ? " (included)" : " (left out, ?idle=1 to show)"}`,
  };
}

function heapView(t: Taken<HeapProfile>): View {
  const root = heapTree(t.profile);
  return {
    root,
    unit: "bytes",
    scale: 1,
    fmt: bytes,
    summary:
      `Heap profile (sampling) of ${t.seconds}s (pid ${process.pid}): ${bytes(root.total)} allocated in that time ` +
      `and still alive at its end, ${t.profile.samples?.length ?? 0} samples`,
  };
}

function textReport(v: View, kind: Kind): string {
  const weights = functionWeights(v.root);
  const scaled = weights.map((w) => ({ name: w.name, self: w.self * v.scale, total: w.total * v.scale }));
  const whole = v.root.total * v.scale;
  const fmt = kind === "cpu" ? ms : (x: number) => String(Math.round(x));
  return (
    `${v.summary}\n\n` +
    `Top ${TOP} functions by self ${kind === "cpu" ? "time" : "size"}:\n` +
    topTable(scaled, "self", TOP, whole, v.unit, fmt) +
    `\nTop ${TOP} functions by total ${kind === "cpu" ? "time" : "size"}:\n` +
    topTable(scaled, "total", TOP, whole, v.unit, fmt) +
    `\nCollapsed stacks (${kind === "cpu" ? "samples" : "bytes"}; flamegraph.pl, speedscope):\n` +
    collapsedStacks(v.root)
  );
}

function htmlReport(ctx: ServerContext, server: Server, v: View, kind: Kind, seconds: number): void {
  const idle = ctx.http?.query.get("idle");
  const keep = kind === "cpu" && idle !== null && idle !== undefined ? `&amp;idle=${escapeHtml(idle)}` : "";
  const svg = flameGraphSvg(v.root, {
    title: `${kind === "cpu" ? "CPU" : "Heap"} flame graph`,
    format: v.fmt,
  });
  const weights = functionWeights(v.root)
    .filter((w) => w.self > 0)
    .sort((a, b) => b.self - a.self)
    .slice(0, TOP);
  let rows = "";
  for (const w of weights) {
    rows += `<tr><td>${escapeHtml(v.fmt(w.self))}</td><td>${escapeHtml(v.fmt(w.total))}</td><td>${escapeHtml(w.name)}</td></tr>\n`;
  }
  sendPage(ctx, server, {
    tab: "hotspots",
    title: `hotspots/${kind}`,
    body:
      `<p id="hotspots-summary">${escapeHtml(v.summary)}</p>\n` +
      `<p><a id="hotspots-download" href="/hotspots/${kind}?last=1&amp;download=1">download .${kind === "cpu" ? "cpuprofile" : "heapprofile"}</a>` +
      ` (Chrome DevTools ${kind === "cpu" ? "Performance" : "Memory"} tab, speedscope.app) | ` +
      `<a href="/hotspots/${kind}?seconds=${seconds}${keep}">profile again</a> | ` +
      `<a href="/hotspots/${kind}?last=1&amp;console=1">as text</a></p>\n` +
      `<div id="flamegraph">${svg}</div>\n` +
      `<h3>Top functions by self ${kind === "cpu" ? "time" : "size"}</h3>\n` +
      `<table class="gridtable" id="hotspots-top"><tr><th>self</th><th>total</th><th>function</th></tr>\n${rows}</table>\n`,
  });
}

function indexPage(ctx: ServerContext, server: Server, html: boolean): void {
  const text =
    "Profiles of this process, taken with node:inspector:\n" +
    `  /hotspots/cpu?seconds=${DEFAULT_PROFILING_SECONDS}   CPU profile (flame graph; ?download=1 for a .cpuprofile)\n` +
    `  /hotspots/heap?seconds=${DEFAULT_PROFILING_SECONDS}  live allocations (flame graph; ?download=1 for a .heapprofile)\n` +
    `seconds: 1 to ${MAX_PROFILING_SECONDS}; ?last=1 shows the last profile again. One profile at a time.\n`;
  if (!html) {
    sendText(ctx, text);
    return;
  }
  sendPage(ctx, server, {
    tab: "hotspots",
    title: "hotspots",
    body:
      "<p>Profiles of this process, taken with node:inspector. One at a time; the page answers when it is done.</p>\n<ul>\n" +
      `<li><a href="/hotspots/cpu?seconds=${DEFAULT_PROFILING_SECONDS}">cpu</a>: where the CPU time goes</li>\n` +
      `<li><a href="/hotspots/heap?seconds=${DEFAULT_PROFILING_SECONDS}">heap</a>: what allocated the memory still alive</li>\n` +
      "</ul>\n",
  });
}

/** Answer `/hotspots`, `/hotspots/cpu`, `/hotspots/heap`. */
export async function hotspotsService(ctx: ServerContext, server: Server): Promise<void> {
  const html = useHtml(ctx);
  const sub = ctx.unresolvedPath.replace(/\/+$/, "");
  if (sub === "") {
    indexPage(ctx, server, html);
    return;
  }
  if (sub !== "cpu" && sub !== "heap") {
    ctx.setFailed(ErrorCode.ENOMETHOD, `Unknown hotspots page \`${sub}' (cpu or heap)`);
    return;
  }
  const kind: Kind = sub;
  const q = ctx.http?.query ?? new URLSearchParams();
  const seconds = intParam(q, "seconds", DEFAULT_PROFILING_SECONDS, 1, MAX_PROFILING_SECONDS);
  let taken: Taken<CpuProfile> | Taken<HeapProfile> | undefined;
  if (flag(q, "last")) {
    taken = last[kind];
    if (taken === undefined) {
      ctx.setFailed(
        ErrorCode.ENODATA,
        `No ${kind} profile was taken yet: /hotspots/${kind}?seconds=N takes one`,
      );
      return;
    }
  } else {
    const interval =
      kind === "cpu"
        ? intParam(q, "interval", 1000, 50, 1_000_000)
        : intParam(q, "interval", 32768, 128, 1 << 30);
    if (kind === "cpu") await takeProfile("cpu", seconds, interval, ctx.signal);
    else await takeProfile("heap", seconds, interval, ctx.signal);
    taken = last[kind] as Taken<CpuProfile> | Taken<HeapProfile>;
  }
  if (wantsDownload(ctx)) {
    sendDownload(ctx, kind, taken);
    return;
  }
  const view =
    kind === "cpu"
      ? cpuView(taken as Taken<CpuProfile>, flag(q, "idle"))
      : heapView(taken as Taken<HeapProfile>);
  if (html) htmlReport(ctx, server, view, kind, taken.seconds);
  else sendText(ctx, textReport(view, kind));
}
