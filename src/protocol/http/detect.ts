/**
 * Detection of HTTP/1.x and h2 (prior knowledge) on a server port (brpc's http and h2
 * parsers, protocol indices 8 and 27): both take over the connection and hand it to the
 * server's {@link HttpFrontend}.
 */
import { METHODS } from "node:http";
import { ErrorCode } from "../../errors/errno.js";
import type { Server } from "../../server/server.js";
import type { Connection } from "../../transport/connection.js";
import { ParseError, type Protocol } from "../protocol.js";
import { frontendOf } from "./frontend.js";

/** Request-line starts ("GET ", "POST ", ...): every method node's parser accepts except h2's "PRI". */
const STARTS: readonly Buffer[] = METHODS.filter((m) => m !== "PRI").map((m) =>
  Buffer.from(`${m} `, "latin1"),
);

/** The h2 client connection preface (RFC 9113 §3.4). */
export const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** Parse result for a request line start at `buf[off, end)`. */
export function parseHttp1Start(buf: Buffer, off: number, end: number): number {
  const n = end - off;
  let prefix = false;
  for (const s of STARTS) {
    const m = n < s.length ? n : s.length;
    let i = 0;
    while (i < m && buf[off + i] === s[i]) i++;
    if (i < m) continue;
    if (m === s.length) return ParseError.TAKE_OVER;
    prefix = true;
  }
  return prefix ? ParseError.NOT_ENOUGH_DATA : ParseError.TRY_OTHERS;
}

/** Parse result for the h2 preface at `buf[off, end)`. */
export function parseH2Preface(buf: Buffer, off: number, end: number): number {
  const n = end - off;
  const m = n < H2_PREFACE.length ? n : H2_PREFACE.length;
  for (let i = 0; i < m; i++) if (buf[off + i] !== H2_PREFACE[i]) return ParseError.TRY_OTHERS;
  return m < H2_PREFACE.length ? ParseError.NOT_ENOUGH_DATA : ParseError.TAKE_OVER;
}

/**
 * Only a connection's first bytes may switch it to HTTP: once it carried baidu_std or
 * streaming frames, answers to those may still be on their way into the same socket.
 */
function fresh(conn: Connection): boolean {
  return conn.messagesIn === 0 && conn.inflight === 0;
}

function serverOf(conn: Connection): Server | undefined {
  return conn.state.server as Server | undefined;
}

function neverCalled(_buf: Buffer, _off: number, _len: number, conn: Connection): void {
  // parse() never returns a frame length: the connection is taken over instead.
  conn.fail(ErrorCode.EINTERNAL, "http: unexpected frame");
}

/** HTTP/1.x on a server port. */
export const httpProtocol: Protocol = {
  name: "http",
  parse: (buf, off, end, conn) => (fresh(conn) ? parseHttp1Start(buf, off, end) : ParseError.TRY_OTHERS),
  processRequest: neverCalled,
  takeOver(conn) {
    const server = serverOf(conn);
    if (server === undefined) {
      conn.fail(ErrorCode.EINTERNAL, "http: not a server connection");
      return;
    }
    frontendOf(server).acceptHttp1(conn);
  },
};

/** h2 with prior knowledge (h2c) on a server port. */
export const h2Protocol: Protocol = {
  name: "h2",
  parse: (buf, off, end, conn) => (fresh(conn) ? parseH2Preface(buf, off, end) : ParseError.TRY_OTHERS),
  processRequest: neverCalled,
  takeOver(conn) {
    const server = serverOf(conn);
    if (server === undefined) {
      conn.fail(ErrorCode.EINTERNAL, "h2: not a server connection");
      return;
    }
    frontendOf(server).acceptH2(conn);
  },
};
