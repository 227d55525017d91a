/**
 * Per brpc-ts Server, one node:http and one node:http2 server that never listen: the
 * connections detected as HTTP/1.x or h2 on the server's port are handed to them
 * (`emit('connection', socket)`), so Node's own parsers, flow control and limits do the
 * protocol work. Each request is tied back to its brpc-ts {@link Connection}.
 *
 * h2 connections go to the builtin engine ({@link H2ServerConn}) unless
 * `ServerOptions.http.h2Engine` is "node"; its request / response objects stand in for
 * node's compat API ones in the HTTP and gRPC server code.
 */
import {
  createServer as createHttp1,
  type Server as Http1Server,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import {
  createServer as createH2,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from "node:http2";
import type { Socket } from "node:net";
import { log } from "../../log.js";
import type { Server } from "../../server/server.js";
import type { Connection } from "../../transport/connection.js";
import { handleGrpc } from "../grpc/server.js";
import type { H2Request, H2Response } from "../h2/compat.js";
import { H2ServerConn, type H2ServerConnOptions } from "../h2/server-conn.js";
import { isGrpcContentType } from "./content-type.js";
import { httpOptionsOf, onHttpOptionsChange, type ResolvedHttpOptions } from "./options.js";
import { serveHttp } from "./server-side.js";

const frontends = new WeakMap<Server, HttpFrontend>();

/** How often h2 sessions with open streams are checked for progress. */
const H2_SWEEP_MS = 1000;
/** A stalled session whose PING is not answered this fast is destroyed. */
const H2_PING_TIMEOUT_MS = 2000;

/** Liveness bookkeeping of one h2 session. */
interface SessionWatch {
  readonly session: ServerHttp2Session;
  readonly socket: Socket;
  lastIo: number;
  /** I/O count when the last PING was answered: one probe per quiet period. */
  probedIo: number;
  pinging: boolean;
}

/** The HTTP frontend of `server`, created on first use. */
export function frontendOf(server: Server): HttpFrontend {
  let f = frontends.get(server);
  if (f === undefined) {
    f = new HttpFrontend(server);
    frontends.set(server, f);
    onHttpOptionsChange(server, () => frontends.delete(server));
  }
  return f;
}

/** node:http and node:http2 servers fed with one brpc-ts server's connections. */
export class HttpFrontend {
  readonly server: Server;
  readonly options: ResolvedHttpOptions;
  readonly #http1: Http1Server;
  readonly #h2: Http2Server;
  /** HTTP/1 sockets -> their connections. */
  readonly #h1Conns = new WeakMap<Socket, Connection>();
  /** h2 sessions -> their connections. */
  readonly #h2Conns = new WeakMap<ServerHttp2Session, Connection>();
  /** The connection being handed to the h2 server ('session' fires synchronously). */
  #handingOver: Connection | undefined;
  /** Live HTTP/1 connections: Node's header-timeout checker runs only while there are some. */
  #h1Live = 0;
  readonly #sessions = new Set<SessionWatch>();
  #sweeper: NodeJS.Timeout | undefined;

  constructor(server: Server) {
    this.server = server;
    const o = httpOptionsOf(server);
    this.options = o;
    this.#h2Options = {
      maxConcurrentStreams: o.h2MaxConcurrentStreams,
      initialWindowSize: o.h2StreamWindowSize,
      connectionWindowSize: o.h2ConnectionWindowSize,
      maxHeaderListSize: o.maxHeaderSize,
    };
    const idleMs = server.options.idleTimeoutSec > 0 ? server.options.idleTimeoutSec * 1000 : 0;
    this.#http1 = createHttp1(
      {
        maxHeaderSize: o.maxHeaderSize,
        headersTimeout: o.headerTimeoutMs,
        requestTimeout: o.requestTimeoutMs,
        keepAliveTimeout: idleMs,
        // How often Node checks the header/request timeouts.
        connectionsCheckingInterval: Math.max(
          10,
          Math.min(1000, Math.floor((o.headerTimeoutMs || o.requestTimeoutMs || 4000) / 4)),
        ),
        // brpc does not insist on Host.
        requireHostHeader: false,
      },
      (req, res) => this.#onHttp1Request(req, res),
    );
    this.#http1.on("error", (err) => log.error("http server error", err));
    this.#h2 = createH2(
      {
        maxHeaderListPairs: 1 << 16,
        maxSessionMemory: 64,
        settings: {
          enablePush: false,
          initialWindowSize: o.h2StreamWindowSize,
          maxHeaderListSize: o.maxHeaderSize,
          ...(o.h2MaxConcurrentStreams > 0 ? { maxConcurrentStreams: o.h2MaxConcurrentStreams } : {}),
        },
      },
      (req, res) => this.#onH2Request(req, res),
    );
    this.#h2.on("session", (session: ServerHttp2Session) => this.#onSession(session));
    this.#h2.on("sessionError", (err: Error) => log.debug(`h2 session error: ${err.message}`));
    this.#h2.on("error", (err) => log.error("h2 server error", err));
    this.#h2.on("stream", (stream) => {
      const conn = this.#h2Conns.get(stream.session as ServerHttp2Session);
      if (conn !== undefined) conn.activity++;
    });
  }

  /**
   * Node 20's h2 sessions can wedge: after nghttp2 gave up on a session (a protocol
   * error, possibly with a GOAWAY), node neither destroys the session nor reads the
   * socket again, so not even the client's EOF is noticed (later nodes destroy it). Each
   * time a session goes quiet (no I/O for a sweep period) it gets one PING; a session
   * that cannot answer it in time is destroyed.
   */
  #watch(session: ServerHttp2Session, socket: Socket): void {
    const w: SessionWatch = { session, socket, lastIo: -1, probedIo: -1, pinging: false };
    this.#sessions.add(w);
    session.once("close", () => {
      this.#sessions.delete(w);
      if (this.#sessions.size === 0 && this.#sweeper !== undefined) {
        clearInterval(this.#sweeper);
        this.#sweeper = undefined;
      }
    });
    if (this.#sweeper === undefined) {
      this.#sweeper = setInterval(() => this.#sweep(), H2_SWEEP_MS);
      this.#sweeper.unref();
    }
  }

  #sweep(): void {
    for (const w of this.#sessions) {
      const io = w.socket.bytesRead + w.socket.bytesWritten;
      const quiet = io === w.lastIo;
      w.lastIo = io;
      if (!quiet || io === w.probedIo || w.pinging || w.session.destroyed) continue;
      w.pinging = true;
      const timer = setTimeout(() => {
        log.debug("h2 session does not answer PING: destroying it");
        w.session.destroy();
      }, H2_PING_TIMEOUT_MS);
      timer.unref();
      try {
        w.session.ping((err) => {
          clearTimeout(timer);
          w.pinging = false;
          w.probedIo = w.socket.bytesRead + w.socket.bytesWritten;
          w.lastIo = w.probedIo;
          if (err !== null && !w.session.destroyed) w.session.destroy();
        });
      } catch {
        clearTimeout(timer);
        w.session.destroy();
      }
    }
  }

  /** Serve `conn` (its socket paused, the bytes read so far pushed back) as HTTP/1.x. */
  acceptHttp1(conn: Connection): void {
    const socket = conn.socket;
    this.#h1Conns.set(socket, conn);
    if (this.#h1Live++ === 0) {
      // Starts Node's header/request timeout checks (normally started by listen()).
      this.#http1.emit("listening");
    }
    conn.watchFailure(() => {
      if (--this.#h1Live === 0) {
        // Stops the timeout checker (the server never listened: close() only does that).
        this.#http1.close(noop);
      }
    });
    this.#http1.emit("connection", socket);
    socket.resume();
  }

  /** Serve `conn` (its socket paused, the bytes read so far pushed back) as h2 with prior knowledge. */
  acceptH2(conn: Connection): void {
    if (this.options.h2Engine === "builtin") {
      new H2ServerConn(conn, this.#h2Options, this.#onBuiltinRequest).start();
      return;
    }
    const socket = conn.socket as Socket & { alpnProtocol?: string | false | null };
    // The h2 preface on TLS without ALPN (brpc detects it so): node's h2 server insists on ALPN "h2".
    if (socket.alpnProtocol === false) socket.alpnProtocol = "h2";
    this.#handingOver = conn;
    try {
      // Node's Http2Session reads the pushed-back bytes itself: do not resume.
      this.#h2.emit("connection", conn.socket);
    } finally {
      this.#handingOver = undefined;
    }
  }

  readonly #h2Options: H2ServerConnOptions;

  /** A request of the builtin engine (its objects stand in for node's compat API ones). */
  readonly #onBuiltinRequest = (conn: Connection, req: H2Request, res: H2Response): void => {
    const r = req as unknown as Http2ServerRequest;
    const s = res as unknown as Http2ServerResponse;
    if (isGrpcContentType(req.header("content-type"))) {
      handleGrpc(this.server, conn, r, s);
      return;
    }
    serveHttp(this.server, conn, r, s);
  };

  #onSession(session: ServerHttp2Session): void {
    const conn = this.#handingOver;
    if (conn === undefined) {
      session.destroy();
      return;
    }
    this.#h2Conns.set(session, conn);
    session.on("error", noop);
    try {
      session.setLocalWindowSize(this.options.h2ConnectionWindowSize);
    } catch (err) {
      log.debug("cannot set the h2 connection window", err);
    }
    conn.watchFailure(() => {
      if (!session.destroyed) session.destroy();
    });
    this.#watch(session, conn.socket);
  }

  #onHttp1Request(req: IncomingMessage, res: ServerResponse): void {
    const conn = this.#h1Conns.get(req.socket);
    if (conn === undefined || conn.failed) {
      req.socket.destroy();
      return;
    }
    conn.activity++;
    // brpc answers without a Date header.
    res.sendDate = false;
    serveHttp(this.server, conn, req, res);
  }

  #onH2Request(req: Http2ServerRequest, res: Http2ServerResponse): void {
    const conn = this.#h2Conns.get(req.stream.session as ServerHttp2Session);
    if (conn === undefined || conn.failed) {
      req.stream.destroy();
      return;
    }
    conn.activity++;
    res.sendDate = false;
    if (isGrpcContentType(req.headers["content-type"])) {
      handleGrpc(this.server, conn, req, res);
      return;
    }
    serveHttp(this.server, conn, req, res);
  }
}

function noop(): void {}
