/**
 * One h2 attempt of a ClientCall on the builtin HTTP/2 engine ({@link H2ClientConn}):
 * the same behaviour as the node:http2 attempt (`http-client/h2.ts`) — `h2[:json|:proto]`
 * and `h2:grpc[+json]` calls, unary and streaming, brpc's error mapping — driven by the
 * session's callbacks instead of ClientHttp2Stream events.
 */
import { STATUS_CODES } from "node:http";
import type { CallAttempt, ClientCall } from "../../client/call.js";
import { ErrorCode } from "../../errors/errno.js";
import type { HttpClientSpec, OutgoingRequest } from "../http-client/channel-protocol.js";
import { grpcFrame, h2ErrorToStatus } from "../http-client/h2.js";
import { H2ResponseBody } from "../http-client/h2-response.js";
import { pumpRequests, type RequestSink, type StreamExchange } from "../http-client/streaming.js";
import type { H2ClientConn, H2ClientStreamUser } from "./client-session.js";
import { H2ErrorCode } from "./frame.js";

const EMPTY = Buffer.alloc(0);

/** What the transport gives an attempt. */
export interface H2ConnProvider {
  readonly address: string;
  /** The connection to open a stream on (connecting within `connectTimeoutMs`). */
  builtinConn(connectTimeoutMs: number): H2ClientConn;
}

/** A header name node:http2 would accept: an RFC 9110 token (we lower-case it). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
/** Field values may not contain NUL, CR or LF (RFC 9113 §8.2.1). */
const BAD_VALUE = /[\0\r\n]/;
/** Header values already checked (bounded: the constant ones of every request fill it first). */
const goodValues = new Set<string>();
/** Header names already lower-cased and checked (bounded). */
const goodNames = new Map<string, string>();

function headerName(k: string): string {
  const hit = goodNames.get(k);
  if (hit !== undefined) return hit;
  const name = k.toLowerCase();
  if (!TOKEN.test(name)) throw new TypeError(`Invalid header name "${k}"`);
  if (goodNames.size < 1024) goodNames.set(k, name);
  return name;
}

/** Request headers as a flat list: pseudo-headers first, names lower-cased. Throws a TypeError for invalid ones. */
function requestHeaders(conn: H2ClientConn, out: OutgoingRequest): string[] {
  const h: string[] = [
    ":method",
    "POST",
    ":scheme",
    conn.scheme,
    ":authority",
    conn.authority,
    ":path",
    out.path,
  ];
  const given = out.headers;
  for (const k in given) {
    const v = String(given[k]);
    if (!goodValues.has(v)) {
      if (BAD_VALUE.test(v)) throw new TypeError(`Invalid value for header "${k}"`);
      if (goodValues.size < 1024) goodValues.add(v);
    }
    h.push(headerName(k), v);
  }
  return h;
}

/** An h2 stream of the builtin engine carrying one attempt of a call. */
export class BuiltinH2Attempt implements CallAttempt, H2ClientStreamUser {
  readonly call: ClientCall;
  readonly #spec: HttpClientSpec;
  readonly #ex: StreamExchange | undefined;
  readonly #out: OutgoingRequest;
  #conn: H2ClientConn | undefined = undefined;
  #id = 0;
  #ended = false;
  #reported = false;
  /** The stream is open in the session (between open and onClosed). */
  #open = false;
  /** We sent END_STREAM. */
  #sentEnd = false;
  /** The response ended normally. */
  #complete = false;
  readonly #res: H2ResponseBody;
  /** Streaming responses: the consumer paused; bytes not yet acknowledged. */
  #paused = false;
  #unacked = 0;
  /** Streaming requests: wakes the pump after a drain or the end. */
  #wake: (() => void) | undefined = undefined;

  constructor(call: ClientCall, spec: HttpClientSpec, t: H2ConnProvider, out: OutgoingRequest) {
    this.call = call;
    this.#spec = spec;
    this.#ex = out.exchange;
    this.#out = out;
    this.#res = new H2ResponseBody(call, spec.grpc, out.exchange, call.channel.options.maxBodySize);
    call.attempt = this;
    const left = call.remainingMs();
    const connectTimeout = call.channel.options.connectTimeoutMs;
    let conn: H2ClientConn;
    try {
      conn = t.builtinConn(left === undefined ? connectTimeout : Math.min(connectTimeout, left));
    } catch (err) {
      this.#report(() =>
        this.#failAttempt(
          ErrorCode.EFAILEDSOCKET,
          `Fail to create h2 stream to ${t.address}: ${(err as Error).message}`,
        ),
      );
      return;
    }
    this.#conn = conn;
    const ex = this.#ex;
    ex?.output?.attach(this);
    conn.enqueue(this);
  }

  /** [H2ClientStreamUser] */
  get over(): boolean {
    return this.#ended || this.#reported;
  }

  /** [H2ClientStreamUser] open the stream and send the request. */
  startOn(conn: H2ClientConn): void {
    if (this.over) return;
    const out = this.#out;
    let headers: string[];
    try {
      headers = requestHeaders(conn, out);
    } catch (err) {
      this.#report(() =>
        this.call.fail(ErrorCode.EREQUEST, `Bad h2 request: ${(err as Error).message}`, false),
      );
      return;
    }
    const body = out.body;
    const endNow = body !== undefined && body.length === 0;
    const id = conn.open(this, headers, endNow);
    if (id === 0) return;
    this.#id = id;
    this.#open = true;
    if (body !== undefined) {
      this.#sentEnd = true;
      if (!endNow) conn.session.sendData(id, body, true);
    } else if (this.#ex !== undefined) void this.#pump(conn, this.#ex, out.gzip);
  }

  /** [CallAttempt] */
  end(_responded: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#wakeUp();
    if (!this.#open) return;
    const conn = this.#conn as H2ClientConn;
    // Unfinished: cancel. Finished while requests were still going out: close our half too.
    if (!this.#complete) conn.session.reset(this.#id, H2ErrorCode.CANCEL);
    else if (!this.#sentEnd) conn.session.reset(this.#id, H2ErrorCode.NO_ERROR);
  }

  get #live(): boolean {
    return !this.#ended && !this.#reported;
  }

  #report(fn: () => void): void {
    if (this.#ended || this.#reported) return;
    this.#reported = true;
    fn();
  }

  /** A transport failure: retried by the call's policy, except for streaming calls. */
  #failAttempt(code: number, text: string): void {
    if (this.#ex !== undefined) this.call.fail(code, text, false);
    else this.call.onAttemptFailed(code, text);
  }

  #wakeUp(): void {
    const w = this.#wake;
    if (w !== undefined) {
      this.#wake = undefined;
      w();
    }
  }

  /** Send the requests of a client/bidi-streaming call, honouring flow control. */
  #pump(conn: H2ClientConn, ex: StreamExchange, gzip: boolean): Promise<void> {
    const s = conn.session;
    const id = this.#id;
    const open = (): boolean => this.#live && this.#open;
    const wait = (resolve: () => void): void => {
      this.#wake = resolve;
      if (s.queuedBytes(id) === 0) conn.socket.once("drain", () => this.#wakeUp());
    };
    const end = (): void => {
      if (!this.#open || this.#sentEnd) return;
      this.#sentEnd = true;
      s.sendData(id, EMPTY, true);
    };
    const sink: RequestSink = {
      get open() {
        return open();
      },
      send(frame) {
        s.sendData(id, frame, false);
        if (s.queuedBytes(id) === 0 && conn.socket.writableLength <= 1 << 20) return undefined;
        return new Promise<void>(wait);
      },
      end,
    };
    return pumpRequests(
      ex.input,
      (msg) => grpcFrame(this.call, this.#spec, msg, gzip),
      sink,
      (text) => this.#report(() => this.call.fail(ErrorCode.EREQUEST, text, false)),
    );
  }

  // ---- ResponseFlow (streaming responses) ----------------------------------------------

  /** @internal the consumer has too many messages waiting: stop acknowledging DATA. */
  pause(): void {
    this.#paused = true;
  }

  /** @internal the consumer caught up: acknowledge what was held back. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    const n = this.#unacked;
    this.#unacked = 0;
    if (n > 0 && this.#open) (this.#conn as H2ClientConn).session.consumed(this.#id, n);
  }

  /** @internal the consumer gave up. */
  cancel(): void {
    this.#report(() =>
      this.call.fail(ErrorCode.ECANCELED, `Canceled by the reader @${this.call.remoteSide}`, false),
    );
  }

  // ---- H2ClientStreamUser ------------------------------------------------------------

  onClosed(): void {
    this.#open = false;
    this.#wakeUp();
  }

  onDrain(): void {
    this.#wakeUp();
  }

  onConnFailure(code: number, text: string): void {
    this.#open = false;
    this.#wakeUp();
    if (!this.#live || this.#complete) return;
    this.#report(() => this.#failAttempt(code, text));
  }

  onReset(code: number): void {
    this.#open = false;
    this.#wakeUp();
    if (!this.#live || this.#complete) return;
    if (code === H2ErrorCode.NO_ERROR) {
      this.#report(() =>
        this.#failAttempt(
          ErrorCode.EFAILEDSOCKET,
          `h2 stream to ${this.call.remoteSide} closed before the response ended`,
        ),
      );
      return;
    }
    const status = h2ErrorToStatus(code);
    const text = `HTTP/2.0 ${status} ${STATUS_CODES[status] ?? "Unknown"}`;
    this.#report(() => this.call.fail(ErrorCode.EHTTP, text, false, false));
  }

  onHeaders(headers: string[], endStream: boolean): void {
    if (this.#res.status === 0) {
      let status = 0;
      for (let i = 0; i < headers.length; i += 2) {
        if (headers[i] === ":status") {
          status = Number(headers[i + 1]);
          break;
        }
      }
      if (status >= 100 && status < 200 && !endStream) return; // informational
      this.#onResponse(status, headers);
    } else {
      addHeaders(headers, this.#res.headers);
    }
    if (endStream) this.#onEnd();
  }

  #onResponse(status: number, headers: string[]): void {
    const conn = this.#conn as H2ClientConn;
    if (this.#live) {
      this.call.remoteSide = conn.remoteSide;
      this.call.localSide = conn.localSide;
    }
    addHeaders(headers, this.#res.headers);
    this.#res.start(status);
  }

  onData(d: Buffer, endStream: boolean): void {
    const n = d.length;
    if (this.#paused && this.#live) this.#unacked += n;
    else if (n > 0) (this.#conn as H2ClientConn).session.consumed(this.#id, n);
    if (this.#live && n > 0) {
      const failed = this.#res.push(d);
      if (failed !== undefined) this.#report(failed);
    }
    if (endStream) this.#onEnd();
  }

  #onEnd(): void {
    if (this.#res.status === 0) {
      // DATA ended a stream that had no response headers: the peer broke the protocol.
      this.#report(() =>
        this.#failAttempt(ErrorCode.ERESPONSE, `h2 response without headers from ${this.call.remoteSide}`),
      );
      return;
    }
    this.#complete = true;
    if (!this.#live) return;
    this.#report(this.#res.finish());
  }
}

/**
 * Add a flat header list to `into` as node:http2 presents them: pseudo-headers left out,
 * repeated fields joined with ", ".
 */
function addHeaders(headers: readonly string[], into: Record<string, string>): void {
  for (let i = 0; i < headers.length; i += 2) {
    const k = headers[i] as string;
    if (k.charCodeAt(0) === 0x3a) continue;
    const v = headers[i + 1] as string;
    const prev = into[k];
    // Repeated in this block: joined; from an earlier block (trailers): replaced.
    into[k] = prev !== undefined && repeated(headers, i, k) ? `${prev}, ${v}` : v;
  }
}

/** Does `k` occur before index `i` of `headers`. */
function repeated(headers: readonly string[], i: number, k: string): boolean {
  for (let j = i - 2; j >= 0; j -= 2) if (headers[j] === k) return true;
  return false;
}
