/**
 * Per-channel transports of the HTTP client protocols: a node:http keep-alive Agent
 * (http: "pooled", one outstanding request per connection, or "short") and one
 * node:http2 session (h2, h2:grpc), reconnected after a failure. They stand in for the
 * channel's ConnectionSource, so `Channel.close()` closes them.
 */
import { Agent } from "node:http";
import { type ClientHttp2Session, connect as h2connect } from "node:http2";
import { connect as netConnect, type Socket } from "node:net";
import type { Authenticator } from "../../auth.js";
import type { ConnectionSource } from "../../client/channel-core.js";
import { ErrorCode } from "../../errors/errno.js";
import { RpcError } from "../../errors/rpc-error.js";
import { timers } from "../../io/timers.js";
import { log } from "../../log.js";
import type { Connection } from "../../transport/connection.js";
import { describeEndpoint } from "../../transport/connection.js";
import { type Endpoint, formatEndpoint } from "../../transport/endpoint.js";

/** brpc's default h2 client windows (`-h2_client_stream_window_size`, `..._connection_window_size`). */
const H2_STREAM_WINDOW = 256 * 1024;
const H2_CONNECTION_WINDOW = 1024 * 1024;

/** What a transport needs from the channel. */
export interface TransportOptions {
  endpoint: Endpoint;
  keepAliveMs: number;
  maxPoolSize: number;
  auth: Authenticator | undefined;
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
    this.agent =
      type === "pooled"
        ? new Agent({
            keepAlive: true,
            keepAliveMsecs: o.keepAliveMs > 0 ? o.keepAliveMs : 1000,
            maxFreeSockets: o.maxPoolSize,
          })
        : new Agent({ keepAlive: false });
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
  readonly #keepAliveMs: number;

  constructor(o: TransportOptions) {
    super(o);
    this.#keepAliveMs = o.keepAliveMs;
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
    const socket =
      ep.kind === "unix"
        ? netConnect({ path: ep.path })
        : netConnect({ host: ep.host, port: ep.port, noDelay: true });
    if (this.#keepAliveMs > 0) socket.setKeepAlive(true, this.#keepAliveMs);
    const authority = ep.kind === "unix" ? "http://localhost" : `http://${this.address}`;
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
    const c = this.#conn;
    this.#conn = undefined;
    if (c !== undefined) {
      c.dead = true;
      c.session.destroy();
    }
  }
}
