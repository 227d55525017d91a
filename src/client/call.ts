/**
 * One client call from issue to completion: connection, correlation id, deadline,
 * retries, cancellation. Completes exactly once, whatever happens in which order.
 */
import { ErrorCode } from "../errors/errno.js";
import { RpcError } from "../errors/rpc-error.js";
import { now, TimerEntry, timers } from "../io/timers.js";
import type { StreamSettings } from "../protocol/baidu-std/meta.js";
import { compressTypeOf } from "../protocol/compress.js";
import { wireIdOf } from "../protocol/streaming-rpc/meta.js";
import type { Span } from "../rpcz/span.js";
import { rpczState } from "../rpcz/store.js";
import { beginClientSpan, clientSpanSent, endClientSpan } from "../rpcz/trace.js";
import type { Stream } from "../stream/stream.js";
import type { Connection, PendingCall } from "../transport/connection.js";
import type { CallOptions, ChannelCore } from "./channel-core.js";
import type { ChannelMethodStatus } from "./channel-status.js";
import type { Controller } from "./controller.js";
import type { ClientMethod } from "./method.js";
import { RequestError } from "./request-error.js";

const EMPTY = Buffer.alloc(0);
let nextCorrelationId = 1;

let capturedResolve: (v: unknown) => void = () => {};
let capturedReject: (e: unknown) => void = () => {};
function captureResolvers(resolve: (v: unknown) => void, reject: (e: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/**
 * The in-flight attempt of a call whose protocol has `startAttempt` (HTTP, h2, gRPC).
 * `end` is called once when the attempt is over for the call (it failed, the call
 * completed, timed out or was canceled); `responded` says whether a whole response came
 * back. An attempt that is still running must abort its request.
 */
export interface CallAttempt {
  end(responded: boolean): void;
}

/** A call in flight. Protocols read its request fields and complete it. */
export class ClientCall extends TimerEntry implements PendingCall {
  readonly channel: ChannelCore;
  readonly method: ClientMethod;
  readonly request: unknown;
  readonly cntl: Controller | undefined;
  readonly timeoutMs: number;
  readonly maxRetry: number;
  readonly logId: bigint | undefined;
  readonly requestId: string | undefined;
  readonly attachment: Uint8Array;
  readonly compressType: number;
  readonly checksum: boolean;
  readonly userFields: Record<string, string> | undefined;
  readonly contentType: number;
  readonly startTime: number;
  readonly promise: Promise<unknown>;
  /** Correlation id of the current attempt. */
  correlationId = 0;
  /** Connection of the current attempt. */
  conn: Connection | undefined = undefined;
  /** Attempt of a `startAttempt` protocol (undefined for connection-based protocols). */
  attempt: CallAttempt | undefined = undefined;
  /** Credential to send with this attempt (first request of an authenticated connection). */
  credential: Uint8Array | undefined = undefined;
  retried = 0;
  done = false;
  /** Where the call's outcome is recorded (the channel's metrics), if anywhere. */
  stats: ChannelMethodStatus | undefined = undefined;
  /** Streams created with this call (the first one carries the response). */
  readonly streams: Stream[] | undefined;
  /** The server's stream settings from the response, when it accepted the streams. */
  responseStreamSettings: StreamSettings | undefined = undefined;
  remoteSide: string;
  localSide = "";
  /** The call's rpcz span when it is traced (its ids go out with the request). */
  span: Span | undefined = undefined;
  #resolve!: (v: unknown) => void;
  #reject!: (e: unknown) => void;
  #errorText = "";
  #streamsRefused = false;
  #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;

  constructor(channel: ChannelCore, method: ClientMethod, request: unknown, opts: CallOptions | undefined) {
    super();
    this.channel = channel;
    this.method = method;
    this.request = request;
    const co = channel.options;
    const cntl = opts?.controller;
    this.cntl = cntl;
    this.timeoutMs = opts?.timeoutMs ?? cntl?.timeoutMs ?? co.timeoutMs;
    const streams = opts?.streams ?? (opts?.stream !== undefined ? [opts.stream] : undefined);
    this.streams = streams !== undefined && streams.length > 0 ? streams : undefined;
    // brpc forces max_retry=0 for calls that create streams.
    this.maxRetry = this.streams !== undefined ? 0 : (opts?.maxRetry ?? cntl?.maxRetry ?? co.maxRetry);
    const logId = opts?.logId ?? cntl?.logId;
    this.logId = logId === undefined ? undefined : BigInt(logId);
    this.requestId = opts?.requestId ?? cntl?.requestId;
    const att = opts?.attachment ?? cntl?.requestAttachment;
    this.attachment = att === undefined ? EMPTY : typeof att === "string" ? Buffer.from(att, "utf8") : att;
    const ct = opts?.compressType ?? cntl?.requestCompressType;
    this.compressType = ct === undefined ? co.compressType : compressTypeOf(ct);
    this.checksum = opts?.checksum ?? cntl?.requestChecksum ?? co.checksum;
    this.userFields = opts?.userFields ?? cntl?.requestUserFields;
    this.contentType = co.contentType;
    this.remoteSide = channel.address;
    this.startTime = now();
    if (rpczState.armed) this.span = beginClientSpan(this, opts?.parentSpan);
    // A shared executor: no closure per call.
    this.promise = new Promise(captureResolvers);
    this.#resolve = capturedResolve;
    this.#reject = capturedReject;
    const signal = opts?.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.fail(ErrorCode.ECANCELED, "Canceled before the call was issued", false);
        return;
      }
      this.#signal = signal;
      this.#onAbort = () => this.fail(ErrorCode.ECANCELED, `Canceled @${this.remoteSide}`, false);
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
    // The call is its own timer list node: a deadline costs no allocation.
    if (this.timeoutMs >= 0) timers.schedule(this, this.startTime + this.timeoutMs, this.timeoutMs);
  }

  /** [TimerEntry] The deadline passed. */
  onTimer(): void {
    this.fail(ErrorCode.ERPCTIMEDOUT, `Reached timeout=${this.timeoutMs}ms @${this.remoteSide}`, false);
  }

  /** Whole milliseconds left before the deadline, or undefined without a timeout. */
  remainingMs(): number | undefined {
    if (this.timeoutMs < 0) return undefined;
    return Math.max(1, Math.ceil(this.startTime + this.timeoutMs - now()));
  }

  /** Start (or restart, on retry) an attempt. */
  issue(): void {
    const protocol = this.channel.protocol;
    if (protocol.startAttempt !== undefined) {
      protocol.startAttempt(this);
      return;
    }
    const conn = this.channel.source.ready();
    if (conn !== undefined) {
      this.sendOn(conn);
      return;
    }
    const left = this.remainingMs();
    const connectTimeout = this.channel.options.connectTimeoutMs;
    this.channel.source.acquire(left === undefined ? connectTimeout : Math.min(connectTimeout, left)).then(
      (c) => this.sendOn(c),
      (err: unknown) => {
        const e = RpcError.from(err, ErrorCode.EFAILEDSOCKET);
        this.onAttemptFailed(e.code, e.text);
      },
    );
  }

  /** Write the request on `conn`. */
  sendOn(conn: Connection): void {
    if (this.done) {
      this.channel.source.release(conn, true);
      return;
    }
    this.conn = conn;
    this.remoteSide = conn.remoteSide;
    this.localSide = conn.localSide;
    if (conn.failed) {
      this.conn = undefined;
      this.onAttemptFailed(conn.errorCode || ErrorCode.EFAILEDSOCKET, conn.errorText);
      return;
    }
    if (this.streams?.some((s) => s.state !== "created")) {
      // A closed or already used stream: fail this call only, leave the stream alone.
      this.conn = undefined;
      this.channel.source.release(conn, true);
      const s = this.streams.find((x) => x.state !== "created") as Stream;
      this.#streamsRefused = true;
      this.fail(ErrorCode.EREQUEST, `Stream=${s.id} was closed`, false);
      return;
    }
    if (conn.overcrowded) {
      this.conn = undefined;
      this.channel.source.release(conn, true);
      this.onAttemptFailed(ErrorCode.EOVERCROWDED, `Connection to ${conn.remoteSide} is overcrowded`);
      return;
    }
    const id = nextCorrelationId++;
    this.correlationId = id;
    const cred = conn.state.credential as Uint8Array | undefined;
    if (cred !== undefined) {
      this.credential = cred;
      conn.state.credential = undefined;
    } else {
      this.credential = undefined;
    }
    const w = conn.writer;
    const mark = w.mark();
    try {
      this.channel.protocol.packRequest!(conn, this);
    } catch (err) {
      w.rewind(mark);
      // The credential was not sent: the next request on this connection carries it.
      if (this.credential !== undefined) conn.state.credential = this.credential;
      this.conn = undefined;
      this.channel.source.release(conn, true);
      const text =
        err instanceof RequestError
          ? err.message
          : `Fail to serialize request: ${err instanceof Error ? err.message : String(err)}`;
      this.fail(ErrorCode.EREQUEST, text, false);
      return;
    }
    if (this.span !== undefined) clientSpanSent(this.span);
    conn.pending.set(id, this);
    if (this.stats !== undefined) conn.stampReads = true;
    conn.messagesOut++;
    conn.scheduleFlush();
    if (this.streams !== undefined) {
      // Bind the streams to the connection: the response comes back on the first one.
      const onResponse = (frame: Buffer, c: Connection) =>
        this.channel.protocol.processStreamedResponse?.(frame, c);
      for (const [i, s] of this.streams.entries()) s.attachClient(conn, i === 0, onResponse);
    }
  }

  /** [PendingCall] The connection of the current attempt failed. */
  onConnectionFailed(conn: Connection): void {
    if (conn !== this.conn) return;
    this.conn = undefined;
    this.onAttemptFailed(conn.errorCode || ErrorCode.EFAILEDSOCKET, conn.errorText);
  }

  /**
   * The current attempt failed with `code` (`responded`: a whole response arrived, so
   * the connection is reusable): retry when allowed, else fail the call.
   */
  onAttemptFailed(code: number, text: string, responded = false): void {
    if (this.done) return;
    this.#releaseConnection(responded);
    this.#appendError(code, text);
    if (
      this.retried < this.maxRetry &&
      this.channel.retryable(code) &&
      (this.timeoutMs < 0 || now() < this.startTime + this.timeoutMs)
    ) {
      this.retried++;
      this.issue();
      return;
    }
    this.#finishFailed(code);
  }

  /** A response arrived for the current attempt: the server answered `code` (0 = OK). */
  complete(
    res: unknown,
    attachment: Buffer,
    userFields: Record<string, string> | undefined,
    compressType: number,
  ): void {
    if (this.done) return;
    if (this.streams !== undefined && this.responseStreamSettings === undefined) {
      // brpc fails the RPC itself when the server did not accept the streams.
      this.fail(ErrorCode.EREQUEST, "The server didn't accept the stream", false, true);
      return;
    }
    this.done = true;
    const stats = this.stats;
    if (stats !== undefined) {
      // Frame protocols: when the response's chunk was read (one clock read per chunk).
      const conn = this.conn;
      const end = conn?.stampReads ? conn.readAt : now();
      stats.latency.record(Math.round((end - this.startTime) * 1000));
    }
    this.#cleanup(true);
    if (this.span !== undefined) endClientSpan(this, 0, "");
    if (this.streams !== undefined) this.#connectStreams(0, "");
    const cntl = this.cntl;
    if (cntl !== undefined) {
      cntl.responseAttachment = attachment;
      cntl.responseUserFields = userFields;
      cntl.responseCompressType = compressType;
      this.#fillController(cntl, 0);
    }
    this.#resolve(res);
  }

  /**
   * Fail the call. `retryable` says whether the retry policy may re-issue it (server
   * errors and timeouts are final). Safe after completion (does nothing).
   */
  fail(code: number, text: string, retryable: boolean, responded = false): void {
    if (this.done) return;
    if (retryable) {
      this.onAttemptFailed(code, text, responded);
      return;
    }
    this.#releaseConnection(responded);
    this.#appendError(code, text);
    this.#finishFailed(code);
  }

  #appendError(code: number, text: string): void {
    const prefix = this.retried > 0 ? `[R${this.retried}]` : "";
    this.#errorText = `${this.#errorText === "" ? "" : `${this.#errorText} `}${prefix}[E${code}]${text}`;
  }

  #finishFailed(code: number): void {
    this.done = true;
    this.#cleanup(false);
    this.stats?.errors.add(1);
    if (this.span !== undefined) endClientSpan(this, code, this.#errorText);
    if (this.streams !== undefined) this.#connectStreams(code, this.#errorText);
    const err = new RpcError(code, this.#errorText);
    if (this.cntl !== undefined) this.#fillController(this.cntl, code, err.text);
    this.#reject(err);
  }

  #fillController(cntl: Controller, code: number, text = ""): void {
    cntl.errorCode = code;
    cntl.errorText = text;
    cntl.latencyUs = Math.round((now() - this.startTime) * 1000);
    cntl.retriedCount = this.retried;
    cntl.remoteSide = this.remoteSide;
    cntl.localSide = this.localSide;
    cntl.correlationId = this.correlationId;
  }

  /** Connect (code 0) or fail the call's streams with the RPC's outcome (brpc HandleStreamConnection). */
  #connectStreams(code: number, text: string): void {
    if (this.#streamsRefused) return;
    const streams = this.streams as Stream[];
    const rs = this.responseStreamSettings;
    for (const [i, s] of streams.entries()) {
      const id = i === 0 ? rs?.streamId : rs?.extraStreamIds[i - 1];
      const remote =
        rs !== undefined && id !== undefined
          ? { id: wireIdOf(id), needFeedback: rs.needFeedback, writable: rs.writable }
          : undefined;
      try {
        s.connect(remote, code, text);
      } catch (err) {
        s.fail(ErrorCode.EINTERNAL, String(err));
      }
    }
  }

  #releaseConnection(responded: boolean): void {
    const conn = this.conn;
    if (conn === undefined) {
      const attempt = this.attempt;
      if (attempt !== undefined) {
        this.attempt = undefined;
        attempt.end(responded);
      }
      return;
    }
    this.conn = undefined;
    conn.pending.delete(this.correlationId);
    const streams = this.streams;
    if (streams !== undefined && responded && !conn.failed) {
      // The connection carries the streams now: give it back once they are all closed.
      Promise.all(streams.map((s) => s.closed)).then(() => this.channel.source.release(conn, true));
      return;
    }
    this.channel.source.release(conn, responded);
  }

  /** Release the timer, the abort listener and the connection slot. */
  #cleanup(responded: boolean): void {
    timers.cancel(this);
    if (this.#onAbort !== undefined) {
      this.#signal?.removeEventListener("abort", this.#onAbort);
      this.#onAbort = undefined;
      this.#signal = undefined;
    }
    this.#releaseConnection(responded);
  }
}
