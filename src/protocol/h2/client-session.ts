/**
 * The client side of the builtin HTTP/2 engine: one {@link H2Session} (role client) over a
 * net.Socket or a TLS socket (ALPN "h2"), carrying the streams of {@link H2ClientStreamUser}s
 * (the h2 attempts of calls). Frames of every call issued in the same tick go out in one
 * socket write (the session batches its output until a microtask flush).
 *
 * Failures: a socket error or close, or a connection error of the session, fails every
 * stream once (`onConnFailure`); a GOAWAY stops new streams (the transport opens a new
 * connection), streams above its last stream id are failed as refused (retryable).
 * SETTINGS_MAX_CONCURRENT_STREAMS is respected by queueing streams until one closes.
 */

import type { Socket } from "node:net";
import { ErrorCode, errnoFromNodeError } from "../../errors/errno.js";
import { IdMap } from "../../io/id-map.js";
import { log } from "../../log.js";
import { H2Default, type H2Error, H2ErrorCode } from "./frame.js";
import { type H2Handler, H2Session } from "./session.js";

/** What a stream's owner (an attempt) receives from the connection. */
export interface H2ClientStreamUser {
  /** The connection has room: open the stream now (`conn.open`). */
  startOn(conn: H2ClientConn): void;
  onHeaders(headers: string[], endStream: boolean): void;
  onData(data: Buffer, endStream: boolean): void;
  /** The stream was reset by the peer (or after a stream error). */
  onReset(code: number): void;
  /** The connection failed (or refused the stream): fail the attempt, retryable. */
  onConnFailure(code: number, text: string): void;
  /** Queued request DATA was sent. */
  onDrain(): void;
  /** The stream is closed and forgotten by the session. */
  onClosed(): void;
  /** The attempt is over (queued users that ended are skipped). */
  readonly over: boolean;
}

/** Options of a client connection. */
export interface H2ClientConnOptions {
  /** "host:port" / "unix:path" for error texts. */
  address: string;
  /** `:scheme` and `:authority` of requests. */
  scheme: string;
  authority: string;
  /** Each stream's receive window (SETTINGS_INITIAL_WINDOW_SIZE). */
  streamWindow: number;
  /** Connection receive window. */
  connectionWindow: number;
  /** Called once when the connection can take no new streams (dead, GOAWAY). */
  onUnusable(conn: H2ClientConn): void;
}

/** One HTTP/2 client connection of the builtin engine. */
export class H2ClientConn implements H2Handler {
  readonly session: H2Session;
  readonly socket: Socket;
  readonly scheme: string;
  readonly authority: string;
  readonly address: string;
  connected = false;
  remoteSide: string;
  localSide = "";
  /** No new streams (GOAWAY, error, close). */
  dead = false;
  readonly #users = new IdMap<H2ClientStreamUser>(16);
  /** Users waiting for a free stream slot (MAX_CONCURRENT_STREAMS). */
  #waiting: H2ClientStreamUser[] = [];
  #waitHead = 0;
  #failed = false;
  #failCode = 0;
  #failText = "";
  /** Last stream id of a received GOAWAY (streams above were refused). */
  #goawayLast = H2Default.MAX_STREAM_ID;
  #refed = false;
  readonly #onUnusable: (conn: H2ClientConn) => void;
  readonly #write = (bufs: Buffer[]): void => {
    const s = this.socket;
    if (s.destroyed) return;
    if (bufs.length === 1) {
      s.write(bufs[0] as Buffer);
      return;
    }
    s.cork();
    for (const b of bufs) s.write(b);
    s.uncork();
  };

  constructor(socket: Socket, o: H2ClientConnOptions) {
    this.socket = socket;
    this.scheme = o.scheme;
    this.authority = o.authority;
    this.address = o.address;
    this.remoteSide = o.address;
    this.#onUnusable = o.onUnusable;
    this.session = new H2Session({
      role: "client",
      write: this.#write,
      handler: this,
      initialWindowSize: o.streamWindow,
      connectionWindowSize: o.connectionWindow,
      maxConcurrentStreams: 100,
    });
    socket.on("data", (d: Buffer) => this.session.receive(d));
    socket.on("error", (err: Error) => this.#socketError(err));
    socket.on("close", () => this.#socketClosed());
    this.session.start();
    socket.unref();
  }

  /** Can take new streams (possibly after waiting for a slot). */
  get usable(): boolean {
    return !this.dead && !this.#failed && !this.session.destroyed && !this.session.goawayReceived;
  }

  /** Number of streams open or waiting. */
  get load(): number {
    return this.#users.size + this.#waiting.length - this.#waitHead;
  }

  /** The socket connected (TLS: handshake done). */
  markConnected(remoteSide: string, localSide: string): void {
    this.connected = true;
    this.remoteSide = remoteSide;
    this.localSide = localSide;
  }

  /**
   * Start `u`'s stream now (`u.startOn(this)`) or once a slot frees. Fails `u` at once
   * when the connection already failed.
   */
  enqueue(u: H2ClientStreamUser): void {
    if (this.#failed) {
      u.onConnFailure(this.#failCode, this.#failText);
      return;
    }
    if (this.#waiting.length === this.#waitHead && this.session.canRequest()) {
      u.startOn(this);
      return;
    }
    this.#waiting.push(u);
    this.#ref();
  }

  /**
   * Open a stream for `u` with `headers` (flat, lower-case, pseudo-headers first).
   * Returns the stream id, or 0 when the session cannot open one (then `u` was failed).
   */
  open(u: H2ClientStreamUser, headers: readonly string[], endStream: boolean): number {
    const s = this.session;
    if (!s.canRequest()) {
      if (this.#failed) u.onConnFailure(this.#failCode, this.#failText);
      else if (this.usable && s.activeStreams < s.peerSettings.maxConcurrentStreams) {
        // Only the stream ids ran out: the next attempt opens a new connection.
        this.#unusable();
        u.onConnFailure(ErrorCode.EH2RUNOUTSTREAMS, `Fail to allocate stream_id on ${this.address}`);
      } else if (this.usable) {
        this.#waiting.push(u);
        this.#ref();
      } else u.onConnFailure(ErrorCode.EFAILEDSOCKET, `h2 session to ${this.address} is closing`);
      return 0;
    }
    const id = s.request(headers, endStream);
    this.#users.set(id, u);
    this.#ref();
    return id;
  }

  #ref(): void {
    if (!this.#refed) {
      this.#refed = true;
      this.socket.ref();
    }
  }

  #unrefIfIdle(): void {
    if (this.#refed && this.load === 0) {
      this.#refed = false;
      this.socket.unref();
    }
  }

  #unusable(): void {
    if (this.dead) return;
    this.dead = true;
    this.#onUnusable(this);
  }

  /** Start waiting users while slots are free. */
  #startWaiting(): void {
    while (this.#waitHead < this.#waiting.length && this.session.canRequest()) {
      const u = this.#waiting[this.#waitHead] as H2ClientStreamUser;
      this.#waiting[this.#waitHead++] = undefined as unknown as H2ClientStreamUser;
      if (!u.over) u.startOn(this);
    }
    if (this.#waitHead === this.#waiting.length) {
      this.#waiting = [];
      this.#waitHead = 0;
    }
  }

  // ---- H2Handler ---------------------------------------------------------------------

  #user(id: number): H2ClientStreamUser | undefined {
    return this.#users.get(id);
  }

  onHeaders(id: number, headers: string[], endStream: boolean): void {
    this.#user(id)?.onHeaders(headers, endStream);
  }

  onData(id: number, data: Buffer, endStream: boolean): void {
    const u = this.#user(id);
    if (u === undefined) {
      this.session.consumed(id, data.length);
      return;
    }
    u.onData(data, endStream);
  }

  onReset(id: number, code: number): void {
    const u = this.#user(id);
    if (u === undefined) return;
    if (this.session.destroyed || this.#failed) {
      // A connection error or close: #fail reports it (the session resets every stream first).
      if (this.#failed) u.onConnFailure(this.#failCode, this.#failText);
      return;
    }
    if (code === H2ErrorCode.REFUSED_STREAM && id > this.#goawayLast) {
      u.onConnFailure(ErrorCode.EFAILEDSOCKET, `h2 stream to ${this.remoteSide} refused by GOAWAY`);
      return;
    }
    u.onReset(code);
  }

  onGoaway(lastStreamId: number, code: number, _debug: Buffer): void {
    if (lastStreamId < this.#goawayLast) this.#goawayLast = lastStreamId;
    log.debug(`h2 session to ${this.address}: GOAWAY last=${lastStreamId} code=${code}`);
    this.#unusable();
    // Waiting users go to a new connection.
    const waiting = this.#waiting.slice(this.#waitHead);
    this.#waiting = [];
    this.#waitHead = 0;
    for (const u of waiting) {
      if (!u.over) u.onConnFailure(ErrorCode.EFAILEDSOCKET, `h2 session to ${this.remoteSide} went away`);
    }
    queueMicrotask(() => this.#closeIfDone());
  }

  onError(err: H2Error): void {
    log.debug(`h2 session to ${this.address} failed: ${err.message}`);
    // The session queued a GOAWAY: send it, then close.
    this.session.flush();
    this.#fail(ErrorCode.EFAILEDSOCKET, `h2 session to ${this.remoteSide} failed: ${err.message}`);
    this.socket.end();
    this.socket.destroySoon();
  }

  onStreamClose(id: number): void {
    const u = this.#users.get(id);
    if (u === undefined) return;
    this.#users.delete(id);
    u.onClosed();
    if (this.#waitHead < this.#waiting.length) this.#startWaiting();
    this.#unrefIfIdle();
    if (this.dead && this.#users.size === 0) queueMicrotask(() => this.#closeIfDone());
  }

  onDrain(id: number): void {
    this.#user(id)?.onDrain();
  }

  // ---- failures ----------------------------------------------------------------------

  /** After a GOAWAY: close the connection once its streams are done. */
  #closeIfDone(): void {
    if (this.#users.size > 0 || this.#failed) return;
    this.session.close();
    this.socket.end();
  }

  #socketError(err: Error): void {
    const code = errnoFromNodeError(err);
    const text = this.connected
      ? `${err.message} (${this.remoteSide})`
      : `Fail to connect ${this.remoteSide}: ${err.message}`;
    this.#fail(code, text);
  }

  #socketClosed(): void {
    this.#fail(ErrorCode.EFAILEDSOCKET, `h2 stream to ${this.remoteSide} closed before the response ended`);
  }

  /** Fail the connection with `code`/`text` (a connect timeout, a socket failure); destroys the socket. */
  fail(code: number, text: string): void {
    this.#fail(code, text);
    this.socket.destroy();
  }

  #fail(code: number, text: string): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#failCode = code;
    this.#failText = text;
    this.#unusable();
    const users = [...this.#users.values()];
    const waiting = this.#waiting.slice(this.#waitHead);
    this.#users.clear();
    this.#waiting = [];
    this.#waitHead = 0;
    if (!this.session.destroyed) this.session.close();
    for (const u of users) u.onConnFailure(code, text);
    for (const u of waiting) if (!u.over) u.onConnFailure(code, text);
    this.#unrefIfIdle();
  }

  /** Close the connection (channel closed): open streams fail. */
  close(): void {
    this.#fail(ErrorCode.EFAILEDSOCKET, `h2 stream to ${this.remoteSide} closed before the response ended`);
    this.socket.destroy();
  }
}
