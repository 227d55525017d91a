/**
 * gRPC streaming calls of typed clients: the request side (a message or an iterable of
 * messages) and the response side ({@link ResponseStream}, an AsyncIterable with
 * backpressure). The call itself is an ordinary ClientCall: deadline, cancellation and
 * the Controller work as for unary calls; it resolves when the server's status arrives.
 */
import { ErrorCode } from "../../errors/errno.js";
import { RpcError } from "../../errors/rpc-error.js";

/** Requests of a client- or bidi-streaming call: any sync or async iterable. */
export type StreamInput<T> = Iterable<T> | AsyncIterable<T>;

/** gRPC method kinds that stream. */
export type StreamingKind = "server_streaming" | "client_streaming" | "bidi_streaming";

/** What the transport of a response stream lets the consumer do. @internal */
export interface ResponseFlow {
  pause(): void;
  resume(): void;
  cancel(): void;
}

/** Pause the HTTP/2 stream when this many messages wait for the consumer. */
const HIGH_WATER = 32;
/** Resume it when no more than this many wait. */
const LOW_WATER = 8;

/**
 * The responses of a server- or bidi-streaming call, in order. Iterate it with
 * `for await`; the loop ends when the server finished with status OK and throws an
 * {@link RpcError} when the call failed (after the messages that arrived before the
 * failure). Leaving the loop early (`break`, `return`, an exception) or {@link cancel}
 * cancels the call (ECANCELED, RST_STREAM CANCEL). Single consumer.
 */
export class ResponseStream<T> implements AsyncIterableIterator<T> {
  #queue: T[] = [];
  #head = 0;
  #waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  #finished = false;
  #error: unknown = undefined;
  #flow: ResponseFlow | undefined = undefined;
  #paused = false;
  #cancelRequested = false;

  /** @internal Connect the transport; cancels at once if the consumer already gave up. */
  attach(flow: ResponseFlow): void {
    this.#flow = flow;
    if (this.#cancelRequested) flow.cancel();
  }

  /** @internal A message arrived. */
  push(v: T): void {
    if (this.#finished) return;
    const w = this.#waiter;
    if (w !== undefined) {
      this.#waiter = undefined;
      w.resolve({ value: v, done: false });
      return;
    }
    this.#queue.push(v);
    if (!this.#paused && this.#queue.length - this.#head >= HIGH_WATER && this.#flow !== undefined) {
      this.#paused = true;
      this.#flow.pause();
    }
  }

  /** @internal The call ended: OK (`err` undefined) or failed. */
  finish(err?: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#error = err;
    const w = this.#waiter;
    if (w !== undefined) {
      this.#waiter = undefined;
      if (err !== undefined) {
        this.#error = undefined;
        w.reject(err);
      } else w.resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#queue.length) {
      const v = this.#queue[this.#head] as T;
      this.#queue[this.#head++] = undefined as T;
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      }
      if (this.#paused && this.#queue.length - this.#head <= LOW_WATER) {
        this.#paused = false;
        this.#flow?.resume();
      }
      return Promise.resolve({ value: v, done: false });
    }
    if (this.#finished) {
      const err = this.#error;
      if (err !== undefined) {
        this.#error = undefined;
        return Promise.reject(err);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** Stop reading: cancels the call if it is still running. */
  return(): Promise<IteratorResult<T>> {
    this.cancel();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Cancel the call (ECANCELED) if it is still running and drop unread messages. */
  cancel(): void {
    if (!this.#finished) {
      this.#cancelRequested = true;
      this.#flow?.cancel();
    }
    this.#queue = [];
    this.#head = 0;
    this.#error = undefined;
    this.finish();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * The `request` of a streaming ClientCall: what to send and where responses go.
 * @internal
 */
export class StreamExchange {
  readonly kind: StreamingKind;
  /** server_streaming: the request message; else the iterable of requests. */
  readonly input: unknown;
  /** server/bidi streaming: where responses go. */
  readonly output: ResponseStream<unknown> | undefined;

  constructor(kind: StreamingKind, input: unknown) {
    this.kind = kind;
    this.input = input;
    this.output = kind === "client_streaming" ? undefined : new ResponseStream<unknown>();
  }

  /** Finish the response stream when `done` (the call's promise) settles. */
  settleWith(done: Promise<unknown>): void {
    const out = this.output;
    if (out === undefined) return;
    done.then(
      () => out.finish(),
      (err: unknown) => out.finish(err instanceof RpcError ? err : RpcError.from(err, ErrorCode.EINTERNAL)),
    );
  }
}

/** An iterator over a sync or async iterable of requests. @internal */
export function requestIterator(input: unknown): AsyncIterator<unknown> | Iterator<unknown> {
  if (input !== null && typeof input === "object") {
    const ai = (input as AsyncIterable<unknown>)[Symbol.asyncIterator];
    if (typeof ai === "function") return ai.call(input);
    const si = (input as Iterable<unknown>)[Symbol.iterator];
    if (typeof si === "function") return si.call(input);
  }
  throw new TypeError("requests of a streaming call must be an Iterable or an AsyncIterable");
}

/** Where {@link pumpRequests} sends a streaming call's requests: one h2 stream of either engine. */
export interface RequestSink {
  /** The stream still takes requests (the call is live, the stream open). */
  readonly open: boolean;
  /** Send one framed request; a promise when flow control says to wait before the next. */
  send(frame: Buffer): Promise<void> | undefined;
  /** Every request was sent: half-close the stream. */
  end(): void;
}

/**
 * Send the requests of a client/bidi-streaming call: each value of `input` framed by
 * `frame`, honouring the sink's flow control; half-close at the end. An unusable input or a
 * failure while sending is reported with `fail(text)` (EREQUEST). The iterator is closed
 * when the stream ends first. @internal
 */
export async function pumpRequests(
  input: unknown,
  frame: (msg: unknown) => Buffer,
  sink: RequestSink,
  fail: (text: string) => void,
): Promise<void> {
  let it: AsyncIterator<unknown> | Iterator<unknown>;
  try {
    it = requestIterator(input);
  } catch (err) {
    fail((err as Error).message);
    return;
  }
  let done = false;
  try {
    for (;;) {
      if (!sink.open) break;
      const r = await it.next();
      if (r.done === true) {
        done = true;
        break;
      }
      if (!sink.open) break;
      const wait = sink.send(frame(r.value));
      if (wait !== undefined) await wait;
    }
    if (done) sink.end();
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    fail(`Fail to send the request stream: ${text}`);
  } finally {
    if (!done) {
      try {
        await it.return?.();
      } catch {
        // The request iterable's own cleanup failed: nothing left to report to.
      }
    }
  }
}
