/**
 * Per-channel transports of the HTTP client protocols: a node:http keep-alive Agent
 * (http: "pooled", one outstanding request per connection, or "short") and one
 * HTTP/2 session (h2, h2:grpc) — the builtin engine's H2ClientConn or a node:http2
 * session (ChannelOptions.h2Engine) — reconnected after a failure. They stand in for the
 * channel's ConnectionSource, so `Channel.close()` closes them.
 */
import { Agent, type AgentOptions, type ClientRequestArgs } from "node:http";
import { type ClientHttp2Session, connect as h2connect } from "node:http2";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Authenticator } from "../../auth.js";
import type { ConnectionSource } from "../../client/channel-core.js";
import { ErrorCode } from "../../errors/errno.js";
import { RpcError } from "../../errors/rpc-error.js";
import { timers } from "../../io/timers.js";
import { log } from "../../log.js";
import type { Connection } from "../../transport/connection.js";
import { describeEndpoint } from "../../transport/connection.js";
import { type Endpoint, formatEndpoint } from "../../transport/endpoint.js";
import { type ClientTlsOptions, tlsConnectOptions } from "../../transport/tls.js";
import { H2ClientConn } from "../h2/client-session.js";

/** brpc's default h2 client windows (`-h2_client_stream_window_size`, `..._connection_window_size`). */
const H2_STREAM_WINDOW = 256 * 1024;
const H2_CONNECTION_WINDOW = 1024 * 1024;

/**
 * The HTTP/2 engine of h2 channels unless ChannelOptions.h2Engine says otherwise:
 * "builtin", or "node" when the environment variable BRPC_TS_H2_ENGINE is "node".
 */
export const DEFAULT_H2_ENGINE: "builtin" | "node" =
  process.env.BRPC_TS_H2_ENGINE === "node" ? "node" : "builtin";

/** What a transport needs from the channel. */
export interface TransportOptions {
  endpoint: Endpoint;
  keepAliveMs: number;
  maxPoolSize: number;
  auth: Authenticator | undefined;
  /** Connect with TLS (ALPN "http/1.1" or "h2" unless the options choose). */
  tls?: ClientTlsOptions | undefined;
  /** HTTP/2 implementation of h2 channels (see ChannelOptions.h2Engine). */
  h2Engine?: "builtin" | "node" | undefined;
}

/** A TLS socket to `ep` offering `alpn`. */
function connectTls(tls: ClientTlsOptions, ep: Endpoint, alpn: string): Socket {
  return tlsConnect({
    ...tlsConnectOptions(tls, ep.kind === "tcp" ? ep.host : undefined, [alpn]),
    ...(ep.kind === "unix" ? { path: ep.path } : { host: ep.host, port: ep.port }),
  });
}

/**
 * A node:http Agent whose connections are TLS: requests stay plain `http.request`s
 * (protocol "http:") while the bytes go over TLS, so the HTTP/1 attempt code is shared.
 */
class TlsAgent extends Agent {
  readonly #tls: ClientTlsOptions;
  readonly #endpoint: Endpoint;

  constructor(options: AgentOptions, tls: ClientTlsOptions, endpoint: Endpoint) {
    super(options);
    this.#tls = tls;
    this.#endpoint = endpoint;
  }

  override createConnection(_options: ClientRequestArgs): Socket {
    const s = connectTls(this.#tls, this.#endpoint, "http/1.1");
    s.setNoDelay(true);
    return s;
  }
}

/** Base of the HTTP transports: a ConnectionSource that hands out no Connection. */
export abstract class HttpTransport implements ConnectionSource {
  readonly endpoint: Endpoint;
  /** "host:port" or "unix:path". */
  readonly address: string;
  readonly auth: Authenticator | undefined;
  closed = false;

  constructor(o: TransportOptions) {
    this.endpoint = o.endpoint;
    this.address = formatEndpoint(o.endpoint);
    this.auth = o.auth;
  }

  ready(): undefined {
    return undefined;
  }

  acquire(): Promise<Connection> {
    return Promise.reject(new RpcError(ErrorCode.EINVAL, "HTTP channels have no brpc connections"));
  }

  release(): void {}

  abstract close(): void;
}

/** HTTP/1.1: a keep-alive Agent ("pooled") or a connection per request ("short"). */
export class Http1Transport extends HttpTransport {
  readonly agent: Agent;

  constructor(o: TransportOptions, type: "pooled" | "short") {
    super(o);
    const options: AgentOptions =
      type === "pooled"
        ? {
            keepAlive: true,
            keepAliveMsecs: o.keepAliveMs > 0 ? o.keepAliveMs : 1000,
            maxFreeSockets: o.maxPoolSize,
          }
        : { keepAlive: false };
    this.agent = o.tls !== undefined ? new TlsAgent(options, o.tls, o.endpoint) : new Agent(options);
  }

  close(): void {
    this.closed = true;
    this.agent.destroy();
  }
}

/** An h2 session and what the transport tracks about it. */
export class H2Conn {
  readonly session: ClientHttp2Session;
  readonly socket: Socket;
  connected = false;
  /** Set when the session must not take new streams (GOAWAY, error, close). */
  dead = false;
  /** Streams open on it; the session keeps the process alive only while > 0. */
  active = 0;
  remoteSide: string;
  localSide = "";

  constructor(session: ClientHttp2Session, socket: Socket, address: string) {
    this.session = session;
    this.socket = socket;
    this.remoteSide = address;
  }

  /** A stream started on the session. */
  streamOpened(): void {
    if (this.active++ === 0) this.session.ref();
  }

  /** A stream of the session closed. */
  streamClosed(): void {
    if (--this.active === 0 && !this.session.destroyed) this.session.unref();
  }
}

/** h2 / h2:grpc: one session per channel, created on first use and after a failure. */
export class H2Transport extends HttpTransport {
  #conn: H2Conn | undefined = undefined;
  #builtin: H2ClientConn | undefined = undefined;
  readonly #keepAliveMs: number;
  readonly #tls: ClientTlsOptions | undefined;
  /** Calls run on the builtin HTTP/2 engine (else node:http2). */
  readonly builtin: boolean;

  constructor(o: TransportOptions) {
    super(o);
    this.#keepAliveMs = o.keepAliveMs;
    this.#tls = o.tls;
    this.builtin = (o.h2Engine ?? DEFAULT_H2_ENGINE) === "builtin";
  }

  /** Builtin engine: the connection to open a stream on, connecting (within `connectTimeoutMs`) if needed. */
  builtinConn(connectTimeoutMs: number): H2ClientConn {
    const c = this.#builtin;
    if (c?.usable) return c;
    const next = this.#connectBuiltin(connectTimeoutMs);
    this.#builtin = next;
    return next;
  }

  /** A new socket to the endpoint (TLS with ALPN "h2" when configured), no delay, keepalive. */
  #socket(): Socket {
    const ep = this.endpoint;
    const tls = this.#tls;
    const socket =
      tls !== undefined
        ? connectTls(tls, ep, "h2")
        : ep.kind === "unix"
          ? netConnect({ path: ep.path })
          : netConnect({ host: ep.host, port: ep.port, noDelay: true });
    if (tls !== undefined) socket.setNoDelay(true);
    if (this.#keepAliveMs > 0) socket.setKeepAlive(true, this.#keepAliveMs);
    return socket;
  }

  #connectBuiltin(connectTimeoutMs: number): H2ClientConn {
    const ep = this.endpoint;
    const tls = this.#tls;
    const socket = this.#socket();
    const addr = this.address;
    const conn = new H2ClientConn(socket, {
      address: addr,
      scheme: tls !== undefined ? "https" : "http",
      authority: ep.kind === "unix" ? "localhost" : addr,
      streamWindow: H2_STREAM_WINDOW,
      connectionWindow: H2_CONNECTION_WINDOW,
      onUnusable: (c) => {
        if (this.#builtin === c) this.#builtin = undefined;
      },
    });
    const timer = timers.after(
      Math.max(0, connectTimeoutMs),
      () => {
        if (!conn.connected) conn.fail(ErrorCode.ETIMEDOUT, `Fail to connect ${addr}: Connection timed out`);
      },
      undefined,
    );
    socket.once(tls !== undefined ? "secureConnect" : "connect", () => {
      timers.cancel(timer);
      const alpn = tls !== undefined ? (socket as import("node:tls").TLSSocket).alpnProtocol : false;
      if (alpn !== false && alpn !== "h2" && alpn !== null && alpn !== undefined) {
        conn.fail(ErrorCode.EFAILEDSOCKET, `Fail to connect ${addr}: the server did not select h2 (ALPN)`);
        return;
      }
      const path = ep.kind === "unix" ? ep.path : undefined;
      conn.markConnected(
        describeEndpoint(socket.remoteAddress, socket.remotePort, path),
        describeEndpoint(socket.localAddress, socket.localPort, path),
      );
    });
    socket.once("close", () => timers.cancel(timer));
    if (this.closed) conn.close();
    return conn;
  }

  /** The session to open a stream on, connecting (within `connectTimeoutMs`) if needed. */
  conn(connectTimeoutMs: number): H2Conn {
    const c = this.#conn;
    if (c !== undefined && !c.dead && !c.session.destroyed && !c.session.closed) return c;
    const next = this.#connect(connectTimeoutMs);
    this.#conn = next;
    return next;
  }

  #connect(connectTimeoutMs: number): H2Conn {
    const ep = this.endpoint;
    const tls = this.#tls;
    const socket = this.#socket();
    const scheme = tls !== undefined ? "https" : "http";
    const authority = ep.kind === "unix" ? `${scheme}://localhost` : `${scheme}://${this.address}`;
    const session = h2connect(authority, {
      createConnection: () => socket,
      settings: { enablePush: false, initialWindowSize: H2_STREAM_WINDOW },
    });
    const conn = new H2Conn(session, socket, this.address);
    const addr = this.address;
    const timer = timers.after(
      Math.max(0, connectTimeoutMs),
      () => {
        if (conn.connected || session.destroyed) return;
        session.destroy(new RpcError(ErrorCode.ETIMEDOUT, `Fail to connect ${addr}: Connection timed out`));
      },
      undefined,
    );
    const drop = () => {
      conn.dead = true;
      timers.cancel(timer);
      if (this.#conn === conn) this.#conn = undefined;
    };
    session.once("connect", () => {
      timers.cancel(timer);
      conn.connected = true;
      conn.remoteSide = describeEndpoint(
        socket.remoteAddress,
        socket.remotePort,
        ep.kind === "unix" ? ep.path : undefined,
      );
      conn.localSide = describeEndpoint(
        socket.localAddress,
        socket.localPort,
        ep.kind === "unix" ? ep.path : undefined,
      );
      try {
        session.setLocalWindowSize(H2_CONNECTION_WINDOW);
      } catch (err) {
        log.debug(`h2 session to ${addr}: cannot set the connection window`, err);
      }
    });
    session.on("error", (err: Error) => {
      log.debug(`h2 session to ${addr} failed: ${err.message}`);
      drop();
    });
    session.once("goaway", drop);
    session.once("close", drop);
    // Idle sessions do not keep the process alive (as node:http's free sockets).
    session.unref();
    if (this.closed) session.destroy();
    return conn;
  }

  close(): void {
    this.closed = true;
    const b = this.#builtin;
    this.#builtin = undefined;
    b?.close();
    const c = this.#conn;
    this.#conn = undefined;
    if (c !== undefined) {
      c.dead = true;
      c.session.destroy();
    }
  }
}
