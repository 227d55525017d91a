/**
 * The builtin h2 server engine: one brpc-ts {@link Connection} (h2c with prior knowledge,
 * or TLS with ALPN h2) served by an {@link H2Session} in the server role, its streams
 * handed to the HTTP / gRPC server code as {@link H2Request} / {@link H2Response}.
 *
 * - Input: socket 'data' -> `session.receive()` (counted in `conn.bytesIn` / `activity`).
 * - Output: each batch of the session is one socket write (cork / uncork when several
 *   buffers), counted in `conn.bytesOut` / `activity`; the write-stall watchdog watches
 *   the socket again (it stops at the takeover).
 * - `conn.close()` (server stop, idle reaping) first queues GOAWAY(NO_ERROR) and flushes
 *   it; a connection error of the session (GOAWAY queued by the session) flushes, then
 *   closes the connection; a failed connection resets every stream (their calls abort).
 */

import { ErrorCode } from "../../errors/errno.js";
import { IdMap } from "../../io/id-map.js";
import { microtask } from "../../io/microtask.js";
import { log } from "../../log.js";
import { type Connection, DEFAULT_WRITE_STALL_TIMEOUT_MS } from "../../transport/connection.js";
import { watchWrites } from "../../transport/watchdog.js";
import { H2Request, H2Response, isConnectionHeader } from "./compat.js";
import { type H2Error, H2ErrorCode } from "./frame.js";
import { type H2Handler, H2Session } from "./session.js";

/** Settings of the builtin engine's sessions. */
export interface H2ServerConnOptions {
  /** SETTINGS_MAX_CONCURRENT_STREAMS (0 = unlimited). */
  maxConcurrentStreams: number;
  /** Stream receive window. */
  initialWindowSize: number;
  /** Connection receive window. */
  connectionWindowSize: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE. */
  maxHeaderListSize: number;
}

/** Receives each new request (headers complete; the body follows as events). */
export type H2RequestListener = (conn: Connection, req: H2Request, res: H2Response) => void;

/**
 * Why a request header list is malformed (RFC 9113 §8.2, §8.3), or "" when it is fine.
 * Fills `out` with :method and :path.
 */
function checkRequest(flat: readonly string[], out: { method: string; path: string }): string {
  let method = "";
  let path = "";
  let scheme = false;
  let regular = false;
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return "pseudo-header after a regular field";
      const v = flat[i + 1]!;
      switch (name) {
        case ":method":
          if (method !== "") return "duplicate :method";
          method = v;
          break;
        case ":path":
          if (path !== "") return "duplicate :path";
          if (v === "") return "empty :path";
          path = v;
          break;
        case ":scheme":
          if (scheme) return "duplicate :scheme";
          scheme = true;
          break;
        case ":authority":
          break;
        default:
          return `unknown pseudo-header ${name}`;
      }
      continue;
    }
    regular = true;
    if (hasUpper(name)) return `uppercase field name ${name}`;
    if (isConnectionHeader(name)) return `connection-specific field ${name}`;
    if (name === "te" && flat[i + 1] !== "trailers") return "te other than trailers";
  }
  if (method === "") return "missing :method";
  if (method !== "CONNECT" && (!scheme || path === "")) return "missing :scheme or :path";
  out.method = method;
  out.path = path === "" ? "/" : path;
  return "";
}

function hasUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return true;
  }
  return false;
}

function checkTrailers(flat: readonly string[]): boolean {
  for (let i = 0; i < flat.length; i += 2) if (flat[i]!.charCodeAt(0) === 0x3a) return false;
  return true;
}

const scratch = { method: "", path: "" };

/** One h2 connection served by the builtin engine. */
export class H2ServerConn implements H2Handler {
  readonly conn: Connection;
  readonly session: H2Session;
  readonly #onRequest: H2RequestListener;
  readonly #streams = new IdMap<H2Response>(16);
  /** Responses to finish / streams to close in the next task run. */
  // Per-turn task lists; entries past the counts are stale (the arrays keep their storage).
  readonly #finishing: H2Response[] = [];
  #finishingN = 0;
  readonly #closing: H2Response[] = [];
  #closingN = 0;
  readonly #runTasks = (): void => this.runTasks();
  #tasksScheduled = false;
  /** Responses waiting for the socket backlog to drain. */
  #socketWaiters: H2Response[] = [];
  /** GOAWAY sent by `close()` or received: close the connection once no stream is left. */
  #draining = false;
  #errorLogged = false;
  /** Inside `session.receive()`. */
  #receiving = false;

  constructor(conn: Connection, options: H2ServerConnOptions, onRequest: H2RequestListener) {
    this.conn = conn;
    this.#onRequest = onRequest;
    this.session = new H2Session({
      role: "server",
      write: (bufs) => this.#write(bufs),
      handler: this,
      maxConcurrentStreams: options.maxConcurrentStreams > 0 ? options.maxConcurrentStreams : 0x7fffffff,
      initialWindowSize: options.initialWindowSize,
      connectionWindowSize: options.connectionWindowSize,
      maxHeaderListSize: options.maxHeaderListSize,
    });
  }

  get socket(): Connection["socket"] {
    return this.conn.socket;
  }

  /** Start serving: SETTINGS out, socket reading (the handed-over bytes come first). */
  start(): void {
    const conn = this.conn;
    const socket = conn.socket;
    socket.on("data", (buf: Buffer) => {
      conn.bytesIn += buf.length;
      conn.activity++;
      this.#receiving = true;
      this.session.receive(buf);
      this.#receiving = false;
    });
    socket.on("end", () => conn.fail(ErrorCode.EEOF, `Got EOF from ${conn.remoteSide}`));
    socket.on("drain", () => this.#onSocketDrain());
    conn.watchFailure(() => this.#onConnectionGone());
    // GOAWAY before the connection closes (server stop, idle reaping).
    conn.beforeClose = () => {
      if (!this.session.destroyed) {
        this.session.goaway(H2ErrorCode.NO_ERROR);
        this.session.flush();
      }
    };
    watchWrites(conn, conn.options.writeStallTimeoutMs ?? DEFAULT_WRITE_STALL_TIMEOUT_MS);
    this.session.start();
    this.session.flush();
    socket.resume();
  }

  #write(bufs: Buffer[]): void {
    const conn = this.conn;
    if (conn.failed) return;
    const socket = conn.socket;
    conn.activity++;
    if (bufs.length === 1) {
      const b = bufs[0]!;
      conn.bytesOut += b.length;
      socket.write(b);
      return;
    }
    socket.cork();
    for (const b of bufs) {
      conn.bytesOut += b.length;
      socket.write(b);
    }
    socket.uncork();
  }

  /** Graceful close (node's `session.close()`): GOAWAY, then close once the open streams are done. */
  close(): void {
    if (this.conn.failed) return;
    this.session.goaway(H2ErrorCode.NO_ERROR);
    this.#draining = true;
    if (this.#streams.size === 0) queueMicrotask(() => this.conn.close());
  }

  /**
   * @internal a response ended: when it was the last open stream (nothing else to batch
   * with, e.g. one call in flight) its frames go out now instead of after the microtasks
   * still queued. Inside `receive()` the session writes once at the end anyway.
   */
  ended(): void {
    if (!this.#receiving && this.session.activeStreams === 0) this.session.flush();
  }

  /** @internal acknowledge request body bytes taken by the consumer. */
  consumed(id: number, n: number): void {
    this.session.consumed(id, n);
  }

  /** @internal emit 'finish' on `res` once the frames written so far are flushed. */
  finishSoon(res: H2Response): void {
    this.#finishing[this.#finishingN++] = res;
    this.#schedule();
  }

  /** @internal `res` waits for the socket's 'drain'. */
  waitSocket(res: H2Response): void {
    if (res.waitingSocket) return;
    res.waitingSocket = true;
    this.#socketWaiters.push(res);
  }

  #onSocketDrain(): void {
    const w = this.#socketWaiters;
    if (w.length === 0) return;
    this.#socketWaiters = [];
    for (const r of w) r.onSocketDrain();
  }

  #schedule(): void {
    if (this.#tasksScheduled) return;
    this.#tasksScheduled = true;
    microtask(this.#runTasks);
  }

  /** @internal finishes, then closes (a stream closing in the same turn finishes first). */
  runTasks(): void {
    this.#tasksScheduled = false;
    const f = this.#finishing;
    // Callbacks may queue more: index loops up to the live counts, reset afterwards.
    for (let i = 0; i < this.#finishingN; i++) {
      const r = f[i]!;
      f[i] = undefined as unknown as H2Response;
      if (!r.destroyed || r.rstCode === undefined || r.rstCode === 0) r.finish();
    }
    this.#finishingN = 0;
    const c = this.#closing;
    if (this.#closingN > 0) {
      for (let i = 0; i < this.#closingN; i++) {
        const r = c[i]!;
        c[i] = undefined as unknown as H2Response;
        this.#streams.delete(r.id);
        r.onClose(r.rstCode);
      }
      this.#closingN = 0;
      if (this.#draining && this.#streams.size === 0 && !this.conn.failed) this.conn.close();
    }
  }

  #closeLater(res: H2Response): void {
    if (res.destroyed) return;
    res.destroyed = true;
    this.#closing[this.#closingN++] = res;
    this.#schedule();
  }

  #onConnectionGone(): void {
    // Every open stream gets onReset(CANCEL) (their calls abort with the connection's error).
    this.session.close();
    this.#socketWaiters = [];
  }

  // ---- H2Handler --------------------------------------------------------------------

  onHeaders(id: number, headers: string[], endStream: boolean): void {
    const existing = this.#streams.get(id);
    if (existing !== undefined) {
      // Trailers.
      if (!checkTrailers(headers)) {
        this.#reject(existing, H2ErrorCode.PROTOCOL_ERROR);
        return;
      }
      this.#onBody(existing, EMPTY, endStream);
      return;
    }
    const why = checkRequest(headers, scratch);
    if (why !== "") {
      log.debug(`h2 from ${this.conn.remoteSide}: malformed request on stream ${id}: ${why}`);
      this.session.reset(id, H2ErrorCode.PROTOCOL_ERROR);
      return;
    }
    const conn = this.conn;
    const res = new H2Response(this, id);
    const req = new H2Request(res, headers, scratch.method, scratch.path);
    res.req = req;
    const cl = req.header("content-length");
    if (cl !== undefined) {
      const n = /^\d{1,15}$/.test(cl) ? Number(cl) : -1;
      if (n < 0 || (endStream && n !== 0 && scratch.method !== "HEAD")) {
        this.session.reset(id, H2ErrorCode.PROTOCOL_ERROR);
        return;
      }
      req.expectedLength = n;
    }
    this.#streams.set(id, res);
    conn.activity++;
    if (conn.failed) {
      res.close(H2ErrorCode.CANCEL);
      return;
    }
    this.#onRequest(conn, req, res);
    if (endStream && !res.destroyed) req.push(EMPTY, true);
  }

  onData(id: number, data: Buffer, endStream: boolean): void {
    const res = this.#streams.get(id);
    if (res === undefined || res.destroyed) {
      this.session.consumed(id, data.length);
      return;
    }
    this.#onBody(res, data, endStream);
  }

  #onBody(res: H2Response, data: Buffer, endStream: boolean): void {
    const req = res.req;
    if (req.expectedLength >= 0) {
      req.receivedLength += data.length;
      if (
        req.receivedLength > req.expectedLength ||
        (endStream && req.receivedLength !== req.expectedLength && req.method !== "HEAD")
      ) {
        // Content-length disagrees with the DATA (RFC 9113 §8.1.1).
        this.session.consumed(res.id, data.length);
        this.#reject(res, H2ErrorCode.PROTOCOL_ERROR);
        return;
      }
    }
    req.push(data, endStream);
  }

  #reject(res: H2Response, code: number): void {
    res.rstCode = code;
    this.session.reset(res.id, code);
    this.#closeLater(res);
  }

  onReset(id: number, code: number): void {
    const res = this.#streams.get(id);
    if (res === undefined) return;
    if (res.rstCode === undefined) res.rstCode = code;
    this.#closeLater(res);
  }

  onStreamClose(id: number): void {
    const res = this.#streams.get(id);
    if (res !== undefined) this.#closeLater(res);
  }

  onDrain(id: number): void {
    this.#streams.get(id)?.onDrain();
  }

  onGoaway(_lastStreamId: number, code: number): void {
    if (code !== H2ErrorCode.NO_ERROR) {
      log.debug(`h2 client ${this.conn.remoteSide} sent GOAWAY with error ${code}`);
    }
    this.#draining = true;
    if (this.#streams.size === 0) queueMicrotask(() => this.conn.close());
  }

  onError(err: H2Error): void {
    if (!this.#errorLogged) {
      this.#errorLogged = true;
      log.debug(`h2 from ${this.conn.remoteSide}: ${err.message}`);
    }
    // The GOAWAY is queued: out with it, then close.
    this.session.flush();
    const conn = this.conn;
    queueMicrotask(() => {
      if (!conn.failed) conn.close();
    });
  }
}

const EMPTY = Buffer.alloc(0);
