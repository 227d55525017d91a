/**
 * brpc's `/` and `/index` (src/brpc/builtin/index_service.cpp): what each builtin page
 * shows, with links in HTML: the index lines every registered page gives
 * (`registerBuiltin(..., { index })`), so pages of other modules (`/rpcz`, `/hotspots`) are
 * listed when they are there.
 */
import type { ServerContext } from "../server/context.js";
import type { Server } from "../server/server.js";
import { escapeHtml, sendPage, sendText, useHtml } from "./html.js";
import { type IndexLine, listBuiltins } from "./registry.js";
import { serverVersion } from "./version.js";

function linesOf(server: Server): IndexLine[] {
  const lines: IndexLine[] = [];
  for (const e of listBuiltins()) {
    const own = e.info.index ?? [{ path: `/${e.name}`, text: "" }];
    lines.push(...own);
  }
  let address = "<address>";
  try {
    address = server.address;
  } catch {}
  lines.push({
    path: `curl -H 'Content-Type: application/json' -d 'JSON' ${address}/ServiceName/MethodName`,
    text: "Call method by http+json",
    link: false,
  });
  return lines;
}

/** `/` and `/index`. */
export function indexService(ctx: ServerContext, server: Server): void {
  const lines = linesOf(server);
  const version = serverVersion(server);
  if (!useHtml(ctx)) {
    let s = `brpc-ts server, version: ${version}\ngithub : https://github.com/apache/brpc (the C++ original)\n\n`;
    for (const l of lines) s += `${l.indent ? "  " : ""}${l.path}${l.text ? ` : ${l.text}` : ""}\n`;
    sendText(ctx, s);
    return;
  }
  let body = `<h3>brpc-ts server</h3>\n<p>version: <span id="version">${escapeHtml(version)}</span></p>\n<div id="index">\n`;
  for (const l of lines) {
    const path =
      l.link === false
        ? `<code>${escapeHtml(l.path)}</code>`
        : `<a href="${escapeHtml(l.path)}">${escapeHtml(l.path)}</a>`;
    body += `<p${l.indent ? ' class="indent"' : ""}>${path}${l.text ? ` : ${escapeHtml(l.text)}` : ""}</p>\n`;
  }
  sendPage(ctx, server, { tab: "index", title: "index", body: `${body}</div>\n` });
}
