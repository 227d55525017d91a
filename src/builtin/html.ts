/**
 * What every builtin page shares: brpc's text-or-HTML rule, the HTML layout with its
 * navigation bar, the one escaping helper every dynamic string of a page goes through, the
 * response headers (a strict Content-Security-Policy on HTML), and the markup of a
 * chartable variable.
 *
 * Stable markup for browser tests (and anyone scripting the pages):
 *
 * - `<body data-page="<tab>">` (`status`, `vars`, `connections`, `flags`, `index`, ...).
 * - `nav#tabs` holds one `a.tab` per page; the current one also has class `current`.
 * - `main#content` holds the page. On `/vars` it holds `input#searchbox` and `div#layer1`
 *   (the rows, replaced when the search changes).
 * - A chartable variable is `p.variable[data-var="<name>"]` (click it to show or hide its
 *   chart) holding `span#value-<name>` (the value, refreshed with the chart), followed by
 *   `div.detail` (`hidden` while closed) holding `div.chart#chart-<name>[data-var="<name>"]`.
 *   Once open, the chart script fetches `/vars/<name>?series` every second and redraws;
 *   uPlot puts a `<canvas>` inside `#chart-<name>`, and the script increments the chart's
 *   `data-updated` attribute ("0" at first) after every redraw. `p.variable.default-expand`
 *   opens by default (every variable with `?expand`). A variable without series is
 *   `p.nonplot-variable` with the same `span#value-<name>`.
 * - `table.gridtable` for tables (`/connections`, `/flags`, `/list`), with `id`s
 *   `server-connections`, `flags`, `services`.
 *
 * Variable names are brpc's underscored names (`[a-z0-9_]`), so `#chart-<name>` is a valid
 * CSS selector as is.
 */
import { CompressType } from "../protocol/compress.js";
import type { ServerContext } from "../server/context.js";
import type { Server } from "../server/server.js";
import { listBuiltins } from "./registry.js";

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * `s` with `& < > " '` replaced by entities: safe as element text and inside a quoted
 * attribute value. Every dynamic string of a page goes through this.
 */
export function escapeHtml(s: string | number): string {
  return String(s).replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

/**
 * brpc's `UseHTML`: plain text when `?console=<non-zero>` (or a bare `?console`), when the
 * request has no User-Agent or when it contains `curl/`; HTML otherwise (`?console=0`
 * forces HTML).
 */
export function useHtml(ctx: ServerContext): boolean {
  const http = ctx.http;
  if (http === undefined) return false;
  const console = http.query.get("console");
  if (console !== null) {
    if (console === "") return false;
    const n = Number.parseInt(console, 10);
    return Number.isNaN(n) || n === 0;
  }
  const ua = http.header("user-agent");
  if (ua === undefined) return false;
  return !ua.includes("curl/");
}

/** True if the query string has parameter `name` (with or without a value). */
export function hasQuery(ctx: ServerContext, name: string): boolean {
  return ctx.http?.query.has(name) ?? false;
}

/** The unresolved part of the URL path, percent-decoded when that is valid. */
export function unresolvedPath(ctx: ServerContext): string {
  const p = ctx.unresolvedPath;
  if (!p.includes("%")) return p;
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}

/**
 * Content-Security-Policy of every HTML page: scripts and styles only from this server's
 * own files (no inline script, no inline event handler can run), requests only back to it,
 * no framing, forms only to itself.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

function commonHeaders(ctx: ServerContext, contentType: string): void {
  const http = ctx.http;
  if (http === undefined) return;
  http.setHeader("Content-Type", contentType);
  http.setHeader("X-Content-Type-Options", "nosniff");
  http.setHeader("Cache-Control", "no-store");
}

/** Answer with `body` as text (UTF-8). Large answers are gzipped for clients that accept it. */
export function sendText(ctx: ServerContext, body: string, contentType = "text/plain; charset=utf-8"): void {
  commonHeaders(ctx, contentType);
  ctx.responseAttachment = body;
  ctx.responseCompressType = CompressType.GZIP; // when >= 512 bytes and accepted, as brpc's pages
}

/** Set the headers of an HTML answer (also for fragments such as `/vars?dataonly`). */
export function htmlHeaders(ctx: ServerContext): void {
  commonHeaders(ctx, "text/html; charset=utf-8");
  const http = ctx.http;
  if (http === undefined) return;
  http.setHeader("Content-Security-Policy", CONTENT_SECURITY_POLICY);
  http.setHeader("X-Frame-Options", "DENY");
  http.setHeader("Referrer-Policy", "no-referrer");
}

/** A full HTML page. */
export interface PageOptions {
  /** The tab of the navigation bar shown as current, and `body[data-page]`. */
  readonly tab: string;
  /** Text of `<title>` (escaped here). */
  readonly title: string;
  /** The page body (already HTML: build it with {@link escapeHtml}). */
  readonly body: string;
  /** Load uPlot and the chart script. */
  readonly charts?: boolean;
}

/** The navigation bar: a tab per builtin page that has one. */
function navBar(current: string): string {
  let s = '<nav id="tabs">';
  for (const e of listBuiltins()) {
    const tab = e.info.tab;
    if (tab === undefined) continue;
    const href = e.name === "index" ? "/" : `/${e.name}`;
    const cls = tab === current ? "tab current" : "tab";
    s += `<a class="${cls}" href="${escapeHtml(href)}">${escapeHtml(tab)}</a>`;
  }
  return `${s}</nav>\n`;
}

/** Answer with a full HTML page in the shared layout. */
export function sendPage(ctx: ServerContext, server: Server, page: PageOptions): void {
  htmlHeaders(ctx);
  let head =
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
    `<title>${escapeHtml(page.title)} - ${escapeHtml(serverName(server))}</title>\n` +
    '<link rel="icon" href="/favicon.ico">\n' +
    '<link rel="stylesheet" href="/js/brpc.css">\n';
  if (page.charts) {
    head +=
      '<link rel="stylesheet" href="/js/uplot.min.css">\n' +
      '<script src="/js/uplot.min.js" defer></script>\n' +
      '<script src="/js/brpc-charts.js" defer></script>\n';
  }
  ctx.responseAttachment =
    `${head}</head>\n<body data-page="${escapeHtml(page.tab)}">\n${navBar(page.tab)}` +
    `<main id="content">\n${page.body}</main>\n</body></html>\n`;
  ctx.responseCompressType = CompressType.GZIP;
}

/** "brpc-ts 127.0.0.1:8000" (what the title of a page names). */
function serverName(server: Server): string {
  try {
    return `brpc-ts ${server.address}`;
  } catch {
    return "brpc-ts";
  }
}

/** One variable line of `/status` and `/vars`. */
export interface VariableLine {
  /** Exposed name (the chart fetches `/vars/<name>?series`). */
  readonly name: string;
  /** Text before the value, e.g. `"count: "` or `"rpc_server_8000_x : "`. */
  readonly label: string;
  /** The value as text. */
  readonly value: string;
  /** The variable has a series: clickable, with a chart. */
  readonly plot: boolean;
  /** Open the chart when the page loads. */
  readonly expand?: boolean;
}

/** The markup of a variable line (see the top of this file). */
export function variableHtml(v: VariableLine): string {
  const name = escapeHtml(v.name);
  const id = name === "" ? "" : ` id="value-${name}"`;
  const value = `<span class="value"${id}>${escapeHtml(v.value)}</span>`;
  if (!v.plot || name === "") return `<p class="nonplot-variable">${escapeHtml(v.label)}${value}</p>\n`;
  const cls = v.expand ? "variable default-expand" : "variable";
  return (
    `<p class="${cls}" data-var="${name}">${escapeHtml(v.label)}${value}</p>\n` +
    `<div class="detail" hidden><div class="chart" id="chart-${name}" data-var="${name}" data-updated="0"></div></div>\n`
  );
}
