/** Options and callbacks of a stream (brpc `StreamOptions` / `StreamInputHandler`). */
import type { Stream } from "./stream.js";

/** Callbacks of a stream, each optional. Without `onReceivedMessages`, messages are read by async iteration. */
export interface StreamHandler {
  /**
   * A batch (<= messagesInBatch) of received messages, in order. Batches run one at a
   * time: a returned promise delays the next batch and the consumed-bytes feedback, which
   * is how a slow consumer slows the writer down.
   */
  onReceivedMessages?(stream: Stream, messages: Buffer[]): void | Promise<void>;
  /** No message arrived for `idleTimeoutMs`; fires again every period while idle. */
  onIdleTimeout?(stream: Stream): void;
  /** Called exactly once, after every message received before the close was delivered. */
  onClosed?(stream: Stream): void;
  /** Called at most once, before onClosed, when the stream ended abnormally. */
  onFailed?(stream: Stream, code: number, text: string): void;
}

/** Options of a stream. */
export interface StreamOptions {
  /**
   * Bytes this side may have written that the peer has not consumed yet (the window);
   * writes beyond it wait (brpc `max_buf_size`, default 2 MiB). <= 0: unlimited, and the
   * peer is told not to send feedback.
   */
  maxBufSize?: number;
  /** Call `onIdleTimeout` after this many ms without messages; -1 (default) = never. */
  idleTimeoutMs?: number;
  /** Max messages per `onReceivedMessages` call (brpc `messages_in_batch`, default 128). */
  messagesInBatch?: number;
  /** Callbacks. */
  handler?: StreamHandler;
  /**
   * Whether the peer may write to this stream (brpc announces `writable` iff a handler
   * exists; here, iteration counts as a handler). Default true. With false, the peer's
   * writes fail with EBADF.
   */
  readable?: boolean;
  /** Default deadline of `write()` and `wait()` in ms (default 10000): a write never waits forever. */
  writeTimeoutMs?: number;
  /** Messages larger than this are sent as continuation segments (default 16 MiB). */
  maxSegmentSize?: number;
  /**
   * Received bytes queued and not yet consumed above which the stream fails with
   * EOVERCROWDED, protecting memory from a peer that ignores flow control (default 64 MiB).
   */
  maxQueuedBytes?: number;
}

/** Resolved options. @internal */
export interface ResolvedStreamOptions {
  maxBufSize: number;
  idleTimeoutMs: number;
  messagesInBatch: number;
  handler: StreamHandler | undefined;
  readable: boolean;
  writeTimeoutMs: number;
  maxSegmentSize: number;
  maxQueuedBytes: number;
}

/** Defaults as brpc's where brpc has one. */
export function resolveStreamOptions(o: StreamOptions = {}): ResolvedStreamOptions {
  const r: ResolvedStreamOptions = {
    maxBufSize: o.maxBufSize ?? 2 * 1024 * 1024,
    idleTimeoutMs: o.idleTimeoutMs ?? -1,
    messagesInBatch: o.messagesInBatch ?? 128,
    handler: o.handler,
    readable: o.readable ?? true,
    writeTimeoutMs: o.writeTimeoutMs ?? 10_000,
    maxSegmentSize: o.maxSegmentSize ?? 16 * 1024 * 1024,
    maxQueuedBytes: o.maxQueuedBytes ?? 64 * 1024 * 1024,
  };
  if (!(r.messagesInBatch >= 1)) throw new TypeError("messagesInBatch must be >= 1");
  if (!(r.maxSegmentSize >= 1)) throw new TypeError("maxSegmentSize must be >= 1");
  if (!(r.writeTimeoutMs > 0)) throw new TypeError("writeTimeoutMs must be > 0 (waits are never unbounded)");
  return r;
}

/** Per-call write options. */
export interface StreamWriteOptions {
  /** Give up waiting for room after this many ms (default: the stream's writeTimeoutMs). */
  timeoutMs?: number;
  /** Give up waiting when aborted (ECANCELED). */
  signal?: AbortSignal;
}
