/**
 * A plain HTTP client, like brpc's http client (`Channel` with protocol http and
 * `cntl.http_request().uri()`): any URL, method, headers and body, with brpc-ts's
 * deadline, retries, cancellation and error codes, and progressive reading of long or
 * chunked responses. Runs as an ordinary ClientCall on node:http / node:https.
 *
 *   const res = await httpRequest("http://127.0.0.1:8000/path?x=1");
 *   res.status; res.headers; res.body.toString();
 */
import type { Agent, IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from "node:http";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { ClientCall } from "../../client/call.js";
import type { ChannelCore, ConnectionSource, ResolvedChannelOptions } from "../../client/channel-core.js";
import type { Controller } from "../../client/controller.js";
import { ClientMethod } from "../../client/method.js";
import { ErrorCode, errnoFromNodeError, RETRYABLE_BY_DEFAULT } from "../../errors/errno.js";
import { RpcError } from "../../errors/rpc-error.js";
import { type TimerHandle, timers } from "../../io/timers.js";
import { DEFAULT_MAX_BODY_SIZE } from "../../transport/connection.js";
import { type ClientTlsOptions, tlsConnectOptions } from "../../transport/tls.js";
import { ParseError, type Protocol } from "../protocol.js";
import { Http1Attempt, type Http1Handler } from "./http1.js";
import { httpErrorText } from "./response.js";

/** Options of {@link httpRequest}. Defaults follow brpc's ChannelOptions. */
export interface HttpRequestOptions {
  /** HTTP method; default GET, or POST when there is a body. */
  method?: string;
  /** Request headers. `Accept: *\/*` and `User-Agent: brpc/1.0 curl/7.0` are added unless given. */
  headers?: OutgoingHttpHeaders;
  /** Request body (a string is sent as UTF-8). */
  body?: string | Uint8Array;
  /** Deadline of the whole request (progressive: until the headers arrived), ms; default 500, -1 = none. */
  timeoutMs?: number;
  /** Connect timeout in ms, capped by the deadline; default 200. */
  connectTimeoutMs?: number;
  /** Retries of connection-level failures (ECONNREFUSED, ECONNRESET ...); default 3, as brpc. */
  maxRetry?: number;
  /** Cancels the request (ECANCELED), also while a progressive body is being read. */
  signal?: AbortSignal;
  /** Resolve once the headers arrived; `body` is then an AsyncIterable of chunks. */
  progressive?: boolean;
  /** Progressive reading: fail with EPROGREADTIMEOUT when no data arrives for this long (ms). */
  readTimeoutMs?: number;
  /** Largest (non-progressive) body accepted, default 64 MiB (ERESPONSE above). */
  maxBodySize?: number;
  /** Reject non-2xx responses with EHTTP and brpc's text (`HTTP/1.1 404 Not Found: <body>`). Default false. */
  throwOnHttpError?: boolean;
  /** Receives latency, remote side, status and headers (and the body of EHTTP failures). */
  controller?: Controller;
  /** Agent to use; default a shared keep-alive agent per scheme (per `tls` object for https). */
  agent?: Agent;
  /**
   * TLS settings of https:// URLs: `ca`, `cert`/`key` (mutual TLS), `sniName`,
   * `rejectUnauthorized` ... (see docs/tls.md). Requests given the same object share a
   * keep-alive agent. Default: verify against the system CAs.
   */
  tls?: ClientTlsOptions;
}

/** A response of {@link httpRequest}. */
export interface HttpResponse<B = Buffer> {
  status: number;
  statusText: string;
  /** "1.1" or "1.0". */
  httpVersion: string;
  headers: IncomingHttpHeaders;
  /** Server address the response came from. */
  remoteSide: string;
  body: B;
}

/** The body of a progressive response: read it with `for await`, or give it up with `cancel()`. */
export class ProgressiveBody implements AsyncIterable<Buffer> {
  readonly #res: IncomingMessage;
  readonly #remote: string;
  readonly #readTimeoutMs: number | undefined;
  #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined = undefined;
  #timer: TimerHandle | undefined = undefined;
  #used = false;

  /** @internal */
  constructor(res: IncomingMessage, remote: string, signal: AbortSignal | undefined, readTimeoutMs?: number) {
    this.#res = res;
    this.#remote = remote;
    this.#readTimeoutMs = readTimeoutMs;
    res.pause();
    if (signal !== undefined) {
      this.#signal = signal;
      this.#onAbort = () => this.#res.destroy(new RpcError(ErrorCode.ECANCELED, `Canceled @${remote}`));
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
    res.once("close", () => this.#cleanup());
  }

  #cleanup(): void {
    timers.cancel(this.#timer);
    if (this.#onAbort !== undefined) this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#onAbort = undefined;
    this.#signal = undefined;
  }

  #armReadTimer(): void {
    const ms = this.#readTimeoutMs;
    if (ms === undefined || ms < 0) return;
    timers.cancel(this.#timer);
    this.#timer = timers.after(
      ms,
      () =>
        this.#res.destroy(
          new RpcError(
            ErrorCode.EPROGREADTIMEOUT,
            `Progressive read timed out: no data for ${ms}ms @${this.#remote}`,
          ),
        ),
      undefined,
    );
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    if (this.#used) throw new RpcError(ErrorCode.EINVAL, "A progressive body can be read once");
    this.#used = true;
    const res = this.#res;
    this.#armReadTimer();
    try {
      for await (const chunk of res) {
        this.#armReadTimer();
        yield chunk as Buffer;
      }
      if (!res.complete) {
        throw new RpcError(ErrorCode.EFAILEDSOCKET, `Connection to ${this.#remote} closed mid-response`);
      }
    } catch (err) {
      if (err instanceof RpcError) throw err;
      throw new RpcError(
        errnoFromNodeError(err),
        `Fail to read the body from ${this.#remote}: ${(err as Error).message}`,
      );
    } finally {
      this.#cleanup();
      // Leaving early (break) closes the connection; a completed one goes back to the pool.
      if (!res.complete) res.destroy();
    }
  }

  /** The whole (remaining) body. */
  async bytes(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of this) chunks.push(c);
    return Buffer.concat(chunks);
  }

  /** Stop reading and close the connection. */
  cancel(): void {
    this.#cleanup();
    if (!this.#res.complete) this.#res.destroy();
  }
}

/** A request as carried by its ClientCall. */
interface PlainRequest {
  url: URL;
  tls: boolean;
  agent: Agent;
  method: string;
  headers: OutgoingHttpHeaders;
  body: Uint8Array | undefined;
  progressive: boolean;
  readTimeoutMs: number | undefined;
  throwOnHttpError: boolean;
  signal: AbortSignal | undefined;
}

const defaultAgents = {
  http: new HttpAgent({ keepAlive: true }),
  https: new HttpsAgent({ keepAlive: true }),
};

/** Keep-alive https agents of the `tls` objects given to {@link httpRequest}. */
const tlsAgents = new WeakMap<ClientTlsOptions, Agent>();

function httpsAgentOf(tls: ClientTlsOptions | undefined): Agent {
  if (tls === undefined) return defaultAgents.https;
  let a = tlsAgents.get(tls);
  if (a === undefined) {
    a = new HttpsAgent({ keepAlive: true, ...tlsConnectOptions(tls, undefined, undefined) });
    tlsAgents.set(tls, a);
  }
  return a;
}

function responseOf<B>(res: IncomingMessage, remote: string, body: B): HttpResponse<B> {
  return {
    status: res.statusCode ?? 0,
    statusText: res.statusMessage ?? "",
    httpVersion: res.httpVersion,
    headers: res.headers,
    remoteSide: remote,
    body,
  };
}

function fillController(call: ClientCall, res: IncomingMessage): void {
  const cntl = call.cntl;
  if (cntl === undefined) return;
  cntl.httpStatusCode = res.statusCode ?? 0;
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) {
    if (v !== undefined) h[k] = Array.isArray(v) ? v.join(", ") : v;
  }
  cntl.httpResponseHeaders = h;
}

const EMPTY = Buffer.alloc(0);

const handler: Http1Handler = {
  onHeaders(a, res) {
    const r = a.call.request as PlainRequest;
    if (!r.progressive) return false;
    const status = res.statusCode ?? 0;
    // brpc fails non-2xx progressive reads with the body prefix as text: read it whole.
    if (r.throwOnHttpError && (status < 200 || status >= 300)) return false;
    fillController(a.call, res);
    a.handOff();
    const body = new ProgressiveBody(res, a.call.remoteSide, r.signal, r.readTimeoutMs);
    a.call.complete(responseOf(res, a.call.remoteSide, body), EMPTY, undefined, 0);
    return true;
  },
  onBody(a, res, body) {
    const call = a.call;
    const r = call.request as PlainRequest;
    fillController(call, res);
    const status = res.statusCode ?? 0;
    if (r.throwOnHttpError && (status < 200 || status >= 300)) {
      if (call.cntl !== undefined) call.cntl.responseAttachment = body;
      const text = httpErrorText(res.httpVersion, status, res.statusMessage ?? "", body);
      call.fail(ErrorCode.EHTTP, text, false, true);
      return;
    }
    call.complete(responseOf(res, call.remoteSide, body), EMPTY, undefined, 0);
  },
};

const plainProtocol: Protocol = {
  name: "http-request",
  parse: () => ParseError.TRY_OTHERS,
  startAttempt(call: ClientCall): void {
    const r = call.request as PlainRequest;
    const u = r.url;
    const left = call.remainingMs();
    const connectTimeout = call.channel.options.connectTimeoutMs;
    const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
    new Http1Attempt(
      call,
      {
        agent: r.agent,
        tls: r.tls,
        endpoint: { kind: "tcp", host, port: Number(u.port || (r.tls ? 443 : 80)) },
        address: u.host,
        method: r.method,
        path: `${u.pathname}${u.search}`,
        headers: r.headers,
        body: r.body,
        connectTimeoutMs: left === undefined ? connectTimeout : Math.min(connectTimeout, left),
        maxBodySize: call.channel.options.maxBodySize,
      },
      handler,
    );
  },
};

/** Plain requests get no brpc connections. */
const noConnections: ConnectionSource = {
  ready: () => undefined,
  acquire: () => Promise.reject(new RpcError(ErrorCode.EINVAL, "no connections")),
  release: () => {},
  close: () => {},
};

const method = new ClientMethod("http", "request", undefined);

function retryable(code: number): boolean {
  return code !== ErrorCode.ERPCTIMEDOUT && code !== ErrorCode.ECANCELED && RETRYABLE_BY_DEFAULT.has(code);
}

/** Send one HTTP request; resolves with the whole response (any status unless `throwOnHttpError`). */
export function httpRequest(
  url: string | URL,
  opts: HttpRequestOptions & { progressive: true },
): Promise<HttpResponse<ProgressiveBody>>;
export function httpRequest(url: string | URL, opts?: HttpRequestOptions): Promise<HttpResponse<Buffer>>;
export function httpRequest(
  url: string | URL,
  opts: HttpRequestOptions = {},
): Promise<HttpResponse<Buffer> | HttpResponse<ProgressiveBody>> {
  let u: URL;
  try {
    u = typeof url === "string" ? new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`) : url;
    if (u.protocol !== "http:" && u.protocol !== "https:") {
      throw new Error(`unsupported scheme ${u.protocol} (use http or https)`);
    }
  } catch (err) {
    return Promise.reject(new RpcError(ErrorCode.EINVAL, `Invalid url: ${(err as Error).message}`));
  }
  const tls = u.protocol === "https:";
  const body = typeof opts.body === "string" ? Buffer.from(opts.body, "utf8") : opts.body;
  const headers: OutgoingHttpHeaders = { ...opts.headers };
  const has = (name: string) => Object.keys(headers).some((k) => k.toLowerCase() === name);
  if (!has("accept")) headers.Accept = "*/*";
  if (!has("user-agent")) headers["User-Agent"] = "brpc/1.0 curl/7.0";
  if (body !== undefined && !has("content-length") && !has("transfer-encoding")) {
    headers["Content-Length"] = String(body.length);
  }
  const request: PlainRequest = {
    url: u,
    tls,
    agent: opts.agent ?? (tls ? httpsAgentOf(opts.tls) : defaultAgents.http),
    method: (opts.method ?? (body !== undefined ? "POST" : "GET")).toUpperCase(),
    headers,
    body,
    progressive: opts.progressive === true,
    readTimeoutMs: opts.readTimeoutMs,
    throwOnHttpError: opts.throwOnHttpError === true,
    signal: opts.signal,
  };
  const options: ResolvedChannelOptions = {
    timeoutMs: opts.timeoutMs ?? 500,
    maxRetry: opts.maxRetry ?? 3,
    compressType: 0,
    checksum: false,
    contentType: 0,
    connectTimeoutMs: opts.connectTimeoutMs ?? 200,
    maxBodySize: opts.maxBodySize ?? DEFAULT_MAX_BODY_SIZE,
    maxUnwrittenBytes: 0,
    maxPoolSize: 0,
    deliverTimeoutMs: false,
    writeStallTimeoutMs: 0,
    keepAliveMs: 0,
  };
  const core: ChannelCore = {
    options,
    source: noConnections,
    protocol: plainProtocol,
    address: u.host,
    retryable,
  };
  const call = new ClientCall(core, method, request, {
    signal: opts.signal,
    controller: opts.controller,
    timeoutMs: options.timeoutMs,
    maxRetry: options.maxRetry,
  });
  if (!call.done) call.issue();
  return call.promise as Promise<HttpResponse<Buffer>>;
}
