/**
 * The HTTP side of a server call, `ctx.http`: request line and headers, response
 * status and headers, and progressive (chunked) responses / server-sent events
 * (brpc's `http_request()`, `http_response()` and `CreateProgressiveAttachment()`).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { ErrorCode } from "../../errors/errno.js";
import { RpcError } from "../../errors/rpc-error.js";

/** A response object of node:http or node:http2 (compatibility API). */
export type AnyResponse = ServerResponse | Http2ServerResponse;
/** A request object of node:http or node:http2 (compatibility API). */
export type AnyRequest = IncomingMessage | Http2ServerRequest;

/** HTTP request and response of one call, as `ctx.http`. */
export class HttpCall {
  /** Request method, e.g. "GET". */
  readonly method: string;
  /** URL path as sent, without the query, e.g. "/EchoService/Echo". */
  readonly path: string;
  /** Query string without the "?" ("" when none). */
  readonly queryString: string;
  /** "1.1", "1.0" or "2.0". */
  readonly httpVersion: string;
  /** Request headers, names lowercased (node's `IncomingHttpHeaders`). */
  readonly headers: IncomingHttpHeaders;
  /** Response status code; brpc's mapping replaces 200 when the call fails. */
  status = 200;
  /** Created on the first setHeader(): most calls set none before the response. */
  #responseHeaders: Map<string, { name: string; value: string | string[] }> | undefined;
  #query: URLSearchParams | undefined;
  /** @internal the progressive writer, once created. */
  writer: ProgressiveWriter | undefined;
  /** @internal */
  readonly req: AnyRequest;
  /** @internal */
  readonly res: AnyResponse;
  /** @internal the request came over h2. */
  h2 = false;
  /** @internal body codec of the request and pb response (`HttpContentType`, 0 = OTHERS). */
  codec = 0;
  /** @internal the request's Content-Type as sent. */
  requestContentType: string | undefined;

  /** @internal */
  constructor(req: AnyRequest, res: AnyResponse) {
    this.req = req;
    this.res = res;
    this.method = req.method ?? "GET";
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    this.path = q < 0 ? url : url.slice(0, q);
    this.queryString = q < 0 ? "" : url.slice(q + 1);
    this.httpVersion = req.httpVersion;
    this.headers = req.headers;
  }

  /** Parsed query string. */
  get query(): URLSearchParams {
    this.#query ??= new URLSearchParams(this.queryString);
    return this.#query;
  }

  /** A request header (first value when repeated), by case-insensitive name. */
  header(name: string): string | undefined {
    const v = this.headers[name.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  }

  /** Set a response header (e.g. "Content-Type"); replaces one of the same name. */
  setHeader(name: string, value: string | number | readonly string[]): this {
    const v = Array.isArray(value) ? [...value] : String(value);
    this.#responseHeaders ??= new Map();
    this.#responseHeaders.set(name.toLowerCase(), { name, value: v as string | string[] });
    return this;
  }

  /** A response header set so far. */
  getHeader(name: string): string | string[] | undefined {
    return this.#responseHeaders?.get(name.toLowerCase())?.value;
  }

  /** Remove a response header. */
  removeHeader(name: string): void {
    this.#responseHeaders?.delete(name.toLowerCase());
  }

  /** Response headers set so far, as name -> value (names as given). */
  get responseHeaders(): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    if (this.#responseHeaders !== undefined)
      for (const { name, value } of this.#responseHeaders.values()) out[name] = value;
    return out;
  }

  /** @internal true while no response header has been set. */
  get noResponseHeaders(): boolean {
    return this.#responseHeaders === undefined || this.#responseHeaders.size === 0;
  }

  /**
   * Answer progressively: the response is sent with chunked transfer encoding (HTTP/1.1)
   * or as DATA frames (h2) as the writer is written to. What is written before the
   * handler returns is sent right after the response headers; the response ends when
   * the writer is ended (or the client goes away). Calling it again returns the same
   * writer. If the call fails, the error response is sent instead and writes fail.
   */
  progressive(): ProgressiveWriter {
    this.writer ??= new ProgressiveWriter();
    return this.writer;
  }

  /**
   * Answer with server-sent events: sets `Content-Type: text/event-stream` and
   * `Cache-Control: no-cache` (unless set) and returns an event writer over
   * {@link progressive}.
   */
  sse(): SseWriter {
    if (this.getHeader("content-type") === undefined) this.setHeader("Content-Type", "text/event-stream");
    if (this.getHeader("cache-control") === undefined) this.setHeader("Cache-Control", "no-cache");
    return new SseWriter(this.progressive());
  }
}

const EMPTY = Buffer.alloc(0);

function bytesOf(chunk: string | Uint8Array): Buffer {
  if (typeof chunk === "string") return Buffer.from(chunk, "utf8");
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * The body of a progressive response (brpc `ProgressiveAttachment`). `write()` resolves
 * once the chunk is accepted (waiting while the socket's buffer is full) and rejects with
 * an RpcError (ECONNRESET) when the client went away or the response can no longer be
 * written; `signal` aborts then.
 */
export class ProgressiveWriter {
  #res: AnyResponse | undefined;
  #pending: Buffer[] = [];
  #ended = false;
  #closed = false;
  #error: RpcError | undefined;
  #drainWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  readonly #ac = new AbortController();
  /** @internal called on every chunk written (keeps the connection from looking idle). */
  onActivity: (() => void) | undefined;

  /** Aborted when the response can no longer be written (client gone, call failed). */
  get signal(): AbortSignal {
    return this.#ac.signal;
  }

  /** True once ended or broken. */
  get closed(): boolean {
    return this.#ended || this.#closed;
  }

  /** Append a chunk to the response body. */
  write(chunk: string | Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(this.#brokenError());
    if (this.#ended) return Promise.reject(new RpcError(ErrorCode.EINVAL, "write() after end()"));
    const b = bytesOf(chunk);
    if (b.length === 0) return Promise.resolve();
    const res = this.#res;
    if (res === undefined) {
      this.#pending.push(b);
      return Promise.resolve();
    }
    this.onActivity?.();
    if ((res as ServerResponse).write(b)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#drainWaiters.push({ resolve, reject });
    });
  }

  /** End the response (after writing `chunk`, if given). Resolves when the body is fully handed to the socket. */
  end(chunk?: string | Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(this.#brokenError());
    if (this.#ended) return Promise.resolve();
    if (chunk !== undefined) {
      const b = bytesOf(chunk);
      if (b.length > 0) this.#pending.push(b);
    }
    this.#ended = true;
    const res = this.#res;
    if (res === undefined) return Promise.resolve();
    return this.#finish(res);
  }

  #finish(res: AnyResponse): Promise<void> {
    const rest = this.#pending.length === 0 ? EMPTY : Buffer.concat(this.#pending);
    this.#pending = [];
    this.onActivity?.();
    return new Promise<void>((resolve) => (res as ServerResponse).end(rest, () => resolve()));
  }

  #brokenError(): RpcError {
    return this.#error ?? new RpcError(ErrorCode.ECONNRESET, "the client closed the response");
  }

  /** @internal the response headers were sent: start streaming to `res`. */
  attach(res: AnyResponse): void {
    if (this.#closed) return;
    this.#res = res;
    res.on("drain", () => {
      const w = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const x of w) x.resolve();
    });
    res.on("close", () => {
      if (!(res as ServerResponse).writableFinished) this.fail();
    });
    if (this.#ended) {
      void this.#finish(res);
      return;
    }
    if (this.#pending.length > 0) {
      const b = Buffer.concat(this.#pending);
      this.#pending = [];
      (res as ServerResponse).write(b);
    }
  }

  /** @internal the response can no longer be written. */
  fail(error?: RpcError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#error = error;
    this.#pending = [];
    const e = this.#brokenError();
    const w = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const x of w) x.reject(e);
    this.#ac.abort(e);
  }
}

/** One server-sent event. */
export interface SseEvent {
  /** The data; a multi-line string becomes several `data:` lines. */
  data: string;
  /** Event type (`event:`). */
  event?: string;
  /** Event id (`id:`). */
  id?: string;
  /** Reconnection time in ms (`retry:`). */
  retry?: number;
}

/** Writes server-sent events (text/event-stream) to a progressive response. */
export class SseWriter {
  readonly #w: ProgressiveWriter;

  constructor(w: ProgressiveWriter) {
    this.#w = w;
  }

  /** Aborted when the client went away. */
  get signal(): AbortSignal {
    return this.#w.signal;
  }

  get closed(): boolean {
    return this.#w.closed;
  }

  /** Send an event (a string is sent as its data). */
  send(event: string | SseEvent): Promise<void> {
    const e = typeof event === "string" ? { data: event } : event;
    let s = "";
    if (e.event !== undefined) s += `event: ${e.event.replace(/[\r\n]/g, "")}\n`;
    if (e.id !== undefined) s += `id: ${e.id.replace(/[\r\n]/g, "")}\n`;
    if (e.retry !== undefined) s += `retry: ${Math.trunc(e.retry)}\n`;
    for (const line of e.data.split(/\r\n|\r|\n/)) s += `data: ${line}\n`;
    return this.#w.write(`${s}\n`);
  }

  /** Send a comment line (": text"), e.g. as a keep-alive. */
  comment(text: string): Promise<void> {
    return this.#w.write(`: ${text.replace(/[\r\n]/g, " ")}\n\n`);
  }

  /** End the stream. */
  end(): Promise<void> {
    return this.#w.end();
  }
}
