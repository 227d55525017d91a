/**
 * Per-stream request / response objects of the builtin h2 server engine
 * ({@link H2ServerConn}): the subset of node:http2's compatibility API
 * (`Http2ServerRequest` / `Http2ServerResponse`) that the HTTP and gRPC server code uses.
 *
 * - Request body: `'data'` / `'end'` events, `pause()` / `resume()` (a new `'data'`
 *   listener starts the flow, as with a Readable); each chunk is acknowledged to the
 *   session (`consumed()`) when it is emitted, so a paused request stops the peer through
 *   h2 flow control.
 * - Response: `writeHead`, `setHeader` & co, `write` (false while the stream's DATA waits
 *   for flow control or the socket holds more than {@link SOCKET_HIGH_WATER} bytes; then
 *   `'drain'`), `end` (callback and `'finish'` once every frame of the stream is in the
 *   session's output), `addTrailers`, `'close'` when the stream is closed or reset.
 * - The response doubles as the `stream` of both objects (`close(code)`, `rstCode`,
 *   `destroyed`, `readableEnded`, `session.close()`).
 *
 * Events: the usual `on` / `once` / `off` / `emit` (an EventEmitter is created on the first
 * listener), or, for the gRPC server, a direct {@link H2StreamSink} (no emitter at all).
 */
import { EventEmitter } from "node:events";
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http2";
import { H2ErrorCode } from "./frame.js";
import type { H2ServerConn } from "./server-conn.js";

const EMPTY = Buffer.alloc(0);

/** Socket backlog above which `write()` returns false (and 'drain' follows). */
export const SOCKET_HIGH_WATER = 1024 * 1024;

/** A connection-specific header field, forbidden in h2 (RFC 9113 §8.2.2). */
export function isConnectionHeader(n: string): boolean {
  switch (n) {
    case "connection":
    case "keep-alive":
    case "proxy-connection":
    case "transfer-encoding":
    case "upgrade":
      return true;
    default:
      return false;
  }
}

const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

function invalidHeader(code: string, message: string): Error {
  const e = new TypeError(message) as TypeError & { code: string };
  e.code = code;
  return e;
}

/** Append `name: value` (validated like node:http2 does) to a flat header list. */
function pushHeader(out: string[], name: string, value: unknown): void {
  if (value === undefined || value === null) return;
  const n = name.toLowerCase();
  if (!TOKEN.test(n))
    throw invalidHeader("ERR_INVALID_HTTP_TOKEN", `Header name must be a valid HTTP token ["${name}"]`);
  if (isConnectionHeader(n) || (n === "te" && value !== "trailers")) {
    throw invalidHeader(
      "ERR_HTTP2_INVALID_CONNECTION_HEADERS",
      `HTTP/1 Connection specific headers are forbidden: "${n}"`,
    );
  }
  if (Array.isArray(value)) {
    for (const v of value) pushHeader(out, n, v);
    return;
  }
  const v = typeof value === "string" ? value : String(value);
  if (BAD_VALUE.test(v))
    throw invalidHeader("ERR_INVALID_CHAR", `Invalid character in header content ["${name}"]`);
  out.push(n, v);
}

/** Flat `[name, value, ...]` list of an outgoing header object. */
function flatten(out: string[], headers: OutgoingHttpHeaders | Record<string, unknown>): void {
  for (const k in headers) {
    if (k.charCodeAt(0) === 0x3a /* ':' */) continue;
    pushHeader(out, k, headers[k]);
  }
}

/** Node's header object of a flat list: duplicates joined (", ", "; " for cookie), set-cookie as an array. */
export function headersObject(flat: readonly string[]): IncomingHttpHeaders {
  // A plain object (fast properties, shared shapes for the usual header sets); own
  // properties only are read, "__proto__" is dropped.
  const h: Record<string, string | string[]> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    const value = flat[i + 1]!;
    const prev = Object.hasOwn(h, name) ? h[name] : undefined;
    if (name === "__proto__") continue;
    if (prev === undefined) {
      h[name] = name === "set-cookie" ? [value] : value;
    } else if (name === "set-cookie") {
      (prev as string[]).push(value);
    } else if (name.charCodeAt(0) !== 0x3a) {
      h[name] = `${prev}${name === "cookie" ? "; " : ", "}${value}`;
    }
  }
  return h as IncomingHttpHeaders;
}

function headerString(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function toBuffer(chunk: unknown, encoding?: unknown): Buffer {
  if (chunk === undefined || chunk === null) return EMPTY;
  if (typeof chunk === "string")
    return Buffer.from(chunk, typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8");
  if (Buffer.isBuffer(chunk)) return chunk;
  const u = chunk as Uint8Array;
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

type Listener = (...args: never[]) => void;

/**
 * The EventEmitter methods the callers use, on an emitter created only when a listener is
 * added: a gRPC call (which takes events through a {@link H2StreamSink}) creates none.
 */
class LazyEmitter {
  #ee: EventEmitter | undefined;

  #emitter(): EventEmitter {
    this.#ee ??= new EventEmitter();
    return this.#ee;
  }

  on(event: string | symbol, listener: Listener): this {
    this.#emitter().on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  addListener(event: string | symbol, listener: Listener): this {
    return this.on(event, listener);
  }

  prependListener(event: string | symbol, listener: Listener): this {
    this.#emitter().prependListener(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once(event: string | symbol, listener: Listener): this {
    this.#emitter().once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off(event: string | symbol, listener: Listener): this {
    this.#ee?.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  removeListener(event: string | symbol, listener: Listener): this {
    return this.off(event, listener);
  }

  removeAllListeners(event?: string | symbol): this {
    this.#ee?.removeAllListeners(event);
    return this;
  }

  listenerCount(event: string | symbol): number {
    return this.#ee?.listenerCount(event) ?? 0;
  }

  emit(event: string | symbol, ...args: unknown[]): boolean {
    const ee = this.#ee;
    return ee === undefined ? false : ee.emit(event, ...args);
  }
}

/**
 * Direct receiver of a stream's events (the gRPC server call): no listeners, no emitter.
 * Request data / end go to it once {@link H2Request.readInto} was called.
 */
export interface H2StreamSink {
  onData(chunk: Buffer): void;
  onEnd(): void;
  /** The stream closed (see {@link H2Response.rstCode}). */
  onClosed(): void;
  onDrain(): void;
}

function nextTickFlow(req: H2Request): void {
  req.flow();
}

/** The request side of one h2 stream (node's `Http2ServerRequest` subset). */
export class H2Request extends LazyEmitter {
  /** The request's header list, flat `[name, value, ...]` as decoded. */
  readonly flatHeaders: readonly string[];
  #headers: IncomingHttpHeaders | undefined = undefined;
  readonly method: string;
  readonly url: string;
  readonly httpVersion = "2.0";
  readonly httpVersionMajor = 2;
  readonly httpVersionMinor = 0;
  /** The stream (the response object, see the module doc). */
  readonly stream: H2Response;
  #sink: H2StreamSink | undefined;
  /** Chunks not delivered yet (paused / no consumer). */
  #buf: Buffer[] | null = null;
  /** null: no consumer yet; true: flowing; false: paused. */
  #flowing: boolean | null = null;
  #tickScheduled = false;
  /** The peer ended its side (END_STREAM seen). */
  remoteEnded = false;
  /** 'end' was emitted. */
  readableEnded = false;
  /** Declared content-length (-1 when none) and DATA bytes so far. */
  expectedLength = -1;
  receivedLength = 0;
  /** Emitted 'close'. */
  closed = false;

  constructor(stream: H2Response, flatHeaders: readonly string[], method: string, path: string) {
    super();
    this.stream = stream;
    this.flatHeaders = flatHeaders;
    this.method = method;
    this.url = path;
  }

  /** Node's header object (built on first use: the gRPC server reads single fields with {@link header}). */
  get headers(): IncomingHttpHeaders {
    this.#headers ??= headersObject(this.flatHeaders);
    return this.#headers;
  }

  /** The value of header `name` (lower case), duplicates joined as in {@link headers}. */
  header(name: string): string | undefined {
    if (this.#headers !== undefined) return headerString(this.#headers[name]);
    const flat = this.flatHeaders;
    let found: string | undefined;
    for (let i = 0; i < flat.length; i += 2) {
      if (flat[i] !== name) continue;
      if (found !== undefined) return headerString(this.headers[name]);
      found = flat[i + 1];
    }
    return found;
  }

  get authority(): string | undefined {
    return this.header(":authority");
  }

  get scheme(): string | undefined {
    return this.header(":scheme");
  }

  get complete(): boolean {
    return this.readableEnded;
  }

  get aborted(): boolean {
    return this.closed && !this.remoteEnded;
  }

  override on(event: string | symbol, listener: Listener): this {
    super.on(event, listener);
    if (event === "data" && this.#flowing === null) this.resume();
    return this;
  }

  override once(event: string | symbol, listener: Listener): this {
    super.once(event, listener);
    if (event === "data" && this.#flowing === null) this.resume();
    return this;
  }

  /** Deliver the body to `sink` (instead of 'data' / 'end' events) from now on; starts the flow. */
  readInto(sink: H2StreamSink): void {
    this.#sink = sink;
    if (this.#flowing === null) this.resume();
  }

  #deliver(data: Buffer): void {
    const sink = this.#sink;
    if (sink !== undefined) sink.onData(data);
    else this.emit("data", data);
  }

  pause(): this {
    this.#flowing = false;
    return this;
  }

  resume(): this {
    if (this.#flowing === true) return this;
    this.#flowing = true;
    if ((this.#buf !== null || this.remoteEnded) && !this.#tickScheduled) {
      this.#tickScheduled = true;
      process.nextTick(nextTickFlow, this);
    }
    return this;
  }

  isPaused(): boolean {
    return this.#flowing === false;
  }

  setTimeout(): this {
    return this;
  }

  /** @internal DATA from the session. */
  push(data: Buffer, end: boolean): void {
    if (data.length > 0) {
      if (this.#flowing === true && this.#buf === null && !this.#tickScheduled) {
        this.stream.conn.consumed(this.stream.id, data.length);
        this.#deliver(data);
      } else {
        if (this.#buf === null) this.#buf = [data];
        else this.#buf.push(data);
      }
    }
    if (end) {
      this.remoteEnded = true;
      if (this.#flowing === true && this.#buf === null && !this.#tickScheduled) this.#emitEnd();
    }
  }

  /** @internal deliver buffered chunks while flowing. */
  flow(): void {
    this.#tickScheduled = false;
    const b = this.#buf;
    if (b !== null) {
      while (this.#flowing === true && b.length > 0) {
        const c = b.shift()!;
        this.stream.conn.consumed(this.stream.id, c.length);
        this.#deliver(c);
      }
      if (b.length > 0) return;
      this.#buf = null;
    }
    if (this.#flowing === true && this.remoteEnded) this.#emitEnd();
  }

  #emitEnd(): void {
    if (this.readableEnded || this.closed) return;
    this.readableEnded = true;
    if (this.#sink !== undefined) this.#sink.onEnd();
    else this.emit("end");
  }

  /** @internal the stream closed or was reset. */
  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.#buf = null;
    if (!this.remoteEnded) this.emit("aborted");
    this.emit("close");
  }
}

/** The response side of one h2 stream (node's `Http2ServerResponse` subset); also the stream. */
export class H2Response extends LazyEmitter {
  readonly conn: H2ServerConn;
  readonly id: number;
  req!: H2Request;
  statusCode = 200;
  statusMessage = "";
  sendDate = false;
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  /** The stream is closed (after a reset, or both sides ended). */
  destroyed = false;
  /** The RST_STREAM code when the stream was reset (by either side). */
  rstCode: number | undefined;
  /** 'close' emitted. */
  closed = false;
  /** write() returned false: 'drain' is owed. */
  needDrain = false;
  /** Waits for the socket backlog (listed by the connection). */
  waitingSocket = false;
  /** Takes 'close' and 'drain' directly (see {@link H2StreamSink}). */
  sink: H2StreamSink | undefined;
  /** Reset with this code once the stream's queued frames are out (close() behind trailers). */
  resetWhenDrained = -1;
  #headers: Map<string, { name: string; value: unknown }> | undefined;
  #trailers: string[] | undefined;

  constructor(conn: H2ServerConn, id: number) {
    super();
    this.conn = conn;
    this.id = id;
  }

  /** The stream (this object). */
  get stream(): this {
    return this;
  }

  /** The session: `close()` ends the connection gracefully (GOAWAY, then close when idle). */
  get session(): H2ServerConn {
    return this.conn;
  }

  get readableEnded(): boolean {
    return this.req.remoteEnded;
  }

  get finished(): boolean {
    return this.writableEnded;
  }

  get writable(): boolean {
    return !this.writableEnded && !this.destroyed;
  }

  setHeader(name: string, value: number | string | readonly string[]): this {
    this.#headers ??= new Map();
    this.#headers.set(name.toLowerCase(), { name, value });
    return this;
  }

  getHeader(name: string): unknown {
    return this.#headers?.get(name.toLowerCase())?.value;
  }

  hasHeader(name: string): boolean {
    return this.#headers?.has(name.toLowerCase()) ?? false;
  }

  removeHeader(name: string): void {
    this.#headers?.delete(name.toLowerCase());
  }

  getHeaderNames(): string[] {
    return this.#headers === undefined ? [] : [...this.#headers.keys()];
  }

  setTimeout(): this {
    return this;
  }

  #headerList(status: number, headers: OutgoingHttpHeaders | undefined): string[] {
    const out: string[] = [":status", String(status)];
    if (this.#headers !== undefined) {
      for (const [k, { value }] of this.#headers) {
        if (headers !== undefined && k in headers) continue;
        pushHeader(out, k, value);
      }
    }
    if (headers !== undefined) flatten(out, headers);
    return out;
  }

  /** Send the response headers now (validated first: invalid ones throw, nothing is sent). */
  writeHead(status: number, headers?: OutgoingHttpHeaders | string, more?: OutgoingHttpHeaders): this {
    if (typeof headers === "string") headers = more;
    if (this.headersSent || this.destroyed) return this;
    const list = this.#headerList(status, headers);
    this.statusCode = status;
    this.headersSent = true;
    this.conn.session.respond(this.id, list, false);
    return this;
  }

  addTrailers(trailers: OutgoingHttpHeaders): void {
    if (this.writableEnded) return;
    this.#trailers ??= [];
    flatten(this.#trailers, trailers);
  }

  /**
   * @internal the gRPC fast path: response HEADERS from a flat list (`:status` first),
   * not validated (the caller builds it from valid names and values).
   */
  writeHeadFlat(list: readonly string[]): void {
    if (this.headersSent || this.destroyed) return;
    this.headersSent = true;
    this.conn.session.respond(this.id, list, false);
  }

  /** @internal the gRPC fast path: `end()` with trailers from a flat list (not validated, not copied). */
  endWithTrailers(trailers: readonly string[]): void {
    if (!this.writableEnded && !this.destroyed) this.#trailers = trailers as string[];
    this.end();
  }

  write(chunk: unknown, encoding?: unknown, cb?: (err?: Error | null) => void): boolean {
    if (typeof encoding === "function") cb = encoding as typeof cb;
    if (this.writableEnded || this.destroyed) {
      if (cb !== undefined) process.nextTick(cb, new Error("write after end"));
      return false;
    }
    if (!this.headersSent) this.writeHead(this.statusCode);
    const b = toBuffer(chunk, encoding);
    if (b.length > 0) this.conn.session.sendData(this.id, b, false);
    if (cb !== undefined) process.nextTick(cb, null);
    if (this.conn.session.queuedBytes(this.id) > 0) {
      this.needDrain = true;
      return false;
    }
    if (this.conn.socket.writableLength > SOCKET_HIGH_WATER) {
      this.needDrain = true;
      this.conn.waitSocket(this);
      return false;
    }
    return true;
  }

  end(chunk?: unknown, encoding?: unknown, cb?: () => void): this {
    if (typeof chunk === "function") {
      cb = chunk as () => void;
      chunk = undefined;
    } else if (typeof encoding === "function") {
      cb = encoding as () => void;
    }
    if (this.destroyed) {
      // Like node: the callback still runs (nothing more can be sent).
      this.writableEnded = true;
      if (cb !== undefined) process.nextTick(cb);
      return this;
    }
    if (cb !== undefined) this.once("finish", cb);
    if (this.writableEnded) {
      if (this.writableFinished && cb !== undefined) process.nextTick(cb);
      return this;
    }
    this.writableEnded = true;
    const s = this.conn.session;
    const b = toBuffer(chunk, encoding);
    const trailers = this.#trailers;
    if (!this.headersSent) {
      if (b.length === 0 && trailers === undefined) {
        this.headersSent = true;
        s.respond(this.id, this.#headerList(this.statusCode, undefined), true);
        this.conn.finishSoon(this);
        this.conn.ended();
        return this;
      }
      this.writeHead(this.statusCode);
    }
    if (trailers !== undefined) {
      if (b.length > 0) s.sendData(this.id, b, false);
      s.sendTrailers(this.id, trailers);
    } else {
      s.sendData(this.id, b, true);
    }
    if (s.queuedBytes(this.id) === 0) this.conn.finishSoon(this);
    this.conn.ended();
    return this;
  }

  /** @internal every frame of the ended response is in the session output. */
  finish(): void {
    if (this.writableFinished || !this.writableEnded) return;
    this.writableFinished = true;
    this.emit("finish");
  }

  /** @internal the stream's queued DATA went out. */
  onDrain(): void {
    if (this.resetWhenDrained >= 0) {
      const code = this.resetWhenDrained;
      this.resetWhenDrained = -1;
      this.finish();
      this.close(code);
      return;
    }
    if (this.writableEnded) {
      this.conn.finishSoon(this);
      return;
    }
    if (this.needDrain && !this.waitingSocket) {
      if (this.conn.socket.writableLength > SOCKET_HIGH_WATER) {
        this.conn.waitSocket(this);
        return;
      }
      this.needDrain = false;
      this.#drained();
    }
  }

  #drained(): void {
    if (this.sink !== undefined) this.sink.onDrain();
    this.emit("drain");
  }

  /** @internal the socket backlog drained. */
  onSocketDrain(): void {
    this.waitingSocket = false;
    if (this.destroyed || !this.needDrain) return;
    if (this.conn.session.queuedBytes(this.id) > 0) return; // the session's onDrain follows
    this.needDrain = false;
    this.#drained();
  }

  /**
   * RST_STREAM `code` (the stream's `close(code)`). Frames of this stream still waiting for
   * flow control (e.g. trailers) are sent first.
   */
  close(code: number = H2ErrorCode.NO_ERROR, cb?: () => void): void {
    if (cb !== undefined) this.once("close", cb);
    if (this.destroyed) return;
    if (this.conn.session.queuedBytes(this.id) > 0 && this.writableEnded) {
      this.resetWhenDrained = code;
      return;
    }
    this.rstCode = code;
    this.conn.session.reset(this.id, code);
  }

  /** Reset the stream (INTERNAL_ERROR with an error, else CANCEL). */
  destroy(err?: Error): this {
    this.close(err === undefined ? H2ErrorCode.CANCEL : H2ErrorCode.INTERNAL_ERROR);
    return this;
  }

  /** @internal the stream closed (`code` when reset). */
  onClose(code: number | undefined): void {
    if (this.closed) return;
    if (code !== undefined && this.rstCode === undefined) this.rstCode = code;
    this.destroyed = true;
    if (this.writableEnded && this.rstCode === undefined) this.finish();
    this.closed = true;
    this.req.onClose();
    if (this.sink !== undefined) this.sink.onClosed();
    this.emit("close");
  }
}
