/**
 * brpc's `/vars` (src/brpc/builtin/vars_service.cpp): every exposed variable of
 * `defaultRegistry` as `name : value`; `/vars/NAME` or `/vars/rpc_server*;process_*`
 * (brpc's wildcards, `$` for one character since `?` starts the query) for some of them;
 * `/vars/NAME?series` for the chart JSON of one. In HTML a variable with a series is
 * clickable and shows a live chart; `?dataonly` gives just the rows (the search box uses
 * it), `?expand` opens every chart.
 */
import { ErrorCode } from "../errors/errno.js";
import { defaultRegistry } from "../metrics/registry.js";
import { DisplayFilter } from "../metrics/variable.js";
import type { ServerContext } from "../server/context.js";
import type { Server } from "../server/server.js";
import {
  escapeHtml,
  hasQuery,
  htmlHeaders,
  sendPage,
  sendText,
  unresolvedPath,
  useHtml,
  variableHtml,
} from "./html.js";

/** Answer `?series`: the chart JSON of one variable. */
function series(ctx: ServerContext, name: string): void {
  const json = defaultRegistry.seriesJson(name);
  if (json !== undefined) {
    ctx.http?.setHeader("Content-Type", "application/json");
    ctx.http?.setHeader("X-Content-Type-Options", "nosniff");
    ctx.http?.setHeader("Cache-Control", "no-store");
    ctx.responseAttachment = json;
    return;
  }
  if (defaultRegistry.getVariable(name) === undefined) {
    ctx.setFailed(ErrorCode.ENOMETHOD, `Fail to find any bvar by \`${name}'`);
  } else {
    ctx.setFailed(ErrorCode.ENODATA, `\`${name}' does not have value series`);
  }
}

/** The rows of the HTML page. */
function rowsHtml(names: readonly string[], expandSingle: boolean): string {
  let s = "";
  for (const name of names) {
    s += variableHtml({
      name,
      label: `${name} : `,
      value: defaultRegistry.describe(name, true) ?? "",
      plot: defaultRegistry.hasSeries(name),
      // One variable asked for by name: show its chart at once.
      expand: expandSingle && names.length === 1,
    });
  }
  return s;
}

/** `/vars[/filter][?series|?dataonly|?expand]`. */
export function varsService(ctx: ServerContext, server: Server): void {
  const filter = unresolvedPath(ctx);
  if (hasQuery(ctx, "series")) {
    series(ctx, filter);
    return;
  }
  const html = useHtml(ctx);
  const names = defaultRegistry.listVariables(filter, {
    display: html ? DisplayFilter.HTML : DisplayFilter.PLAIN_TEXT,
    questionMark: "$",
  });
  if (filter !== "" && names.length === 0) {
    ctx.setFailed(ErrorCode.ENOMETHOD, `Fail to find any bvar by \`${filter}'`);
    return;
  }
  if (!html) {
    let s = "";
    for (const name of names) s += `${name} : ${defaultRegistry.describe(name, true) ?? ""}\r\n`;
    sendText(ctx, s);
    return;
  }
  if (hasQuery(ctx, "dataonly")) {
    htmlHeaders(ctx);
    ctx.responseAttachment = rowsHtml(names, false);
    return;
  }
  const search = filter.replace(/[*;,]+/g, " ").trim();
  sendPage(ctx, server, {
    tab: "vars",
    title: filter === "" ? "vars" : `vars ${filter}`,
    charts: true,
    body:
      `<p>Search: <input id="searchbox" type="search" autocomplete="off" value="${escapeHtml(search)}"></p>\n` +
      `<div id="layer1">\n${rowsHtml(names, true)}</div>\n`,
  });
}
