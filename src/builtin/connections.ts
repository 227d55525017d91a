/**
 * brpc's `/connections` (src/brpc/builtin/connections_service.cpp): the connections of the
 * server (those of its internal port included) with their creation time, both ends, TLS,
 * protocol and the bytes and messages that went in and out; then the connections of
 * channels, when the client side lists them ({@link setChannelConnectionLister}).
 *
 * Rates are those of the last second and the last minute (sampled once a second while
 * the server's metrics are on, "-" before the first sample), as in brpc; InBytes and
 * OutBytes are totals since the connection was created.
 */
import type { ServerContext } from "../server/context.js";
import type { Server } from "../server/server.js";
import type { Connection } from "../transport/connection.js";
import { tlsInfoOf } from "../transport/tls.js";
import { escapeHtml, sendPage, sendText, useHtml } from "./html.js";

/** Connections shown at most per table unless `?givemeall` (brpc `-max_shown_connections`). */
export const MAX_SHOWN_CONNECTIONS = 1024;

let channelLister: (() => Iterable<Connection>) | undefined;

/** Let /connections list the connections of channels (the client side calls this once). */
export function setChannelConnectionLister(lister: (() => Iterable<Connection>) | undefined): void {
  channelLister = lister;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** brpc's `PrintRealDateTime`: local time as `2024/05/01-12:30:45.123000`. */
export function formatDateTime(ms: number): string {
  const d = new Date(ms);
  return (
    `${d.getFullYear()}/${pad2(d.getMonth() + 1)}/${pad2(d.getDate())}-` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.` +
    `${String(d.getMilliseconds()).padStart(3, "0")}000`
  );
}

interface Row {
  readonly cells: readonly string[];
  readonly id: number;
}

const COLUMNS: readonly [string, number][] = [
  ["CreatedTime", 26],
  ["RemoteSide", 19],
  ["Local", 19],
  ["SSL", 3],
  ["Protocol", 12],
  ["InBytes/s", 9],
  ["In/s", 6],
  ["InBytes/m", 10],
  ["In/m", 8],
  ["OutBytes/s", 10],
  ["Out/s", 6],
  ["OutBytes/m", 10],
  ["Out/m", 8],
  ["InBytes", 10],
  ["OutBytes", 10],
  ["Inflight", 8],
  ["Id", 0],
];

function rowOf(c: Connection): Row {
  const tls = tlsInfoOf(c) !== undefined;
  let protocol = c.protocol?.name ?? "-";
  if (protocol === "h2" && !tls) protocol = "h2c";
  const r = c.rates;
  const rate = (v: number | undefined) => (v === undefined ? "-" : String(v));
  return {
    id: c.id,
    cells: [
      formatDateTime(c.createdAt),
      c.remoteSide,
      c.localSide,
      tls ? "Yes" : "No",
      protocol,
      rate(r?.inBytesSecond),
      rate(r?.inMessagesSecond),
      rate(r?.inBytesMinute),
      rate(r?.inMessagesMinute),
      rate(r?.outBytesSecond),
      rate(r?.outMessagesSecond),
      rate(r?.outBytesMinute),
      rate(r?.outMessagesMinute),
      String(c.bytesIn),
      String(c.bytesOut),
      String(c.role === "server" ? c.inflight : c.pending.size),
      String(c.id),
    ],
  };
}

function textTable(rows: readonly Row[]): string {
  if (rows.length === 0) return "";
  const line = (cells: readonly string[]) =>
    cells.map((v, i) => (i === cells.length - 1 ? v : v.padEnd(COLUMNS[i]?.[1] ?? 0))).join("|");
  let s = `${line(COLUMNS.map(([name]) => name))}\n`;
  for (const r of rows) s += `${line(r.cells)}\n`;
  return s;
}

function htmlTable(rows: readonly Row[], id: string): string {
  if (rows.length === 0) return "";
  let s = `<table class="gridtable" id="${id}"><tr>`;
  for (const [name] of COLUMNS) s += `<th>${escapeHtml(name)}</th>`;
  s += "</tr>\n";
  for (const r of rows) {
    s += `<tr id="connection-${r.id}">`;
    for (const v of r.cells) s += `<td>${escapeHtml(v)}</td>`;
    s += "</tr>\n";
  }
  return `${s}</table>\n`;
}

function rowsOf(conns: Iterable<Connection>, max: number): { rows: Row[]; total: number; more: boolean } {
  const rows: Row[] = [];
  let total = 0;
  for (const c of conns) {
    if (c.failed) continue;
    total++;
    if (rows.length < max) rows.push(rowOf(c));
  }
  rows.sort((a, b) => a.id - b.id);
  return { rows, total, more: total > rows.length };
}

/** `/connections` (`?givemeall` lifts the limit of 1024 rows per table). */
export function connectionsService(ctx: ServerContext, server: Server): void {
  const html = useHtml(ctx);
  const max = ctx.http?.query.has("givemeall") ? Number.POSITIVE_INFINITY : MAX_SHOWN_CONNECTIONS;
  const mine = rowsOf(server.connections, max);
  const channels = channelLister === undefined ? undefined : rowsOf(channelLister(), max);
  const moreText =
    'Stopped printing more connections... check out all connections by appending "?givemeall" to the url of current page';
  if (!html) {
    let s = `server_connection_count: ${server.connections.size}\n${textTable(mine.rows)}`;
    if (mine.more) s += `(${moreText})\n`;
    if (channels !== undefined) {
      s += `\nchannel_connection_count: ${channels.total}\n${textTable(channels.rows)}`;
      if (channels.more) s += `(${moreText})\n`;
    }
    sendText(ctx, s);
    return;
  }
  let body =
    `<p>server_connection_count: <span id="server-connection-count">${server.connections.size}</span></p>\n` +
    htmlTable(mine.rows, "server-connections");
  if (mine.more) body += `<p class="muted">${escapeHtml(moreText)}</p>\n`;
  if (channels !== undefined) {
    body +=
      `<p>channel_connection_count: <span id="channel-connection-count">${channels.total}</span></p>\n` +
      htmlTable(channels.rows, "channel-connections");
    if (channels.more) body += `<p class="muted">${escapeHtml(moreText)}</p>\n`;
  }
  sendPage(ctx, server, { tab: "connections", title: "connections", body });
}
