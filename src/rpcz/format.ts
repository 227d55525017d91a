/**
 * The text of the `/rpcz` pages, laid out like brpc's (builtin/rpcz_service.cpp): a list
 * of recent spans, one per line, and the timeline of one trace, its spans nested (a client
 * call under the server span it was made in, the server span of that call under it when
 * both ends are in this process). Ids are shown in hex as brpc does.
 *
 * Rendering goes through a {@link Markup}: plain text for curl, or escaped HTML with links.
 */
import { errorName } from "../errors/errno.js";
import type { Span } from "./span.js";

/** How dynamic text and links are written. */
export interface Markup {
  /** Any text that is not markup (escaped for HTML). */
  text(s: string): string;
  /** `label` linking to `href` (both unescaped). */
  link(label: string, href: string): string;
}

/** Plain text: no escaping, links are their labels. */
export const plainText: Markup = {
  text: (s) => s,
  link: (label) => label,
};

/** An id as brpc prints it: lower-case hex. */
export function hexId(id: bigint): string {
  return id.toString(16);
}

/**
 * A trace / span id from a page's query: hex as brpc (an optional `0x`), or decimal with a
 * `d` prefix (`d12345`, as sent in x-bd-* headers). Undefined when not an id.
 */
export function parseSpanId(s: string | null | undefined): bigint | undefined {
  if (s === null || s === undefined) return undefined;
  const t = s.trim().toLowerCase();
  let v: bigint;
  if (/^d\d{1,20}$/.test(t)) v = BigInt(t.slice(1));
  else if (/^(0x)?[0-9a-f]{1,16}$/.test(t)) v = BigInt(t.startsWith("0x") ? t : `0x${t}`);
  else return undefined;
  return v > 0n && v < 1n << 64n ? v : undefined;
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, "0");
}

/** "HH:MM:SS.uuuuuu" in local time. */
export function formatTime(us: number): string {
  const d = new Date(Math.floor(us / 1000));
  return `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}.${pad(us % 1_000_000, 6)}`;
}

/** "YYYY/MM/DD-HH:MM:SS.uuuuuu" in local time (brpc PrintRealDateTime). */
export function formatDateTime(us: number): string {
  const d = new Date(Math.floor(us / 1000));
  return `${d.getFullYear()}/${pad(d.getMonth() + 1, 2)}/${pad(d.getDate(), 2)}-${formatTime(us)}`;
}

/** A duration in µs as brpc prints elapsed times: "   1.000250", "    .000250" (11 wide). */
export function formatElapse(us: number): string {
  if (us < 0) return (us / 1e6).toFixed(6).padStart(11);
  const s = Math.floor(us / 1_000_000);
  return `${s === 0 ? "    " : String(s).padStart(4)}.${pad(us % 1_000_000, 6)}`;
}

/** Conditions of the `/rpcz` list (brpc's RpczSpanFilter and more). */
export interface SpanQuery {
  traceId?: bigint;
  logId?: bigint;
  /** Microseconds. */
  minLatencyUs?: number;
  minRequestSize?: number;
  minResponseSize?: number;
  /** Exactly this error code (0 = succeeded). */
  errorCode?: number;
  /** Failed calls only. */
  errorOnly?: boolean;
  kind?: "server" | "client";
  /** Spans that started before this time (µs). */
  beforeUs?: number;
  /** Substring of the method name. */
  method?: string;
}

/** True if `s` matches every condition of `q`. */
export function matches(s: Span, q: SpanQuery): boolean {
  return (
    (q.traceId === undefined || s.traceId === q.traceId) &&
    (q.logId === undefined || s.logId === q.logId) &&
    (q.minLatencyUs === undefined || s.latencyUs >= q.minLatencyUs) &&
    (q.minRequestSize === undefined || s.requestSize >= q.minRequestSize) &&
    (q.minResponseSize === undefined || s.responseSize >= q.minResponseSize) &&
    (q.errorCode === undefined || s.errorCode === q.errorCode) &&
    (q.errorOnly !== true || s.errorCode !== 0) &&
    (q.kind === undefined || s.kind === q.kind) &&
    (q.beforeUs === undefined || s.startUs < q.beforeUs) &&
    (q.method === undefined || s.method.includes(q.method))
  );
}

/** Up to `max` spans of `spans` (newest first) matching `q`. */
export function selectSpans(spans: Iterable<Span>, q: SpanQuery, max: number): Span[] {
  const out: Span[] = [];
  if (max <= 0) return out;
  for (const s of spans) {
    if (!matches(s, q)) continue;
    out.push(s);
    if (out.length >= max) break;
  }
  return out;
}

function status(s: Span): string {
  return s.errorCode === 0 ? "[OK]" : `[${errorName(s.errorCode)}]`;
}

function traceHref(s: Span, withSpan: boolean): string {
  return `/rpcz?trace=${hexId(s.traceId)}${withSpan ? `&span=${hexId(s.spanId)}` : ""}`;
}

/**
 * One line per span (brpc's list): start time, latency, S(erver) / C(lient), ids,
 * log_id, method(request size)=response size, status, peer and protocol.
 */
export function renderList(spans: readonly Span[], m: Markup): string {
  let out = "";
  for (const s of spans) {
    const trace = hexId(s.traceId);
    const span = hexId(s.spanId);
    out +=
      m.text(
        `${formatDateTime(s.startUs)} ${formatElapse(s.latencyUs)} ${s.kind === "server" ? "S" : "C"} trace=`,
      ) +
      m.link(trace, traceHref(s, false)) +
      m.text(" span=") +
      m.link(span, traceHref(s, true)) +
      m.text(
        ` log_id=${s.logId ?? 0n} ${s.method}(${s.requestSize})=${s.responseSize} ${status(s)} ` +
          `${s.kind === "server" ? "from" : "to"} ${s.remoteSide} ${s.protocol}\n`,
      );
  }
  return out;
}

// ---- one trace ------------------------------------------------------------------------

interface TraceTree {
  /** Children of each span, by identity. */
  children: Map<Span, Span[]>;
  roots: Span[];
}

/**
 * Nest the spans of one trace: a client span under the server span it was made in (its
 * parent span id), the server span that answered it (same span id) under it; spans whose
 * parent is not here are roots.
 */
function buildTree(spans: readonly Span[]): TraceTree {
  const clientById = new Map<bigint, Span>();
  const serverById = new Map<bigint, Span>();
  for (const s of spans) (s.kind === "client" ? clientById : serverById).set(s.spanId, s);
  const children = new Map<Span, Span[]>();
  const roots: Span[] = [];
  const add = (parent: Span | undefined, s: Span) => {
    if (parent === undefined || parent === s) {
      roots.push(s);
      return;
    }
    const list = children.get(parent);
    if (list === undefined) children.set(parent, [s]);
    else list.push(s);
  };
  for (const s of spans) {
    if (s.kind === "server") add(clientById.get(s.spanId) ?? serverById.get(s.parentSpanId), s);
    else add(s.parentSpanId === 0n ? undefined : serverById.get(s.parentSpanId), s);
  }
  const byStart = (a: Span, b: Span) => a.startUs - b.startUs;
  roots.sort(byStart);
  for (const l of children.values()) l.sort(byStart);
  return { children, roots };
}

interface Line {
  us: number;
  text?: string;
  child?: Span;
}

/** The timeline events of one span, children included at their start, in time order. */
function eventsOf(s: Span, kids: readonly Span[]): Line[] {
  const ev: Line[] = [];
  const log = `log_id=${s.logId ?? 0n}`;
  const ids = `trace=${hexId(s.traceId)} span=${hexId(s.spanId)}`;
  const parent = s.parentSpanId === 0n ? "" : ` parent_span=${hexId(s.parentSpanId)}`;
  const fail = s.errorCode === 0 ? "" : ` [${errorName(s.errorCode)}] ${s.errorText}`;
  if (s.kind === "server") {
    ev.push({
      us: s.startUs,
      text: `Received request(${s.requestSize}) from ${s.remoteSide} ${s.protocol} ${log} ${ids}${parent}`,
    });
    if (s.callbackUs !== 0) ev.push({ us: s.callbackUs, text: `Enter ${s.method}` });
    for (const a of s.annotations ?? []) ev.push({ us: a.us, text: a.text });
    for (const c of kids) ev.push({ us: c.startUs, child: c });
    if (s.leaveUs !== 0) ev.push({ us: s.leaveUs, text: `Leave ${s.method}` });
    if (s.sentUs !== 0) ev.push({ us: s.sentUs, text: `Responded(${s.responseSize})${fail}` });
  } else {
    ev.push({
      us: s.startUs,
      text: `Requesting ${s.method}@${s.remoteSide} ${s.protocol} ${log} ${ids}${parent}`,
    });
    if (s.sentUs !== 0) ev.push({ us: s.sentUs, text: `Requested(${s.requestSize})` });
    for (const a of s.annotations ?? []) ev.push({ us: a.us, text: a.text });
    for (const c of kids) ev.push({ us: c.startUs, child: c });
    if (s.receivedUs !== 0) {
      const retried = s.retries > 0 ? ` after ${s.retries} retr${s.retries === 1 ? "y" : "ies"}` : "";
      ev.push({
        us: s.receivedUs,
        text:
          s.errorCode === 0 ? `Received response(${s.responseSize})${retried}` : `Failed${retried}:${fail}`,
      });
    }
  }
  if (s.droppedAnnotations > 0) {
    ev.push({ us: s.endUs || s.startUs, text: `(${s.droppedAnnotations} more annotations dropped)` });
  }
  // Stable: same-time events keep the order above (the first line stays first).
  return ev
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.us - b.e.us || a.i - b.i)
    .map((x) => x.e);
}

/**
 * The timeline of the spans of one trace: one line per event (time, time since the line
 * before, span, what happened), nested spans indented under their parent. With `onlySpan`,
 * the subtree of that span only.
 */
export function renderTrace(spans: readonly Span[], m: Markup, onlySpan?: bigint): string {
  const tree = buildTree(spans);
  let roots = tree.roots;
  if (onlySpan !== undefined) {
    // The client span of that id if both ends are here (the server span is nested in it).
    const hit = spans.filter((s) => s.spanId === onlySpan);
    roots = hit.filter((s) => s.kind === "client");
    if (roots.length === 0) roots = hit;
  }
  let out = "";
  let last = 0;
  const visit = (s: Span, depth: number) => {
    const indent = "  ".repeat(depth);
    const tag = `[${s.kind === "server" ? "Server" : "Client"} SPAN#${hexId(s.spanId)}] `;
    let first = true;
    for (const e of eventsOf(s, tree.children.get(s) ?? [])) {
      if (e.child !== undefined) {
        visit(e.child, depth + 1);
        continue;
      }
      const when = first && depth === 0 ? formatDateTime(e.us) : formatTime(e.us);
      const elapsed = last === 0 ? formatElapse(0) : formatElapse(e.us - last);
      last = e.us;
      first = false;
      out += m.text(`${indent}${when} ${elapsed} ${tag}`);
      if (e.text !== undefined) out += m.text(e.text);
      out += "\n";
    }
  };
  for (const r of roots) {
    last = 0;
    visit(r, 0);
    out += "\n";
  }
  return out;
}
