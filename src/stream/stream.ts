/**
 * A brpc streaming-RPC stream: an explicit state machine with brpc's flow control
 * (produced bytes against the peer's cumulative consumed bytes plus a window) and
 * callbacks with brpc's ordering (onFailed at most once and before onClosed; onClosed
 * exactly once, after every queued message was delivered).
 *
 * States: created → connecting → open → closing → closed. "failed" is reported by
 * {@link Stream.state} for a stream that closed with an error. Every event (local
 * close or reset, the peer's CLOSE or RST, connection failure, the RPC failing) is safe
 * in every state, any number of times, in any order.
 */
import { ErrorCode } from "../errors/errno.js";
import { RpcError } from "../errors/rpc-error.js";
import { now, TimerEntry, timers } from "../io/timers.js";
import { log } from "../log.js";
import type { StreamSettings } from "../protocol/baidu-std/meta.js";
import { beginStreamFrame, finishStreamFrame, sendControlFrame } from "../protocol/streaming-rpc/frame.js";
import { FrameType, type WireStreamId } from "../protocol/streaming-rpc/meta.js";
import type { Connection } from "../transport/connection.js";
import {
  type ResolvedStreamOptions,
  resolveStreamOptions,
  type StreamHandler,
  type StreamOptions,
  type StreamWriteOptions,
} from "./options.js";

/** Where a stream is in its life. */
export type StreamState = "created" | "connecting" | "open" | "closing" | "closed" | "failed";

/** What we know about the peer's end of a stream (from its StreamSettings). */
interface RemoteEnd {
  id: WireStreamId;
  needFeedback: boolean;
  writable: boolean;
}

enum S {
  CREATED = 0,
  CONNECTING = 1,
  OPEN = 2,
  CLOSING = 3,
  CLOSED = 4,
}

let nextStreamId = 1;
const RESOLVED: Promise<void> = Promise.resolve();

/** A pending `wait()` / `write()` waiting for room in the window. */
class Waiter extends TimerEntry {
  readonly stream: Stream;
  readonly resolve: () => void;
  readonly reject: (e: RpcError) => void;
  readonly timeoutMs: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;

  constructor(
    stream: Stream,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    resolve: () => void,
    reject: (e: RpcError) => void,
  ) {
    super();
    this.stream = stream;
    this.timeoutMs = timeoutMs;
    this.signal = signal;
    this.resolve = resolve;
    this.reject = reject;
  }

  onTimer(): void {
    this.stream.settleWaiter(
      this,
      new RpcError(
        ErrorCode.ETIMEDOUT,
        `[E110]Stream=${this.stream.id} was not writable within ${this.timeoutMs}ms`,
      ),
    );
  }
}

/** Idle timer of a stream (a separate node: the stream itself may be in no list). */
class IdleTimer extends TimerEntry {
  readonly stream: Stream;
  constructor(stream: Stream) {
    super();
    this.stream = stream;
  }
  onTimer(): void {
    this.stream.onIdle();
  }
}

/** A bidirectional stream of messages bound to one connection. */
export class Stream implements AsyncIterable<Buffer> {
  /** This side's stream id (sent to the peer as source_stream_id). */
  readonly id: number;
  readonly options: ResolvedStreamOptions;
  /** Resolves once the stream is closed (after onClosed); never rejects. */
  readonly closed: Promise<void>;

  #state = S.CREATED;
  #errorCode = 0;
  #errorText = "";
  #conn: Connection | undefined;
  #remote: RemoteEnd | undefined;
  /** Client streams: the first DATA message is the RPC response. */
  #awaitingResponse = false;
  /** Client streams: set by the call; receives the RPC response frame. */
  #onResponse: ((frame: Buffer, conn: Connection) => void) | undefined;
  // Flow control (brpc Stream::_produced / _remote_consumed / _cur_buf_size).
  #produced = 0;
  #remoteConsumed = 0;
  readonly #window: number;
  #localConsumed = 0;
  #feedbackScheduled = false;
  #pendingWrites: Buffer[] = [];
  #waiters = new Set<Waiter>();
  #drainHooked = false;
  // Receiving.
  #partial: Buffer[] = [];
  #partialBytes = 0;
  /** Received messages not yet delivered: a queue whose taken slots are released at once. */
  #inbox: (Buffer | undefined)[] = [];
  #inboxHead = 0;
  #queuedBytes = 0;
  #pumping = false;
  #reader: { resolve: (r: IteratorResult<Buffer>) => void; reject: (e: unknown) => void } | undefined;
  #iterating = false;
  #idle: IdleTimer | undefined;
  #deliveredSinceIdle = false;
  #closedCalled = false;
  /** The application closed or reset the stream, or stopped iterating: do not wait for it to read. */
  #abandoned = false;
  #resolveClosed!: () => void;

  constructor(options: StreamOptions = {}) {
    this.id = nextStreamId++;
    if (nextStreamId > Number.MAX_SAFE_INTEGER) nextStreamId = 1;
    this.options = resolveStreamOptions(options);
    this.#window = this.options.maxBufSize > 0 ? this.options.maxBufSize : 0;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  // ---- public API -----------------------------------------------------------

  /** Current state ("failed" = closed with an error). */
  get state(): StreamState {
    switch (this.#state) {
      case S.CREATED:
        return "created";
      case S.CONNECTING:
        return "connecting";
      case S.OPEN:
        return "open";
      case S.CLOSING:
        return "closing";
      default:
        return this.#errorCode !== 0 ? "failed" : "closed";
    }
  }

  /** Error code of an abnormal close (0 otherwise). */
  get errorCode(): number {
    return this.#errorCode;
  }

  /** Error text of an abnormal close ("" otherwise). */
  get errorText(): string {
    return this.#errorText;
  }

  /** The peer's stream id once known. */
  get remoteStreamId(): WireStreamId | undefined {
    return this.#remote?.id;
  }

  /** Peer address, once the stream is bound to a connection. */
  get remoteSide(): string | undefined {
    return this.#conn?.remoteSide;
  }

  /** Bytes written and not yet acknowledged as consumed by the peer. */
  get unconsumedBytes(): number {
    return this.#produced - this.#remoteConsumed;
  }

  /** Received bytes queued and not yet consumed by this side. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * Write one message without waiting, like brpc's StreamWrite: 0 on success, or
   * EAGAIN (window full), EOVERCROWDED (connection backlog full), EBADF (the peer has no
   * handler), EINVAL (closed), ECONNRESET (failed). Writes before the stream is
   * connected are queued and sent in order once it is.
   */
  tryWrite(data: Uint8Array | string): number {
    const st = this.#state;
    if (st >= S.CLOSING) return this.#errorCode !== 0 ? ErrorCode.ECONNRESET : ErrorCode.EINVAL;
    const remote = this.#remote;
    if (st === S.OPEN && remote !== undefined && !remote.writable) return ErrorCode.EBADF;
    const buf = typeof data === "string" ? Buffer.from(data, "utf8") : toBuffer(data);
    if (this.#window > 0 && this.#produced >= this.#remoteConsumed + this.#window) return ErrorCode.EAGAIN;
    const conn = this.#conn;
    if (st === S.OPEN && conn !== undefined && conn.overcrowded) return ErrorCode.EOVERCROWDED;
    this.#produced += buf.length;
    if (st === S.OPEN) this.#send(buf);
    else this.#pendingWrites.push(buf);
    return 0;
  }

  /**
   * Write one message, waiting for room in the window (or in the connection's backlog)
   * until `timeoutMs` (default the stream's writeTimeoutMs) or `signal`. Rejects with an
   * RpcError: ETIMEDOUT, ECANCELED, EBADF, EINVAL (closed) or ECONNRESET (failed).
   */
  write(data: Uint8Array | string, opts?: StreamWriteOptions): Promise<void> {
    // Fast path: room now, no clock read, no new promise.
    const rc = this.tryWrite(data);
    if (rc === 0) return RESOLVED;
    if (rc !== ErrorCode.EAGAIN && rc !== ErrorCode.EOVERCROWDED) return Promise.reject(this.#writeError(rc));
    return this.#writeWhenWritable(data, opts);
  }

  async #writeWhenWritable(data: Uint8Array | string, opts: StreamWriteOptions | undefined): Promise<void> {
    const timeoutMs = opts?.timeoutMs ?? this.options.writeTimeoutMs;
    const deadline = now() + timeoutMs;
    for (;;) {
      await this.#waitWritable(Math.max(0, deadline - now()), timeoutMs, opts?.signal);
      const rc = this.tryWrite(data);
      if (rc === 0) return;
      if (rc !== ErrorCode.EAGAIN && rc !== ErrorCode.EOVERCROWDED) throw this.#writeError(rc);
    }
  }

  /**
   * Resolve when a write would not be refused for a full window (brpc StreamWait), with
   * the same deadline rules as {@link write}; rejects with ECONNRESET if the stream closes.
   */
  wait(opts?: StreamWriteOptions): Promise<void> {
    const timeoutMs = opts?.timeoutMs ?? this.options.writeTimeoutMs;
    return this.#waitWritable(timeoutMs, timeoutMs, opts?.signal);
  }

  /**
   * Close normally (brpc StreamClose): later writes fail, waiters wake with ECONNRESET,
   * the peer gets CLOSE, queued messages are still delivered, then onClosed runs.
   * Idempotent, safe in every state.
   */
  close(): void {
    this.#abandoned = true;
    this.#beginClose(0, "Local close", true);
    this.#maybeFinish();
  }

  /** Abort: send RST to the peer and fail locally with ECONNRESET. Safe in every state. */
  reset(): void {
    this.#abandoned = true;
    if (this.#state >= S.CLOSING) {
      this.#maybeFinish();
      return;
    }
    const conn = this.#conn;
    const remote = this.#remote;
    if (conn !== undefined && remote !== undefined)
      sendControlFrame(conn, remote.id, undefined, FrameType.RST);
    this.#beginClose(ErrorCode.ECONNRESET, "Local reset", false);
  }

  /** Iterate over received messages (unless a handler's onReceivedMessages consumes them). */
  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.options.handler?.onReceivedMessages !== undefined) {
      throw new TypeError(
        "this stream delivers messages to handler.onReceivedMessages; it cannot be iterated",
      );
    }
    if (this.#iterating) throw new TypeError("a stream can be iterated only once at a time");
    this.#iterating = true;
    return {
      next: () => this.#next(),
      return: () => {
        this.#iterating = false;
        this.#abandoned = true;
        this.#maybeFinish();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  // ---- wiring (used by the RPC layer) ----------------------------------------

  /**
   * @internal Client: the request announcing this stream is being sent on `conn`.
   * `onResponse` receives the RPC response wrapped in the first DATA message (first
   * stream only).
   */
  attachClient(
    conn: Connection,
    first: boolean,
    onResponse: (frame: Buffer, conn: Connection) => void,
  ): void {
    if (this.#state !== S.CREATED) throw new Error(`stream ${this.id} is already ${this.state}`);
    this.#state = S.CONNECTING;
    this.#bind(conn);
    if (first) {
      this.#awaitingResponse = true;
      this.#onResponse = onResponse;
    }
  }

  /** @internal Server: accepted from a request whose peer stream is `remote`. */
  attachServer(
    conn: Connection,
    remote: { id: WireStreamId; needFeedback: boolean; writable: boolean },
  ): void {
    if (this.#state !== S.CREATED) throw new Error(`stream ${this.id} is already ${this.state}`);
    this.#state = S.CONNECTING;
    this.#remote = { ...remote };
    this.#bind(conn);
  }

  /**
   * @internal The RPC that creates the stream ended. Client: `remote` are the server's
   * settings for this stream (undefined: not accepted → fail with `code`/`text`).
   * Server: the response went out, `remote` was set by attachServer.
   */
  connect(remote: RemoteEnd | undefined, code = 0, text = ""): void {
    this.#awaitingResponse = false;
    this.#onResponse = undefined;
    if (remote !== undefined && this.#remote === undefined) this.#remote = remote;
    if (code !== 0 || this.#remote === undefined) {
      // The peer's stream (if any) will never be used: reset it.
      const conn = this.#conn;
      if (remote !== undefined && conn !== undefined)
        sendControlFrame(conn, remote.id, undefined, FrameType.RST);
      this.#fail(
        code !== 0 ? code : ErrorCode.EREQUEST,
        code !== 0 ? text : "The server didn't accept the stream",
      );
      return;
    }
    if (this.#state >= S.CLOSING) {
      // Closed (or failed) before it could be connected: now the peer can be told.
      const conn = this.#conn;
      const r = this.#remote;
      if (this.#errorCode === 0) {
        const pending = this.#pendingWrites;
        this.#pendingWrites = [];
        if (r.writable && conn !== undefined && !conn.failed)
          for (const b of pending) this.#sendTo(conn, r.id, b);
        this.#sendClose();
      } else if (conn !== undefined) sendControlFrame(conn, r.id, undefined, FrameType.RST);
      this.#maybeFinish();
      return;
    }
    if (this.#state !== S.CONNECTING) return;
    this.#state = S.OPEN;
    // Flush writes made while connecting, in order.
    const pending = this.#pendingWrites;
    this.#pendingWrites = [];
    if (!this.#remote.writable && pending.length > 0) {
      this.#fail(ErrorCode.EBADF, `The remote side of Stream=${this.id} doesn't have a handler`);
      return;
    }
    for (const b of pending) this.#send(b);
    // Consumption that happened before we could tell the peer.
    if (this.#localConsumed > 0) this.#scheduleFeedback();
    this.#armIdle();
  }

  /** @internal Fail the stream (RPC failed, connection failed, protocol error). */
  fail(code: number, text: string): void {
    this.#fail(code, text);
  }

  /** @internal The settings announcing this stream to the peer (brpc FillSettings). */
  settings(): { streamId: number; needFeedback: boolean; writable: boolean } {
    return { streamId: this.id, needFeedback: this.#window > 0, writable: this.options.readable };
  }

  /** @internal A frame for this stream arrived on its connection. */
  onFrame(type: number, data: Buffer, hasContinuation: boolean, consumedSize: number | undefined): void {
    switch (type) {
      case FrameType.DATA:
        this.#onData(data, hasContinuation);
        return;
      case FrameType.FEEDBACK:
        if (consumedSize !== undefined && this.#state === S.OPEN) this.#setRemoteConsumed(consumedSize);
        return;
      case FrameType.RST:
        this.#fail(ErrorCode.ECONNRESET, "Received RST frame");
        return;
      case FrameType.CLOSE:
        this.#beginClose(0, "Received CLOSE frame", true);
        return;
      default:
        return;
    }
  }

  /** @internal The host connection failed. */
  onConnectionFailed(conn: Connection): void {
    if (conn !== this.#conn) return;
    this.#fail(conn.errorCode || ErrorCode.EFAILEDSOCKET, conn.errorText || "connection failed");
  }

  /** @internal */
  settleWaiter(w: Waiter, err: RpcError | undefined): void {
    if (!this.#waiters.delete(w)) return;
    timers.cancel(w);
    if (w.onAbort !== undefined) w.signal?.removeEventListener("abort", w.onAbort);
    w.onAbort = undefined;
    w.signal = undefined;
    if (err === undefined) w.resolve();
    else w.reject(err);
  }

  /** @internal The idle timer fired. */
  onIdle(): void {
    if (this.#state !== S.OPEN) return;
    const delivered = this.#deliveredSinceIdle;
    this.#deliveredSinceIdle = false;
    if (!delivered) {
      try {
        this.options.handler?.onIdleTimeout?.(this);
      } catch (err) {
        log.error(`stream ${this.id}: onIdleTimeout threw`, err);
      }
    }
    this.#armIdle();
  }

  // ---- internals --------------------------------------------------------------

  #bind(conn: Connection): void {
    this.#conn = conn;
    conn.addStream(this);
  }

  #unbind(): void {
    this.#conn?.removeStream(this);
  }

  #send(buf: Buffer): void {
    this.#sendTo(this.#conn as Connection, (this.#remote as RemoteEnd).id, buf);
  }

  #sendTo(conn: Connection, remoteId: WireStreamId, buf: Buffer): void {
    const w = conn.writer;
    const seg = this.options.maxSegmentSize;
    let off = 0;
    do {
      const n = Math.min(seg, buf.length - off);
      const more = off + n < buf.length;
      const at = beginStreamFrame(w, remoteId, this.id, FrameType.DATA, more);
      finishStreamFrame(w, at, n);
      if (n > 0) conn.writeExternal(off === 0 && n === buf.length ? buf : buf.subarray(off, off + n));
      off += n;
    } while (off < buf.length);
    conn.messagesOut++;
    conn.scheduleFlush();
  }

  #writeError(rc: number): RpcError {
    switch (rc) {
      case ErrorCode.EBADF:
        return new RpcError(rc, `[E9]The remote side of Stream=${this.id} doesn't have a handler`);
      case ErrorCode.ECONNRESET:
        return new RpcError(rc, `[E104]Stream=${this.id} failed: ${this.#errorText}`);
      default:
        return new RpcError(rc, `[E${rc}]Stream=${this.id} is closed`);
    }
  }

  #waitWritable(ms: number, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.#state >= S.CLOSING)
      return Promise.reject(new RpcError(ErrorCode.ECONNRESET, `[E104]Stream=${this.id} is closed`));
    if (!this.#full()) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(new RpcError(ErrorCode.ECANCELED, "[E125]Canceled"));
    return new Promise<void>((resolve, reject) => {
      const w = new Waiter(this, timeoutMs, signal, resolve, reject);
      this.#waiters.add(w);
      timers.schedule(w, now() + ms, timeoutMs);
      if (signal !== undefined) {
        w.onAbort = () => this.settleWaiter(w, new RpcError(ErrorCode.ECANCELED, "[E125]Canceled"));
        signal.addEventListener("abort", w.onAbort, { once: true });
      }
      this.#hookDrain();
    });
  }

  /** True when a write would have to wait. */
  #full(): boolean {
    if (this.#window > 0 && this.#produced >= this.#remoteConsumed + this.#window) return true;
    return this.#state === S.OPEN && this.#conn !== undefined && this.#conn.overcrowded;
  }

  /** Wake waiters when the connection backlog drains (only needed while it is overcrowded). */
  #hookDrain(): void {
    if (this.#drainHooked || this.#conn === undefined || this.#state !== S.OPEN || !this.#conn.overcrowded) {
      return;
    }
    this.#drainHooked = true;
    this.#conn.onDrain(() => {
      this.#drainHooked = false;
      this.#wakeWaiters();
    });
  }

  #wakeWaiters(): void {
    if (this.#waiters.size === 0 || this.#full()) {
      if (this.#waiters.size > 0) this.#hookDrain();
      return;
    }
    for (const w of [...this.#waiters]) this.settleWaiter(w, undefined);
  }

  #setRemoteConsumed(consumed: number): void {
    if (consumed <= this.#remoteConsumed) return;
    this.#remoteConsumed = consumed;
    this.#wakeWaiters();
  }

  #onData(data: Buffer, hasContinuation: boolean): void {
    if (this.#state >= S.CLOSED) return;
    if (hasContinuation || this.#partial.length > 0) {
      this.#partial.push(data);
      this.#partialBytes += data.length;
      if (this.#partialBytes > this.options.maxQueuedBytes) {
        this.#overflow();
        return;
      }
      if (hasContinuation) return;
      data = Buffer.concat(this.#partial, this.#partialBytes);
      this.#partial = [];
      this.#partialBytes = 0;
    }
    if (this.#awaitingResponse) {
      // The first message of a client stream is the RPC response (a PRPC frame).
      this.#awaitingResponse = false;
      const cb = this.#onResponse;
      this.#onResponse = undefined;
      if (cb !== undefined && this.#conn !== undefined) cb(data, this.#conn);
      return;
    }
    if (this.#state === S.CLOSING && this.#closedCalled) return;
    this.#deliveredSinceIdle = true;
    this.#queuedBytes += data.length;
    if (this.#queuedBytes > this.options.maxQueuedBytes) {
      this.#overflow();
      return;
    }
    if (this.options.handler?.onReceivedMessages === undefined) {
      const reader = this.#reader;
      if (reader !== undefined) {
        this.#reader = undefined;
        this.#consumed(data.length);
        reader.resolve({ value: data, done: false });
        return;
      }
    }
    this.#inbox.push(data);
    this.#pump();
  }

  #overflow(): void {
    // The point is to bound memory: drop what is queued rather than wait for a reader.
    this.#inbox = [];
    this.#inboxHead = 0;
    this.#queuedBytes = 0;
    this.#abandoned = true;
    const conn = this.#conn;
    const remote = this.#remote;
    if (conn !== undefined && remote !== undefined)
      sendControlFrame(conn, remote.id, undefined, FrameType.RST);
    this.#fail(
      ErrorCode.EOVERCROWDED,
      `Stream=${this.id}: more than maxQueuedBytes=${this.options.maxQueuedBytes} received and not consumed`,
    );
  }

  /** Take up to `n` queued messages, releasing their slots (a slow reader must not retain what it read). */
  #take(n: number): Buffer[] {
    const q = this.#inbox;
    const end = Math.min(q.length, this.#inboxHead + n);
    const out: Buffer[] = [];
    for (let i = this.#inboxHead; i < end; i++) {
      out.push(q[i] as Buffer);
      q[i] = undefined;
    }
    this.#inboxHead = end;
    if (end === q.length) {
      this.#inbox = [];
      this.#inboxHead = 0;
    } else if (end >= 1024 && end * 2 >= q.length) {
      this.#inbox = q.slice(end);
      this.#inboxHead = 0;
    }
    return out;
  }

  /** Deliver queued messages to the handler, one batch at a time. */
  #pump(): void {
    if (this.#pumping || this.options.handler?.onReceivedMessages === undefined) return;
    this.#pumping = true;
    queueMicrotask(() => {
      this.#drain().catch((err: unknown) => log.error(`stream ${this.id}: delivery failed`, err));
    });
  }

  async #drain(): Promise<void> {
    const h = this.options.handler as StreamHandler;
    const max = this.options.messagesInBatch;
    while (this.#inboxHead < this.#inbox.length) {
      const batch = this.#take(max);
      let bytes = 0;
      for (const m of batch) bytes += m.length;
      this.#deliveredSinceIdle = true;
      try {
        const r = h.onReceivedMessages?.(this, batch);
        if (r !== undefined && typeof (r as Promise<void>).then === "function") await r;
      } catch (err) {
        log.error(`stream ${this.id}: onReceivedMessages threw`, err);
      }
      this.#consumed(bytes);
    }
    this.#pumping = false;
    this.#maybeFinish();
  }

  /** `bytes` were consumed by the application: account and (coalesced) tell the peer. */
  #consumed(bytes: number): void {
    this.#queuedBytes -= bytes;
    this.#localConsumed += bytes;
    this.#scheduleFeedback();
  }

  #scheduleFeedback(): void {
    if (this.#feedbackScheduled) return;
    const remote = this.#remote;
    if (remote !== undefined && !remote.needFeedback) return;
    this.#feedbackScheduled = true;
    queueMicrotask(() => {
      this.#feedbackScheduled = false;
      const r = this.#remote;
      const conn = this.#conn;
      if (this.#state !== S.OPEN || r === undefined || !r.needFeedback || conn === undefined) return;
      sendControlFrame(conn, r.id, this.id, FrameType.FEEDBACK, this.#localConsumed);
    });
  }

  #next(): Promise<IteratorResult<Buffer>> {
    if (this.#inboxHead < this.#inbox.length) {
      const m = this.#take(1)[0] as Buffer;
      this.#consumed(m.length);
      if (this.#state === S.CLOSING) this.#maybeFinish();
      return Promise.resolve({ value: m, done: false });
    }
    if (this.#state >= S.CLOSING) {
      this.#iterating = false;
      if (this.#errorCode !== 0) return Promise.reject(new RpcError(this.#errorCode, this.#errorText));
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this.#reader !== undefined)
      return Promise.reject(new TypeError("concurrent next() calls on a stream"));
    return new Promise((resolve, reject) => {
      this.#reader = { resolve, reject };
    });
  }

  #armIdle(): void {
    if (this.options.idleTimeoutMs < 0 || this.#state !== S.OPEN) return;
    this.#idle ??= new IdleTimer(this);
    timers.cancel(this.#idle);
    timers.schedule(this.#idle, now() + this.options.idleTimeoutMs, this.options.idleTimeoutMs);
  }

  #sendClose(): void {
    const conn = this.#conn;
    const remote = this.#remote;
    if (conn !== undefined && remote !== undefined)
      sendControlFrame(conn, remote.id, this.id, FrameType.CLOSE);
  }

  #fail(code: number, text: string): void {
    this.#beginClose(code === 0 ? ErrorCode.EINTERNAL : code, text, code === 0);
  }

  /**
   * Enter CLOSING (once): record the error, tell the peer (CLOSE when `sendClose` and the
   * stream is open), wake writers, stop listening to the connection. Delivery of queued
   * messages continues; {@link #maybeFinish} completes the close.
   */
  #beginClose(code: number, text: string, sendClose: boolean): void {
    const st = this.#state;
    if (st >= S.CLOSING) {
      // A failure while a normal close drains still counts as the failure it is.
      if (code !== 0 && this.#errorCode === 0 && st === S.CLOSING) {
        this.#errorCode = code;
        this.#errorText = text;
      }
      if (st === S.CLOSING) this.#maybeFinish();
      return;
    }
    this.#state = S.CLOSING;
    this.#errorCode = code;
    this.#errorText = code === 0 ? "" : text;
    if (sendClose && st === S.OPEN) this.#sendClose();
    // Writes accepted before the stream was connected still go out on a normal close
    // (they are flushed by connect(), before the CLOSE); a failure drops them.
    if (code !== 0) this.#pendingWrites = [];
    this.#partial = [];
    this.#partialBytes = 0;
    for (const w of [...this.#waiters]) {
      this.settleWaiter(w, new RpcError(ErrorCode.ECONNRESET, `[E104]Stream=${this.id} closed: ${text}`));
    }
    if (this.#idle !== undefined) timers.cancel(this.#idle);
    // A client stream whose RPC is still in flight keeps listening for the response,
    // whatever happened: the call ends (answered, timed out or failed) and connects it.
    if (!this.#awaitingResponse) this.#unbind();
    this.#maybeFinish();
  }

  /** Complete the close once every queued message was delivered (or handed to the iterator). */
  #maybeFinish(): void {
    if (this.#state !== S.CLOSING || this.#closedCalled) return;
    if (this.#awaitingResponse) return;
    const handlerMode = this.options.handler?.onReceivedMessages !== undefined;
    if (handlerMode && (this.#pumping || this.#inboxHead < this.#inbox.length)) return;
    // An iterating application gets the queued messages before the close, unless it let go.
    if (!handlerMode && !this.#abandoned && this.#inboxHead < this.#inbox.length) return;
    this.#closedCalled = true;
    this.#state = S.CLOSED;
    this.#unbind();
    const h = this.options.handler;
    if (this.#errorCode !== 0) {
      try {
        h?.onFailed?.(this, this.#errorCode, this.#errorText);
      } catch (err) {
        log.error(`stream ${this.id}: onFailed threw`, err);
      }
    }
    try {
      h?.onClosed?.(this);
    } catch (err) {
      log.error(`stream ${this.id}: onClosed threw`, err);
    }
    const reader = this.#reader;
    if (reader !== undefined) {
      this.#reader = undefined;
      this.#iterating = false;
      if (this.#errorCode !== 0) reader.reject(new RpcError(this.#errorCode, this.#errorText));
      else reader.resolve({ value: undefined, done: true });
    }
    this.#resolveClosed();
  }
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** The settings message announcing `streams` (first id + extra ids). @internal */
export function streamSettingsOf(streams: readonly Stream[]): StreamSettings {
  const first = (streams[0] as Stream).settings();
  return {
    streamId: BigInt(first.streamId),
    needFeedback: first.needFeedback,
    writable: first.writable,
    extraStreamIds: streams.slice(1).map((s) => BigInt(s.id)),
  };
}
