/**
 * TLS on a server port, detected like brpc's `DetectSSLState`: when the server has a
 * `tls` option, a connection whose first bytes are a TLS handshake record (0x16 0x03 ...)
 * is handed to the server's node:tls server (never listening) for the handshake. After
 * it, by ALPN: "h2" goes to the h2 frontend (gRPC, HTTP over h2), "http/1.1" to the
 * HTTP/1 frontend, and no ALPN restarts protocol detection on the decrypted bytes, so
 * baidu_std, streaming RPC (and HTTP without ALPN) work over TLS as in brpc.
 */
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { ErrorCode } from "../../errors/errno.js";
import { log } from "../../log.js";
import type { Server } from "../../server/server.js";
import type { Connection } from "../../transport/connection.js";
import type { TlsServer } from "../../transport/tls.js";
import { frontendOf } from "../http/frontend.js";
import { ParseError, type Protocol } from "../protocol.js";

/** TLS record type of handshake messages. */
const HANDSHAKE = 0x16;

/**
 * Parse result for the start of a TLS handshake record at `buf[off, end)` (TAKE_OVER as
 * soon as it is one, so a stalled partial ClientHello meets the handshake timeout).
 */
export function parseTlsStart(buf: Buffer, off: number, end: number): number {
  if (buf[off] !== HANDSHAKE) return ParseError.TRY_OTHERS;
  if (end - off >= 2 && buf[off + 1] !== 0x03) return ParseError.TRY_OTHERS;
  return ParseError.TAKE_OVER;
}

/** The server of a server connection, when it accepts TLS and the connection is fresh plain. */
function tlsServerFor(conn: Connection): TlsServer | undefined {
  if (conn.messagesIn !== 0 || conn.state.tls !== undefined) return undefined;
  return (conn.state.server as Server | undefined)?.tlsServer;
}

/** TLS on a server port (only when the server has a `tls` option). */
export const tlsProtocol: Protocol = {
  name: "tls",
  parse(buf, off, end, conn) {
    if (buf[off] !== HANDSHAKE || tlsServerFor(conn) === undefined) return ParseError.TRY_OTHERS;
    return parseTlsStart(buf, off, end);
  },
  processRequest(_buf, _off, _len, conn) {
    conn.fail(ErrorCode.EINTERNAL, "tls: unexpected frame");
  },
  takeOver(conn) {
    const server = conn.state.server as Server | undefined;
    const ts = server?.tlsServer;
    if (server === undefined || ts === undefined) {
      conn.fail(ErrorCode.EINTERNAL, "tls: not a TLS server connection");
      return;
    }
    acceptorOf(server, ts).accept(conn);
  },
};

const acceptors = new WeakMap<TlsServer, TlsAcceptor>();

function acceptorOf(server: Server, ts: TlsServer): TlsAcceptor {
  let a = acceptors.get(ts);
  if (a === undefined) {
    a = new TlsAcceptor(server, ts);
    acceptors.set(ts, a);
  }
  return a;
}

/** Runs the handshakes of one server's TLS connections and dispatches them afterwards. */
class TlsAcceptor {
  readonly #server: Server;
  readonly #ts: TlsServer;
  /** Raw sockets in handshake -> their connections. */
  readonly #handshaking = new WeakMap<Socket, Connection>();

  constructor(server: Server, ts: TlsServer) {
    this.#server = server;
    this.#ts = ts;
    ts.on("secureConnection", (t: TLSSocket) => this.#onSecure(t));
    ts.on("tlsClientError", (err: Error, t: TLSSocket) => this.#onHandshakeError(err, t));
    ts.on("error", (err: Error) => log.error("tls server error", err));
  }

  /** Start the handshake on `conn` (its socket paused, the bytes read so far pushed back). */
  accept(conn: Connection): void {
    conn.state.tls = true;
    this.#handshaking.set(conn.socket, conn);
    // Like https.Server: node:tls wraps the socket (it reads the pushed-back bytes itself).
    this.#ts.emit("connection", conn.socket);
  }

  /** The connection whose raw socket `t` wraps (node sets `_parent` on sockets wrapping a net.Socket). */
  #take(t: TLSSocket): Connection | undefined {
    const raw = (t as unknown as { _parent?: Socket })._parent;
    if (raw === undefined) return undefined;
    const conn = this.#handshaking.get(raw);
    this.#handshaking.delete(raw);
    return conn;
  }

  #onSecure(t: TLSSocket): void {
    const conn = this.#take(t);
    if (conn === undefined || conn.failed) {
      if (conn === undefined) log.error("tls: a handshake finished on an unknown connection");
      t.destroy();
      return;
    }
    const alpn = t.alpnProtocol;
    // What was negotiated (the h2 frontend may label a TLS socket without ALPN "h2").
    conn.state.tlsAlpn = alpn;
    if (alpn === "h2" || alpn === "http/1.1") {
      conn.adoptSocket(t, false);
      const f = frontendOf(this.#server);
      if (alpn === "h2") f.acceptH2(conn);
      else f.acceptHttp1(conn);
      return;
    }
    // No ALPN (brpc clients): detect baidu_std, streaming RPC, HTTP ... on the plaintext.
    conn.adoptSocket(t, true);
    t.resume();
  }

  #onHandshakeError(err: Error, t: TLSSocket): void {
    const conn = this.#take(t);
    const code = (err as { code?: unknown }).code;
    const timedOut = code === "ERR_TLS_HANDSHAKE_TIMEOUT";
    const remote = conn?.remoteSide ?? `${t.remoteAddress}:${t.remotePort}`;
    const rejected = t.authorizationError as unknown;
    const why = timedOut
      ? "timed out"
      : rejected !== null && rejected !== undefined
        ? `failed: client certificate rejected (${String(rejected)})`
        : `failed: ${reasonOf(err)}`;
    const text = `Close ${remote}: TLS handshake ${why}`;
    // Handshakes cut short by close() / stop() are not the peer's fault.
    if (conn?.failed === true && conn.errorCode === ErrorCode.EUNUSED) log.debug(text);
    else log.warn(text);
    if (conn !== undefined) conn.fail(timedOut ? ErrorCode.ETIMEDOUT : ErrorCode.ESSL, text);
    if (!t.destroyed) t.destroy();
  }
}

/** OpenSSL's reason ("peer did not return a certificate") rather than its whole error line. */
function reasonOf(err: Error): string {
  const reason = (err as { reason?: unknown }).reason;
  if (typeof reason === "string" && reason !== "") return reason;
  const i = err.message.indexOf("\n");
  return (i < 0 ? err.message : err.message.slice(0, i)).trim();
}
