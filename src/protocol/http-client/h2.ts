/**
 * One h2 attempt of a ClientCall on the channel's node:http2 session: `h2[:json|:proto]`
 * calls (HTTP semantics, brpc's `HTTP/2.0 <status>` errors) and `h2:grpc[+json]` calls,
 * unary and streaming (grpc-status trailers, the gRPC -> brpc status mapping,
 * length-prefixed messages, gzip).
 */
import { STATUS_CODES } from "node:http";
import { type ClientHttp2Stream, constants as h2c, type IncomingHttpHeaders } from "node:http2";
import { gzipSync } from "node:zlib";
import type { CallAttempt, ClientCall } from "../../client/call.js";
import { ErrorCode, errnoFromNodeError } from "../../errors/errno.js";
import { RpcError } from "../../errors/rpc-error.js";
import type { HttpClientSpec, OutgoingRequest } from "./channel-protocol.js";
import { encodeMessage } from "./content.js";
import { H2ResponseBody } from "./h2-response.js";
import { headersRecord } from "./response.js";
import { pumpRequests, type RequestSink, type StreamExchange } from "./streaming.js";
import type { H2Conn, H2Transport } from "./transport.js";

/** Frame one gRPC message (1-byte compressed flag, uint32 BE length), gzipped when asked. */
export function grpcFrame(call: ClientCall, spec: HttpClientSpec, msg: unknown, gzip: boolean): Buffer {
  const framed = encodeMessage(call.method.input, msg, spec.format, spec.contentType, 5);
  if (!gzip) {
    framed.writeUInt32BE(framed.length - 5, 1);
    return framed;
  }
  const packed = gzipSync(framed.subarray(5));
  const out = Buffer.allocUnsafe(5 + packed.length);
  out[0] = 1;
  out.writeUInt32BE(packed.length, 1);
  packed.copy(out, 5);
  return out;
}

/** brpc's `H2ErrorToStatusCode`: the HTTP status a client reports for a RST_STREAM code. */
export function h2ErrorToStatus(code: number): number {
  switch (code) {
    case h2c.NGHTTP2_NO_ERROR:
      return 200;
    case h2c.NGHTTP2_SETTINGS_TIMEOUT:
      return 504;
    case h2c.NGHTTP2_STREAM_CLOSED:
      return 400;
    case h2c.NGHTTP2_REFUSED_STREAM:
    case h2c.NGHTTP2_CANCEL:
    case h2c.NGHTTP2_ENHANCE_YOUR_CALM:
      return 503;
    case h2c.NGHTTP2_INADEQUATE_SECURITY:
      return 401;
    case h2c.NGHTTP2_HTTP_1_1_REQUIRED:
      return 505;
    default:
      return 500;
  }
}

/** The attempt an h2 stream carries. */
const kAttempt = Symbol("h2Attempt");
type Tagged = { [kAttempt]: H2Attempt };

function attemptOf(s: ClientHttp2Stream): H2Attempt {
  return (s as unknown as Tagged)[kAttempt];
}

function onStreamClose(this: ClientHttp2Stream): void {
  attemptOf(this).onClose();
}

function onStreamResponse(this: ClientHttp2Stream, h: IncomingHttpHeaders): void {
  attemptOf(this).onResponse(h);
}

function onStreamData(this: ClientHttp2Stream, d: Buffer): void {
  attemptOf(this).onData(d);
}

function onStreamTrailers(this: ClientHttp2Stream, h: IncomingHttpHeaders): void {
  attemptOf(this).onTrailers(h);
}

function onStreamEnd(this: ClientHttp2Stream): void {
  attemptOf(this).onEnd();
}

function onStreamError(this: ClientHttp2Stream, err: Error): void {
  attemptOf(this).onError(err);
}

/** An h2 stream carrying one attempt of a call. */
export class H2Attempt implements CallAttempt {
  readonly call: ClientCall;
  readonly #spec: HttpClientSpec;
  readonly #ex: StreamExchange | undefined;
  readonly #conn: H2Conn | undefined;
  readonly #stream: ClientHttp2Stream | undefined;
  #ended = false;
  #reported = false;
  /** The response ended normally (no RST_STREAM needed). */
  #complete = false;
  readonly #res: H2ResponseBody;

  constructor(call: ClientCall, spec: HttpClientSpec, t: H2Transport, out: OutgoingRequest) {
    this.call = call;
    this.#spec = spec;
    this.#ex = out.exchange;
    this.#res = new H2ResponseBody(call, spec.grpc, out.exchange, call.channel.options.maxBodySize);
    call.attempt = this;
    const left = call.remainingMs();
    const connectTimeout = call.channel.options.connectTimeoutMs;
    let conn: H2Conn;
    let stream: ClientHttp2Stream;
    const headers: Record<string, string> = { ":method": "POST", ":path": out.path };
    const given = out.headers;
    for (const k in given) headers[k.toLowerCase()] = given[k] as string;
    let c: H2Conn | undefined;
    try {
      c = t.conn(left === undefined ? connectTimeout : Math.min(connectTimeout, left));
      conn = c;
      stream = conn.session.request(headers, { endStream: false });
    } catch (err) {
      this.#conn = undefined;
      this.#stream = undefined;
      const e = err as Error & { code?: string };
      const bad = e.code === "ERR_HTTP2_INVALID_HEADER_VALUE" || e.code === "ERR_INVALID_HTTP_TOKEN";
      if (e.code === "ERR_HTTP2_OUT_OF_STREAMS" && c !== undefined) {
        // Stream ids ran out: the next attempt opens a new session (brpc EH2RUNOUTSTREAMS).
        c.dead = true;
        this.#report(() =>
          this.#failAttempt(ErrorCode.EH2RUNOUTSTREAMS, `Fail to allocate stream_id on ${t.address}`),
        );
        return;
      }
      this.#report(() =>
        bad || e instanceof TypeError
          ? call.fail(ErrorCode.EREQUEST, `Bad h2 request: ${e.message}`, false)
          : this.#failAttempt(
              ErrorCode.EFAILEDSOCKET,
              `Fail to create h2 stream to ${t.address}: ${e.message}`,
            ),
      );
      return;
    }
    this.#conn = conn;
    this.#stream = stream;
    conn.streamOpened();
    // Module-level listeners find the attempt on the stream: no closures per call.
    (stream as unknown as Tagged)[kAttempt] = this;
    stream.once("close", onStreamClose);
    stream.on("response", onStreamResponse);
    stream.on("data", onStreamData);
    stream.on("trailers", onStreamTrailers);
    stream.on("end", onStreamEnd);
    stream.on("error", onStreamError);
    const ex = this.#ex;
    ex?.output?.attach({
      pause: () => stream.pause(),
      resume: () => stream.resume(),
      cancel: () =>
        this.#report(() =>
          call.fail(ErrorCode.ECANCELED, `Canceled by the reader @${call.remoteSide}`, false),
        ),
    });
    if (out.body !== undefined) stream.end(out.body);
    else if (ex !== undefined) void this.#pump(stream, ex, out.gzip);
    else stream.end();
  }

  /** [CallAttempt] */
  end(_responded: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    const s = this.#stream;
    if (s === undefined || s.closed) return;
    // Unfinished: cancel. Finished while requests were still going out (a server that
    // answered a client stream early): close our half too, or the stream stays open.
    if (!this.#complete) s.close(h2c.NGHTTP2_CANCEL);
    else if (!s.writableEnded) s.close(h2c.NGHTTP2_NO_ERROR);
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

  /** Send the requests of a client/bidi-streaming call, honouring flow control. */
  #pump(stream: ClientHttp2Stream, ex: StreamExchange, gzip: boolean): Promise<void> {
    const live = (): boolean => this.#live;
    const sink: RequestSink = {
      get open() {
        return live() && !stream.destroyed;
      },
      send(frame) {
        if (stream.write(frame)) return undefined;
        return new Promise<void>((resolve) => {
          const go = () => {
            stream.off("drain", go);
            stream.off("close", go);
            resolve();
          };
          stream.on("drain", go);
          stream.on("close", go);
        });
      },
      end() {
        if (!stream.destroyed && !stream.writableEnded) stream.end();
      },
    };
    return pumpRequests(
      ex.input,
      (msg) => grpcFrame(this.call, this.#spec, msg, gzip),
      sink,
      (text) => this.#report(() => this.call.fail(ErrorCode.EREQUEST, text, false)),
    );
  }

  /** @internal the stream closed. */
  onClose(): void {
    (this.#conn as H2Conn).streamClosed();
    this.#onClose();
  }

  /** @internal the response trailers. */
  onTrailers(h: IncomingHttpHeaders): void {
    headersRecord(h, this.#res.headers);
  }

  /** @internal the response headers. */
  onResponse(h: IncomingHttpHeaders & { ":status"?: number }): void {
    const conn = this.#conn as H2Conn;
    if (this.#live) {
      this.call.remoteSide = conn.remoteSide;
      this.call.localSide = conn.localSide;
    }
    headersRecord(h, this.#res.headers);
    this.#res.start(Number(h[":status"] ?? 0));
  }

  /** @internal a DATA chunk of the response. */
  onData(d: Buffer): void {
    if (!this.#live) return;
    const failed = this.#res.push(d);
    if (failed !== undefined) this.#report(failed);
  }

  /** @internal the response ended. */
  onEnd(): void {
    // Without headers the stream ended because it was torn down: 'close' reports it.
    if (this.#res.status === 0) return;
    this.#complete = true;
    if (!this.#live) return;
    this.#report(this.#res.finish());
  }

  /** @internal the stream failed. */
  onError(err: Error & { code?: string; cause?: unknown }): void {
    if (!this.#live) return;
    const s = this.#stream as ClientHttp2Stream;
    if (err.code === "ERR_HTTP2_STREAM_ERROR" && s.rstCode !== undefined) {
      this.#onReset(s.rstCode);
      return;
    }
    if (err.code === "ERR_HTTP2_OUT_OF_STREAMS") {
      (this.#conn as H2Conn).dead = true;
      this.#report(() =>
        this.#failAttempt(ErrorCode.EH2RUNOUTSTREAMS, `Fail to allocate stream_id: ${err.message}`),
      );
      return;
    }
    const cause = err.cause instanceof Error ? err.cause : err;
    if (cause instanceof RpcError) {
      this.#report(() => this.#failAttempt(cause.code, cause.text));
      return;
    }
    const conn = this.#conn as H2Conn;
    const code = errnoFromNodeError(cause);
    const text = conn.connected
      ? `${cause.message} (${conn.remoteSide})`
      : `Fail to connect ${conn.remoteSide}: ${cause.message}`;
    this.#report(() => this.#failAttempt(code, text));
  }

  /** The peer reset the stream: brpc reports the HTTP status of the h2 error code. */
  #onReset(rstCode: number): void {
    const status = h2ErrorToStatus(rstCode);
    const text = `HTTP/2.0 ${status} ${STATUS_CODES[status] ?? "Unknown"}`;
    this.#report(() => this.call.fail(ErrorCode.EHTTP, text, false, false));
  }

  #onClose(): void {
    if (!this.#live) return;
    if (this.#complete) return;
    const s = this.#stream as ClientHttp2Stream;
    const sessionAlive = !(this.#conn as H2Conn).session.destroyed;
    if (sessionAlive && s.rstCode !== undefined && s.rstCode !== h2c.NGHTTP2_NO_ERROR) {
      this.#onReset(s.rstCode);
      return;
    }
    this.#report(() =>
      this.#failAttempt(
        ErrorCode.EFAILEDSOCKET,
        `h2 stream to ${this.call.remoteSide} closed before the response ended`,
      ),
    );
  }
}
