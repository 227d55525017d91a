/**
 * brpc's `/rpcz` (src/brpc/builtin/rpcz_service.cpp): recent calls with their timings, and
 * the timeline of one trace.
 *
 * - `/rpcz`: the newest spans first, one per line. Filters (brpc's names): `trace=<hex id>`,
 *   `log_id=<n>` (decimal, or hex with 0x), `min_latency=<µs>`, `min_request_size=`,
 *   `min_response_size=`, `error_code=<n>`, and `error=1` (failed calls only), `kind=server|client`,
 *   `method=<substring>`; `max_scan=<n>` spans at most (default 100, at most 10000).
 * - `/rpcz?trace=<id>` or `/rpcz/<id>`: the spans of that trace, nested, with the times of
 *   their steps and their annotations; `&span=<id>` for one span.
 * - `/rpcz/enable`, `/rpcz/disable`: turn rpcz on / off process-wide (brpc `-enable_rpcz`),
 *   on a server created with `allowFlagChanges: true` only. Also `/flags/enable_rpcz`.
 * - `/rpcz/stats`: the state of the span store.
 *
 * Text for curl, HTML (the shared layout, ids linked) for browsers.
 */
import { ErrorCode } from "../errors/errno.js";
import {
  type Markup,
  parseSpanId,
  plainText,
  renderList,
  renderTrace,
  type SpanQuery,
  selectSpans,
} from "../rpcz/format.js";
import { rpczState } from "../rpcz/store.js";
import { setRpczEnabled } from "../rpcz/trace.js";
import type { ServerContext } from "../server/context.js";
import type { Server } from "../server/server.js";
import { parseBoolFlag, registerFlag } from "./flags.js";
import { escapeHtml, sendPage, sendText, useHtml } from "./html.js";
import type { BuiltinInfo } from "./registry.js";

/** Spans listed by default (brpc's default max_scan). */
export const DEFAULT_MAX_SCAN = 100;
/** Most spans listed (brpc's cap of max_scan). */
export const MAX_MAX_SCAN = 10000;

/** What the index page and the navigation bar say about `/rpcz`. */
export const rpczInfo: BuiltinInfo = {
  tab: "rpcz",
  order: 50,
  index: [
    { path: "/rpcz", text: "Recent RPC calls and their timings (needs rpcz on)" },
    { path: "/rpcz/enable", text: "Turn rpcz on (allowFlagChanges)", indent: true },
    { path: "/rpcz/disable", text: "Turn rpcz off (allowFlagChanges)", indent: true },
    { path: "/rpcz/stats", text: "State of the span store", indent: true },
  ],
};

/** True if this server traces its calls now. */
function tracing(server: Server): boolean {
  return rpczState.enabled || server.rpczEnabled;
}

/** Turn rpcz on or off as brpc's `-enable_rpcz` does: process-wide, and this server too. */
function setTracing(server: Server, on: boolean): void {
  setRpczEnabled(on);
  server.rpczEnabled = on;
}

registerFlag({
  name: "enable_rpcz",
  description: "Trace calls into /rpcz (this server's and every channel's)",
  definedAt: "ServerOptions.rpcz / setRpczEnabled()",
  defaultValue: "false",
  value: (s) => String(tracing(s)),
  set(value, s) {
    setTracing(s, parseBoolFlag(value));
  },
});

function allowFlagChanges(server: Server): boolean {
  return server.options.allowFlagChanges;
}

/** A browser's request coming from another site (a link on another page) never changes state. */
function crossSite(ctx: ServerContext): boolean {
  const site = ctx.http?.header("sec-fetch-site");
  return site !== undefined && site !== "same-origin" && site !== "none";
}

const htmlMarkup: Markup = {
  text: escapeHtml,
  link: (label, href) => `<a href="${escapeHtml(href)}">${escapeHtml(label)}</a>`,
};

const OFF_TEXT =
  "rpcz is off: calls are not traced. Turn it on with ServerOptions.rpcz = true or " +
  "setRpczEnabled(true) in code, or at run time with /rpcz/enable (or /flags/enable_rpcz?setvalue=true) " +
  "on a server created with allowFlagChanges: true. Then /rpcz lists the recent calls.";

function answer(ctx: ServerContext, server: Server, html: boolean, text: string, pre = true): void {
  if (!html) {
    sendText(ctx, text.endsWith("\n") ? text : `${text}\n`);
    return;
  }
  sendPage(ctx, server, {
    tab: "rpcz",
    title: "rpcz",
    body: pre ? `<pre id="rpcz">${escapeHtml(text)}</pre>\n` : text,
  });
}

function switchPage(ctx: ServerContext, server: Server, html: boolean, on: boolean): void {
  const what = on ? "enable" : "disable";
  if (!allowFlagChanges(server)) {
    ctx.setFailed(
      ErrorCode.EPERM,
      `Cannot ${what} rpcz: changing flags is disabled (ServerOptions.allowFlagChanges is false)`,
    );
    return;
  }
  if (crossSite(ctx)) {
    ctx.setFailed(ErrorCode.EPERM, `Cannot ${what} rpcz from a request of another site`);
    return;
  }
  setTracing(server, on);
  const text = `rpcz is ${on ? "enabled" : "disabled"}`;
  if (html)
    answer(ctx, server, true, `<p id="rpcz-state">${text}</p><p><a href="/rpcz">[rpcz]</a></p>\n`, false);
  else answer(ctx, server, false, text);
}

function statsText(server: Server): string {
  const st = rpczState.store;
  return (
    `enabled (process-wide): ${rpczState.enabled}\n` +
    `enabled on this server: ${tracing(server)}\n` +
    `async context: ${rpczState.asyncContext}\n` +
    `spans kept: ${st.size} of ${st.capacity}\n` +
    `spans stored since start: ${st.added}\n`
  );
}

/** A non-negative integer query parameter; undefined when absent; NaN when malformed. */
function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === "") return undefined;
  return /^\d{1,15}$/.test(v.trim()) ? Number(v.trim()) : Number.NaN;
}

/** log_id as brpc reads it: decimal, or hex with 0x. */
function parseLogId(v: string): bigint | undefined {
  const t = v.trim().toLowerCase();
  if (/^\d{1,20}$/.test(t)) return BigInt(t);
  if (/^0x[0-9a-f]{1,16}$/.test(t)) return BigInt(t);
  return undefined;
}

/** The `/rpcz` list query, or an error text. */
function queryOf(q: URLSearchParams): { query: SpanQuery; max: number } | string {
  const query: SpanQuery = {};
  for (const [name, key] of [
    ["min_latency", "minLatencyUs"],
    ["min_request_size", "minRequestSize"],
    ["min_response_size", "minResponseSize"],
    ["error_code", "errorCode"],
  ] as const) {
    const n = intParam(q, name);
    if (Number.isNaN(n)) return `Invalid ${name}=\`${q.get(name)}'`;
    if (n !== undefined) query[key] = n;
  }
  const logId = q.get("log_id");
  if (logId !== null && logId !== "") {
    const v = parseLogId(logId);
    if (v === undefined) return `Invalid log_id=\`${logId}'`;
    query.logId = v;
  }
  const error = q.get("error");
  if (error !== null && error !== "0" && error !== "false") query.errorOnly = true;
  const kind = q.get("kind");
  if (kind === "server" || kind === "client") query.kind = kind;
  else if (kind !== null && kind !== "") return `Invalid kind=\`${kind}' (server or client)`;
  const method = q.get("method");
  if (method !== null && method !== "") query.method = method;
  const maxScan = intParam(q, "max_scan");
  if (Number.isNaN(maxScan)) return `Invalid max_scan=\`${q.get("max_scan")}'`;
  const max = Math.max(1, Math.min(maxScan ?? DEFAULT_MAX_SCAN, MAX_MAX_SCAN));
  return { query, max };
}

function tracePage(
  ctx: ServerContext,
  server: Server,
  html: boolean,
  traceId: bigint,
  q: URLSearchParams,
): void {
  const spanParam = q.get("span");
  const spanId = spanParam === null || spanParam === "" ? undefined : parseSpanId(spanParam);
  if (spanParam !== null && spanParam !== "" && spanId === undefined) {
    ctx.setFailed(ErrorCode.EREQUEST, `Invalid span=\`${spanParam}'`);
    return;
  }
  const spans = selectSpans(rpczState.store.newestFirst(), { traceId }, Number.MAX_SAFE_INTEGER);
  if (spanId !== undefined && !spans.some((s) => s.spanId === spanId)) spans.length = 0;
  if (spans.length === 0) {
    answer(ctx, server, html, "Fail to find any spans");
    return;
  }
  const m = html ? htmlMarkup : plainText;
  const head = `trace=${traceId.toString(16)} (decimal ${traceId}): ${spans.length} span${spans.length === 1 ? "" : "s"}\n\n`;
  const body = m.text(head) + renderTrace(spans, m, spanId);
  if (html) answer(ctx, server, true, `<pre id="rpcz-trace">${body}</pre>\n`, false);
  else answer(ctx, server, false, body);
}

function listPage(ctx: ServerContext, server: Server, html: boolean, q: URLSearchParams): void {
  const parsed = queryOf(q);
  if (typeof parsed === "string") {
    ctx.setFailed(ErrorCode.EREQUEST, parsed);
    return;
  }
  const spans = selectSpans(rpczState.store.newestFirst(), parsed.query, parsed.max);
  const on = tracing(server);
  if (!html) {
    if (spans.length === 0) {
      answer(ctx, server, false, on ? "Fail to find matched spans" : OFF_TEXT);
      return;
    }
    answer(ctx, server, false, renderList(spans, plainText));
    return;
  }
  let body = "";
  if (allowFlagChanges(server)) {
    const action = on ? "disable" : "enable";
    body += `<p><a class="button" id="rpcz-switch" href="/rpcz/${action}">${action} rpcz</a></p>\n`;
  }
  if (!on) body += `<p class="muted" id="rpcz-off">${escapeHtml(OFF_TEXT)}</p>\n`;
  body +=
    spans.length === 0
      ? `<p id="rpcz-empty">${escapeHtml("Fail to find matched spans")}</p>\n`
      : `<pre id="rpcz">${renderList(spans, htmlMarkup)}</pre>\n`;
  answer(ctx, server, true, body, false);
}

/** Answer `/rpcz` and `/rpcz/...`. */
export function rpczService(ctx: ServerContext, server: Server): void {
  const html = useHtml(ctx);
  const q = ctx.http?.query ?? new URLSearchParams();
  const sub = ctx.unresolvedPath.replace(/\/+$/, "");
  switch (sub) {
    case "enable":
      switchPage(ctx, server, html, true);
      return;
    case "disable":
      switchPage(ctx, server, html, false);
      return;
    case "stats":
      answer(ctx, server, html, statsText(server));
      return;
    case "":
      break;
    default: {
      const id = parseSpanId(sub);
      if (id === undefined || sub.includes("/")) {
        ctx.setFailed(ErrorCode.ENOMETHOD, `Unknown rpcz page \`${sub}' (a trace id is hex)`);
        return;
      }
      tracePage(ctx, server, html, id, q);
      return;
    }
  }
  const trace = q.get("trace");
  if (trace !== null && trace !== "") {
    const id = parseSpanId(trace);
    if (id === undefined) {
      ctx.setFailed(ErrorCode.EREQUEST, `Invalid trace=\`${trace}'`);
      return;
    }
    tracePage(ctx, server, html, id, q);
    return;
  }
  listPage(ctx, server, html, q);
}
