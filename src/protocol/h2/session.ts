/**
 * A transport-agnostic HTTP/2 connection engine (RFC 9113) for both roles.
 *
 * The owner feeds bytes from the socket to {@link H2Session.receive} and supplies a
 * `write(bufs)` callback that sends bytes to the peer; events come back through an
 * {@link H2Handler}. No timers, no sockets, no per-frame closures.
 *
 * Output batching: frames are appended to one buffer. During `receive()` (including the
 * handler callbacks it makes) nothing is written until `receive()` returns, then one
 * `write()` carries every frame it produced. Calls made outside `receive()` schedule one
 * flush in a microtask (or call {@link H2Session.flush} to write at once).
 *
 * Buffer ownership:
 * - `receive(buf)`: the session keeps no reference to `buf` after returning, except that
 *   DATA payloads handed to `onData` may be subarrays of it (zero copy): the owner may keep
 *   them, so it must not reuse `buf` for other bytes.
 * - `write(bufs)`: the array and its buffers belong to the owner from then on; the session
 *   never modifies them again.
 * - `sendData(id, buf)`: the session may keep `buf` (flow control queue, or a reference in
 *   the output batch for large payloads); the caller must not modify it afterwards.
 * - Header lists passed in are read synchronously or, for trailers queued behind
 *   flow-controlled DATA, kept until sent: do not mutate them after the call.
 *
 * Receive flow control: every DATA byte handed to `onData` must be acknowledged with
 * {@link H2Session.consumed} once the owner has taken it; only then are the connection and
 * stream windows replenished with WINDOW_UPDATE (so a slow consumer applies backpressure).
 * Bytes of a stream that closes are credited back to the connection automatically, later
 * `consumed()` calls for it are ignored.
 *
 * Send side: `sendData()` never refuses for lack of window, it queues; {@link H2Session.queuedBytes}
 * and `onDrain` tell the owner when to stop and resume producing. Socket backpressure is the
 * owner's: when the transport's buffer grows (a peer that does not read), stop calling
 * `receive()` (pause the socket) so that the session generates no more replies.
 *
 * Typical unary server: in `onData(..., endStream=true)` call `respond()`, `sendData()`,
 * `sendTrailers()`: the three frames and any WINDOW_UPDATE leave in the one write that ends
 * the `receive()` call. Typical client: `request()` + `sendData(id, msg, true)` in the same
 * tick leave in one write (microtask flush).
 */

import { IdMap } from "../../io/id-map.js";
import { microtask } from "../../io/microtask.js";
import { Writer } from "../../io/writer.js";
import {
  CLIENT_PREFACE,
  checkFrameHeader,
  checkPriority,
  Flag,
  FRAME_HEADER_SIZE,
  FrameHeader,
  FramePayload,
  FrameType,
  framePayload,
  H2Default,
  H2Error,
  H2ErrorCode,
  patchFrameLength,
  readFrameHeader,
  readU31,
  readU32,
  SettingId,
  writeFrameHeader,
  writeGoaway,
  writePing,
  writeRstStream,
  writeSettings,
  writeSettingsAck,
  writeWindowUpdate,
} from "./frame.js";
import { HpackDecoder, HpackEncoder, type HpackEncoderOptions } from "./hpack.js";

/** What the owner implements. Callbacks fire synchronously from `receive()` (or from API calls, for `onStreamClose`). */
export interface H2Handler {
  /**
   * A complete header block (HEADERS + CONTINUATIONs) on `streamId`: request headers
   * (server), response headers incl. 1xx (client), or trailers (then `endStream` is true).
   * `headers` is a fresh flat `[name, value, ...]` array owned by the callee.
   */
  onHeaders(streamId: number, headers: string[], endStream: boolean): void;
  /** DATA payload (padding removed; may be empty with `endStream`). Acknowledge with `consumed()`. */
  onData(streamId: number, data: Buffer, endStream: boolean): void;
  /** The stream was reset: by the peer (RST_STREAM), by us after a stream error, or by a GOAWAY/close. */
  onReset(streamId: number, code: number): void;
  /** The peer sent GOAWAY. Streams we opened above `lastStreamId` get `onReset(id, REFUSED_STREAM)` after this. */
  onGoaway(lastStreamId: number, code: number, debug: Buffer): void;
  /**
   * A connection error: a GOAWAY with `err.code` has been queued, the session is dead
   * (further input is ignored). The owner should flush and close the transport. Then every
   * open stream gets `onReset(id, err.code)` and `onStreamClose(id)`.
   */
  onError(err: H2Error): void;
  /**
   * The stream is fully closed and forgotten (optional). Always after the stream's last
   * event (the final onData/onHeaders with END_STREAM, onReset, onDrain), also when a
   * connection error or `close()` resets it.
   */
  onStreamClose?(streamId: number): void;
  /** A PING we sent was acknowledged, `rttMs` after sending (optional). */
  onPingAck?(rttMs: number): void;
  /** Queued DATA of a stream has all been sent after a window update (optional). */
  onDrain?(streamId: number): void;
}

/** Our settings and limits. */
export interface H2SessionOptions {
  role: "server" | "client";
  /** Sends bytes to the peer; see the ownership notes of the module. */
  write(bufs: Buffer[]): void;
  handler: H2Handler;
  /** SETTINGS_MAX_CONCURRENT_STREAMS we allow the peer (default 1000). */
  maxConcurrentStreams?: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE: each stream's receive window (default 1 MiB). */
  initialWindowSize?: number;
  /** Connection receive window (default 16 MiB). */
  connectionWindowSize?: number;
  /** SETTINGS_MAX_FRAME_SIZE we accept (default 16384). */
  maxFrameSize?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE (default 64 KiB); a larger block resets its stream. */
  maxHeaderListSize?: number;
  /** SETTINGS_HEADER_TABLE_SIZE for our decoder (default 4096). */
  headerTableSize?: number;
  /** Encoder options (indexed / sensitive header sets, Huffman, table cap). */
  hpack?: HpackEncoderOptions;
  /** Abuse limits per second before GOAWAY(ENHANCE_YOUR_CALM) (default 1000 each). */
  maxResetsPerSecond?: number;
  maxControlFramesPerSecond?: number;
  maxEmptyDataPerSecond?: number;
  /** Most CONTINUATION frames in one header block (default 32). */
  maxContinuations?: number;
  /** Payloads at least this long go to `write()` by reference instead of being copied (default 4096). */
  copyThreshold?: number;
}

enum St {
  OPEN = 0,
  HALF_CLOSED_LOCAL = 1,
  HALF_CLOSED_REMOTE = 2,
}

/** One live stream (idle and closed streams have no object). */
class Stream {
  state: St;
  sendWindow: number;
  recvWindow: number;
  /** Delivered to onData, not yet consumed. */
  outstanding = 0;
  /** Consumed, not yet returned by WINDOW_UPDATE. */
  unacked = 0;
  /** Number of header blocks received; a final (non-1xx) response seen (client). */
  headerBlocks = 0;
  finalHeaders = false;
  /** We sent our (final) headers. */
  sentHeaders = false;
  /** Queued DATA (flow control): buffers and offset into the first. */
  queue: Buffer[] | null = null;
  queueOff = 0;
  queued = 0;
  /** END_STREAM after the queue drains; trailers to send after the queue drains. */
  endAfterQueue = false;
  trailers: readonly string[] | null = null;
  /** Blocked on the connection window (listed in the session's blocked list). */
  blocked = false;

  constructor(
    readonly id: number,
    state: St,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.state = state;
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }
}

/** Counts events per second. */
class Rate {
  n = 0;
  since = 0;
  hit(limit: number): boolean {
    const now = Date.now();
    if (now - this.since >= 1000) {
      this.since = now;
      this.n = 0;
    }
    return ++this.n > limit;
  }
}

const EMPTY = Buffer.alloc(0);
const PING_PAYLOAD = Buffer.alloc(8);

/** The HTTP/2 connection engine; see the module doc. */
export class H2Session {
  readonly isServer: boolean;
  readonly #write: (bufs: Buffer[]) => void;
  readonly #h: H2Handler;
  readonly #streams = new IdMap<Stream>(16);
  readonly #w = new Writer(64 * 1024);
  #out: Buffer[] = [];
  #inReceive = false;
  #flushScheduled = false;
  readonly #flushTask = (): void => {
    this.#flushScheduled = false;
    this.flush();
  };

  // Our settings.
  readonly #maxConcurrent: number;
  readonly #initialWindow: number;
  readonly #connWindowTarget: number;
  readonly #maxFrameSize: number;
  readonly #maxHeaderList: number;
  readonly #headerTableSize: number;
  readonly #copyThreshold: number;
  readonly #maxResets: number;
  readonly #maxControl: number;
  readonly #maxEmptyData: number;
  readonly #maxContinuations: number;
  /** Receive window of new streams: the default until our SETTINGS are acknowledged. */
  #recvInitial: number = H2Default.INITIAL_WINDOW_SIZE;
  #settingsAcked = false;

  // Peer settings.
  #peerInitialWindow: number = H2Default.INITIAL_WINDOW_SIZE;
  #peerMaxFrameSize: number = H2Default.MAX_FRAME_SIZE;
  #peerMaxConcurrent = Number.POSITIVE_INFINITY;
  #peerSettingsSeen = false;

  // Connection flow control.
  #connSend: number = H2Default.INITIAL_WINDOW_SIZE;
  #connRecv: number = H2Default.INITIAL_WINDOW_SIZE;
  #connUnacked = 0;
  #blocked: Stream[] = [];

  // Stream ids.
  #nextStreamId: number;
  /** Highest stream id the peer opened (or tried to). */
  #lastPeerStream = 0;
  #localActive = 0;
  #peerActive = 0;

  // Shutdown.
  #goawaySent = false;
  #goawayRecv = false;
  #goawayRecvLast: number = H2Default.MAX_STREAM_ID;
  #dead = false;

  // Parser.
  #prefaceLeft: number;
  readonly #hdr = new FrameHeader();
  readonly #pl = new FramePayload();
  /** A frame straddling receive() calls: its bytes so far. */
  #partial: Buffer | null = null;
  #partialLen = 0;
  readonly #hdrScratch = Buffer.alloc(FRAME_HEADER_SIZE);
  /** Header block being assembled from CONTINUATIONs. */
  #contStream = 0;
  #contFrags: Buffer[] = [];
  #contSize = 0;
  #contEnd = false;
  #contCount = 0;

  readonly #decoder: HpackDecoder;
  readonly #encoder: HpackEncoder;

  readonly #resets = new Rate();
  readonly #control = new Rate();
  readonly #empty = new Rate();
  #pingSent: number[] = [];
  /** Streams we reset recently: frames still in flight on them are ignored (§5.1 "closed"). */
  readonly #resetByUs = new Set<number>();

  constructor(opts: H2SessionOptions) {
    this.isServer = opts.role === "server";
    this.#write = opts.write;
    this.#h = opts.handler;
    this.#maxConcurrent = opts.maxConcurrentStreams ?? 1000;
    this.#initialWindow = opts.initialWindowSize ?? 1 << 20;
    this.#connWindowTarget = Math.max(opts.connectionWindowSize ?? 16 << 20, H2Default.INITIAL_WINDOW_SIZE);
    this.#maxFrameSize = opts.maxFrameSize ?? H2Default.MAX_FRAME_SIZE;
    this.#maxHeaderList = opts.maxHeaderListSize ?? 64 * 1024;
    this.#headerTableSize = opts.headerTableSize ?? 4096;
    this.#copyThreshold = opts.copyThreshold ?? 4096;
    this.#maxResets = opts.maxResetsPerSecond ?? 1000;
    this.#maxControl = opts.maxControlFramesPerSecond ?? 1000;
    this.#maxEmptyData = opts.maxEmptyDataPerSecond ?? 1000;
    this.#maxContinuations = opts.maxContinuations ?? 32;
    this.#nextStreamId = this.isServer ? 2 : 1;
    this.#prefaceLeft = this.isServer ? CLIENT_PREFACE.length : 0;
    this.#recvInitial = Math.max(this.#initialWindow, H2Default.INITIAL_WINDOW_SIZE);
    this.#decoder = new HpackDecoder({
      maxTableSize: Math.max(this.#headerTableSize, 4096),
      maxHeaderListSize: this.#maxHeaderList,
    });
    this.#encoder = new HpackEncoder(opts.hpack);
  }

  /** Queue the connection start: the client preface (client), our SETTINGS and connection window. */
  start(): void {
    const w = this.#w;
    if (!this.isServer) w.raw(CLIENT_PREFACE);
    const s: number[] = [
      SettingId.MAX_CONCURRENT_STREAMS,
      this.#maxConcurrent,
      SettingId.INITIAL_WINDOW_SIZE,
      this.#initialWindow,
      SettingId.MAX_HEADER_LIST_SIZE,
      this.#maxHeaderList,
    ];
    if (!this.isServer) s.push(SettingId.ENABLE_PUSH, 0);
    if (this.#maxFrameSize !== H2Default.MAX_FRAME_SIZE) s.push(SettingId.MAX_FRAME_SIZE, this.#maxFrameSize);
    if (this.#headerTableSize !== 4096) s.push(SettingId.HEADER_TABLE_SIZE, this.#headerTableSize);
    writeSettings(w, s);
    const inc = this.#connWindowTarget - this.#connRecv;
    if (inc > 0) {
      writeWindowUpdate(w, 0, inc);
      this.#connRecv += inc;
    }
    this.#scheduleFlush();
  }

  // ---- state -----------------------------------------------------------------------

  /** Number of open streams (both directions). */
  get activeStreams(): number {
    return this.#streams.size;
  }

  /** The session is dead (connection error sent or received, or closed). */
  get destroyed(): boolean {
    return this.#dead;
  }

  /** GOAWAY sent / received. */
  get goawaySent(): boolean {
    return this.#goawaySent;
  }
  get goawayReceived(): boolean {
    return this.#goawayRecv;
  }

  /** Peer settings in effect (tests, diagnostics). */
  get peerSettings(): { initialWindowSize: number; maxFrameSize: number; maxConcurrentStreams: number } {
    return {
      initialWindowSize: this.#peerInitialWindow,
      maxFrameSize: this.#peerMaxFrameSize,
      maxConcurrentStreams: this.#peerMaxConcurrent,
    };
  }

  /** Connection send window left. */
  get connectionSendWindow(): number {
    return this.#connSend;
  }

  /** Send window of a stream (undefined when not open). */
  streamSendWindow(id: number): number | undefined {
    return this.#streams.get(id)?.sendWindow;
  }

  /** Bytes queued on a stream waiting for flow control (0 when none or not open). */
  queuedBytes(id: number): number {
    return this.#streams.get(id)?.queued ?? 0;
  }

  /** May `request()` open another stream now. */
  canRequest(): boolean {
    return (
      !this.isServer &&
      !this.#dead &&
      !this.#goawayRecv &&
      !this.#goawaySent &&
      this.#localActive < this.#peerMaxConcurrent &&
      this.#nextStreamId <= H2Default.MAX_STREAM_ID
    );
  }

  // ---- output ----------------------------------------------------------------------

  /** Write everything queued now (one `write()` call). */
  flush(): void {
    const w = this.#w;
    if (w.length > 0) this.#out.push(w.take());
    if (this.#out.length === 0) return;
    const out = this.#out;
    this.#out = [];
    this.#write(out);
  }

  #scheduleFlush(): void {
    if (this.#inReceive || this.#flushScheduled) return;
    this.#flushScheduled = true;
    microtask(this.#flushTask);
  }

  /** Append a payload: copied when small, by reference when large. */
  #payload(data: Buffer, start: number, end: number): void {
    if (end - start >= this.#copyThreshold) {
      const w = this.#w;
      if (w.length > 0) this.#out.push(w.take());
      this.#out.push(start === 0 && end === data.length ? data : data.subarray(start, end));
    } else if (end > start) {
      const w = this.#w;
      w.ensure(end - start);
      w.pos += data.copy(w.buf, w.pos, start, end);
    }
  }

  /** HEADERS (+ CONTINUATION) with `headers` encoded straight into the output buffer. */
  #writeHeaderBlock(id: number, headers: readonly string[], endStream: boolean): void {
    const w = this.#w;
    const flags = (endStream ? Flag.END_STREAM : 0) | Flag.END_HEADERS;
    writeFrameHeader(w, 0, FrameType.HEADERS, flags, id);
    const mark = w.mark() - FRAME_HEADER_SIZE;
    this.#encoder.encode(headers, w);
    const len = w.mark() - mark - FRAME_HEADER_SIZE;
    const max = this.#peerMaxFrameSize;
    if (len <= max) {
      patchFrameLength(w, mark, len);
      return;
    }
    // Rare: split into CONTINUATIONs.
    const at = w.start + mark + FRAME_HEADER_SIZE;
    const block = Buffer.from(w.buf.subarray(at, at + len));
    w.rewind(mark);
    let off = 0;
    let first = true;
    while (off < len) {
      const n = Math.min(max, len - off);
      const last = off + n === len;
      const f = (first && endStream ? Flag.END_STREAM : 0) | (last ? Flag.END_HEADERS : 0);
      writeFrameHeader(w, n, first ? FrameType.HEADERS : FrameType.CONTINUATION, f, id);
      w.raw(block.subarray(off, off + n));
      off += n;
      first = false;
    }
  }

  // ---- API -------------------------------------------------------------------------

  /**
   * Client: open a stream with request `headers`; returns its id. Throws an H2Error
   * (REFUSED_STREAM) when no stream can be opened (see {@link H2Session.canRequest}).
   */
  request(headers: readonly string[], endStream: boolean): number {
    if (this.isServer) throw new Error("request() is for the client role");
    if (!this.canRequest()) throw new H2Error(H2ErrorCode.REFUSED_STREAM, "cannot open a stream now");
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    const s = new Stream(
      id,
      endStream ? St.HALF_CLOSED_LOCAL : St.OPEN,
      this.#peerInitialWindow,
      this.#recvInitial,
    );
    s.sentHeaders = true;
    this.#streams.set(id, s);
    this.#localActive++;
    this.#writeHeaderBlock(id, headers, endStream);
    this.#scheduleFlush();
    return id;
  }

  /** Server: response headers on stream `id`. Returns false when the stream is not open. */
  respond(id: number, headers: readonly string[], endStream: boolean): boolean {
    const s = this.#streams.get(id);
    if (s === undefined || s.state === St.HALF_CLOSED_LOCAL || this.#dead) return false;
    s.sentHeaders = true;
    this.#writeHeaderBlock(id, headers, endStream);
    if (endStream && this.#localEnd(s)) this.#closed(id);
    this.#scheduleFlush();
    return true;
  }

  /**
   * DATA on stream `id`, END_STREAM when `endStream`. What the send windows do not allow is
   * queued and sent on WINDOW_UPDATE. Returns false when the stream is not open for sending.
   */
  sendData(id: number, data: Buffer, endStream: boolean): boolean {
    const s = this.#streams.get(id);
    if (s === undefined || s.state === St.HALF_CLOSED_LOCAL || s.endAfterQueue || s.trailers !== null)
      return false;
    if (this.#dead) return false;
    if (s.queue !== null) {
      if (data.length > 0) {
        s.queue.push(data);
        s.queued += data.length;
      }
      if (endStream) s.endAfterQueue = true;
    } else {
      const sent = this.#sendNow(s, data, 0, endStream);
      if (sent < data.length) {
        s.queue = [data];
        s.queueOff = sent;
        s.queued = data.length - sent;
        s.endAfterQueue = endStream;
        this.#block(s);
      } else if (endStream && this.#localEnd(s)) {
        this.#closed(id);
      }
    }
    this.#scheduleFlush();
    return true;
  }

  /** Trailers (HEADERS with END_STREAM), after any queued DATA. Returns false when the stream is not open for sending. */
  sendTrailers(id: number, headers: readonly string[]): boolean {
    const s = this.#streams.get(id);
    if (s === undefined || s.state === St.HALF_CLOSED_LOCAL || s.endAfterQueue || s.trailers !== null)
      return false;
    if (this.#dead) return false;
    if (s.queue !== null) {
      s.trailers = headers;
    } else {
      this.#writeHeaderBlock(id, headers, true);
      if (this.#localEnd(s)) this.#closed(id);
    }
    this.#scheduleFlush();
    return true;
  }

  /** RST_STREAM `code` on stream `id` (no `onReset` callback for a reset we make). */
  reset(id: number, code: number = H2ErrorCode.CANCEL): void {
    const s = this.#streams.get(id);
    if (s === undefined || this.#dead) return;
    writeRstStream(this.#w, id, code);
    this.#rememberReset(id);
    if (this.#closeStream(s)) this.#closed(id);
    this.#scheduleFlush();
  }

  /** Acknowledge `n` bytes of DATA delivered on `id` (see the module doc). */
  consumed(id: number, n: number): void {
    if (n <= 0 || this.#dead) return;
    const s = this.#streams.get(id);
    if (s === undefined) return; // credited to the connection when the stream closed
    s.outstanding -= n;
    this.#creditConnection(n);
    if (s.state !== St.HALF_CLOSED_REMOTE) {
      s.unacked += n;
      if (s.unacked >= this.#initialWindow >>> 1) {
        writeWindowUpdate(this.#w, id, s.unacked);
        s.recvWindow += s.unacked;
        s.unacked = 0;
      }
    }
    this.#scheduleFlush();
  }

  #creditConnection(n: number): void {
    if (this.#dead) return;
    this.#connUnacked += n;
    if (this.#connUnacked >= this.#connWindowTarget >>> 2) {
      writeWindowUpdate(this.#w, 0, this.#connUnacked);
      this.#connRecv += this.#connUnacked;
      this.#connUnacked = 0;
      this.#scheduleFlush();
    }
  }

  /** Send a PING (RTT reported to `onPingAck`). */
  ping(): void {
    if (this.#dead) return;
    this.#pingSent.push(performance.now());
    writePing(this.#w, PING_PAYLOAD, false);
    this.#scheduleFlush();
  }

  /**
   * GOAWAY with the last peer stream id we will process: graceful when `code` is NO_ERROR
   * (open streams complete, new ones are refused; the client role stops opening streams).
   */
  goaway(code: number = H2ErrorCode.NO_ERROR, debug?: string): void {
    if (this.#dead || this.#goawaySent) return;
    this.#goawaySent = true;
    writeGoaway(this.#w, this.#lastPeerStream, code, debug === undefined ? undefined : Buffer.from(debug));
    this.#scheduleFlush();
  }

  /**
   * End the session: GOAWAY(NO_ERROR) unless one was sent, then every open stream gets
   * `onReset(id, CANCEL)` and the session is dead. Flushes.
   */
  close(): void {
    if (this.#dead) return;
    this.goaway(H2ErrorCode.NO_ERROR);
    this.#dead = true;
    this.#cancelAll(0, H2ErrorCode.CANCEL);
    this.flush();
  }

  // ---- streams ---------------------------------------------------------------------

  // #localEnd, #remoteEnd and #closeStream return true when the stream closed now; the
  // caller reports it with #closed() after the stream's last event.

  #localEnd(s: Stream): boolean {
    if (s.state === St.HALF_CLOSED_REMOTE) return this.#closeStream(s);
    s.state = St.HALF_CLOSED_LOCAL;
    return false;
  }

  #remoteEnd(s: Stream): boolean {
    if (s.state === St.HALF_CLOSED_LOCAL) return this.#closeStream(s);
    s.state = St.HALF_CLOSED_REMOTE;
    return false;
  }

  #closed(id: number): void {
    this.#h.onStreamClose?.(id);
  }

  #closeStream(s: Stream): boolean {
    if (!this.#streams.delete(s.id)) return false;
    if ((s.id & 1) === (this.isServer ? 0 : 1)) this.#localActive--;
    else this.#peerActive--;
    if (s.outstanding > 0) {
      const n = s.outstanding;
      s.outstanding = 0;
      this.#creditConnection(n);
    }
    s.queue = null;
    s.trailers = null;
    if (s.blocked) {
      s.blocked = false;
      const i = this.#blocked.indexOf(s);
      if (i >= 0) this.#blocked.splice(i, 1);
    }
    return true;
  }

  /** Streams with id > `above` get onReset(code) and are closed. */
  #cancelAll(above: number, code: number, onlyLocal = false): void {
    for (const s of [...this.#streams.values()]) {
      if (s.id <= above) continue;
      if (onlyLocal && (s.id & 1) !== (this.isServer ? 0 : 1)) continue;
      if (!this.#closeStream(s)) continue;
      this.#h.onReset(s.id, code);
      this.#closed(s.id);
    }
  }

  /** Send as much of `data` from `off` as the windows allow; returns the new offset. */
  #sendNow(s: Stream, data: Buffer, off: number, endStream: boolean): number {
    const n = data.length;
    const max = this.#peerMaxFrameSize;
    const w = this.#w;
    if (n === off) {
      if (endStream) writeFrameHeader(w, 0, FrameType.DATA, Flag.END_STREAM, s.id);
      return off;
    }
    while (off < n) {
      const win = Math.min(s.sendWindow, this.#connSend);
      if (win <= 0) break;
      const len = Math.min(max, n - off, win);
      const last = off + len === n;
      writeFrameHeader(w, len, FrameType.DATA, last && endStream ? Flag.END_STREAM : 0, s.id);
      this.#payload(data, off, off + len);
      off += len;
      s.sendWindow -= len;
      this.#connSend -= len;
    }
    return off;
  }

  #block(s: Stream): void {
    if (!s.blocked) {
      s.blocked = true;
      this.#blocked.push(s);
    }
  }

  /** Send queued DATA of `s` (then its END_STREAM / trailers); true when the queue drained. */
  #drain(s: Stream): boolean {
    const q = s.queue;
    if (q === null) return true;
    while (q.length > 0) {
      const buf = q[0]!;
      const isLast = q.length === 1;
      const end = isLast && s.endAfterQueue && s.trailers === null;
      const off = this.#sendNow(s, buf, s.queueOff, end);
      s.queued -= off - s.queueOff;
      if (off < buf.length) {
        s.queueOff = off;
        return false;
      }
      q.shift();
      s.queueOff = 0;
    }
    s.queue = null;
    let closed = false;
    if (s.trailers !== null) {
      const t = s.trailers;
      s.trailers = null;
      this.#writeHeaderBlock(s.id, t, true);
      closed = this.#localEnd(s);
    } else if (s.endAfterQueue) {
      // END_STREAM went on the last frame.
      closed = this.#localEnd(s);
    }
    this.#h.onDrain?.(s.id);
    if (closed) this.#closed(s.id);
    return true;
  }

  #drainBlocked(): void {
    if (this.#blocked.length === 0) return;
    const list = this.#blocked;
    this.#blocked = [];
    for (const s of list) {
      s.blocked = false;
      if (!this.#streams.has(s.id)) continue;
      if (this.#connSend <= 0 || !this.#drain(s)) this.#block(s);
    }
  }

  // ---- input -----------------------------------------------------------------------

  /**
   * Feed bytes read from the transport. Never throws: protocol violations become
   * RST_STREAM / GOAWAY (and `onError` for connection errors); an exception from a handler
   * callback becomes GOAWAY(INTERNAL_ERROR) + `onError`.
   */
  receive(buf: Buffer): void {
    if (this.#dead) return;
    this.#inReceive = true;
    try {
      this.#parse(buf);
    } catch (e) {
      if (e instanceof H2Error && e.streamId === 0) this.#connError(e);
      else {
        const err = new H2Error(H2ErrorCode.INTERNAL_ERROR, e instanceof Error ? e.message : String(e));
        this.#connError(err);
      }
    }
    this.#inReceive = false;
    this.flush();
  }

  #connError(err: H2Error): void {
    if (this.#dead) return;
    writeGoaway(this.#w, this.#lastPeerStream, err.code, Buffer.from(err.message.slice(0, 256)));
    this.#goawaySent = true;
    this.#dead = true;
    this.#h.onError(err);
    for (const s of [...this.#streams.values()]) {
      if (!this.#closeStream(s)) continue;
      this.#h.onReset(s.id, err.code);
      this.#closed(s.id);
    }
  }

  #parse(buf: Buffer): void {
    let off = 0;
    const end = buf.length;
    if (this.#prefaceLeft > 0) {
      const at = CLIENT_PREFACE.length - this.#prefaceLeft;
      const n = Math.min(this.#prefaceLeft, end);
      for (let i = 0; i < n; i++) {
        if (buf[i] !== CLIENT_PREFACE[at + i])
          throw new H2Error(H2ErrorCode.PROTOCOL_ERROR, "bad client preface");
      }
      this.#prefaceLeft -= n;
      off = n;
    }
    const h = this.#hdr;
    // Finish a frame that straddles calls.
    if (this.#partial !== null || this.#partialLen > 0) {
      off = this.#fillPartial(buf, off, end);
      if (off < 0) return;
    }
    while (off < end && !this.#dead) {
      if (!readFrameHeader(buf, off, end, h)) {
        buf.copy(this.#hdrScratch, 0, off, end);
        this.#partialLen = end - off;
        return;
      }
      this.#checkHeader(h);
      const total = FRAME_HEADER_SIZE + h.length;
      if (end - off < total) {
        const p = Buffer.allocUnsafe(total);
        buf.copy(p, 0, off, end);
        this.#partial = p;
        this.#partialLen = end - off;
        return;
      }
      this.#frame(h, buf, off + FRAME_HEADER_SIZE);
      off += total;
    }
  }

  /** Continue assembling a straddling frame; returns the offset after it, or -1 when more is needed. */
  #fillPartial(buf: Buffer, off: number, end: number): number {
    const h = this.#hdr;
    if (this.#partial === null) {
      // Header incomplete.
      const need = FRAME_HEADER_SIZE - this.#partialLen;
      const n = Math.min(need, end - off);
      buf.copy(this.#hdrScratch, this.#partialLen, off, off + n);
      this.#partialLen += n;
      off += n;
      if (this.#partialLen < FRAME_HEADER_SIZE) return -1;
      readFrameHeader(this.#hdrScratch, 0, FRAME_HEADER_SIZE, h);
      this.#checkHeader(h);
      const p = Buffer.allocUnsafe(FRAME_HEADER_SIZE + h.length);
      this.#hdrScratch.copy(p, 0);
      this.#partial = p;
    } else {
      readFrameHeader(this.#partial, 0, FRAME_HEADER_SIZE, h);
    }
    const p = this.#partial;
    const n = Math.min(p.length - this.#partialLen, end - off);
    buf.copy(p, this.#partialLen, off, off + n);
    this.#partialLen += n;
    off += n;
    if (this.#partialLen < p.length) return -1;
    this.#partial = null;
    this.#partialLen = 0;
    this.#frame(h, p, FRAME_HEADER_SIZE);
    return off;
  }

  #checkHeader(h: FrameHeader): void {
    const err = checkFrameHeader(h, this.#maxFrameSize);
    if (err !== null && err.streamId === 0) throw err;
    // First frame from the peer must be SETTINGS (§3.4).
    if (!this.#peerSettingsSeen && (h.type !== FrameType.SETTINGS || (h.flags & Flag.ACK) !== 0)) {
      throw new H2Error(H2ErrorCode.PROTOCOL_ERROR, "first frame is not SETTINGS");
    }
    if (this.#contStream !== 0 && (h.type !== FrameType.CONTINUATION || h.streamId !== this.#contStream)) {
      throw new H2Error(H2ErrorCode.PROTOCOL_ERROR, "expected CONTINUATION");
    }
  }

  /** Dispatch one complete frame whose payload starts at `p` in `buf`. */
  #frame(h: FrameHeader, buf: Buffer, p: number): void {
    if (this.#dead) return;
    // Connection errors of the header were thrown by #checkHeader.
    switch (h.type) {
      case FrameType.DATA:
        this.#onData(h, buf, p);
        return;
      case FrameType.HEADERS:
        this.#onHeadersFrame(h, buf, p);
        return;
      case FrameType.PRIORITY: {
        if (h.length !== 5) {
          this.#streamError(h.streamId, H2ErrorCode.FRAME_SIZE_ERROR);
          return;
        }
        const e = checkPriority(h, buf, p);
        if (e !== null) this.#streamError(h.streamId, e.code);
        return;
      }
      case FrameType.RST_STREAM:
        this.#onRst(h, buf, p);
        return;
      case FrameType.SETTINGS:
        this.#onSettings(h, buf, p);
        return;
      case FrameType.PUSH_PROMISE:
        throw new H2Error(H2ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE (push is disabled)");
      case FrameType.PING:
        if ((h.flags & Flag.ACK) !== 0) {
          const t = this.#pingSent.shift();
          if (t !== undefined) this.#h.onPingAck?.(performance.now() - t);
          return;
        }
        if (this.#control.hit(this.#maxControl)) {
          throw new H2Error(H2ErrorCode.ENHANCE_YOUR_CALM, "PING flood");
        }
        writePing(this.#w, buf, true, p);
        return;
      case FrameType.GOAWAY:
        this.#onGoaway(h, buf, p);
        return;
      case FrameType.WINDOW_UPDATE:
        this.#onWindowUpdate(h, buf, p);
        return;
      case FrameType.CONTINUATION:
        this.#onContinuation(h, buf, p);
        return;
      default:
        return; // unknown frame types are ignored (§4.1)
    }
  }

  /** Is `id` a stream the peer could open (its parity). */
  #peerParity(id: number): boolean {
    return (id & 1) === (this.isServer ? 1 : 0);
  }

  /** Is `id` idle: never opened by either side. */
  #isIdle(id: number): boolean {
    if (this.#peerParity(id)) return id > this.#lastPeerStream;
    return id >= this.#nextStreamId;
  }

  #rememberReset(id: number): void {
    const set = this.#resetByUs;
    set.add(id);
    if (set.size > 1024) set.delete(set.values().next().value!);
  }

  #streamError(id: number, code: number): void {
    writeRstStream(this.#w, id, code);
    this.#rememberReset(id);
    const s = this.#streams.get(id);
    if (s !== undefined && this.#closeStream(s)) {
      if (s.headerBlocks > 0 || s.sentHeaders) this.#h.onReset(id, code);
      this.#closed(id);
    }
  }

  #onData(h: FrameHeader, buf: Buffer, p: number): void {
    const pl = this.#pl;
    const e = framePayload(h, buf, p, pl);
    if (e !== null) throw e;
    const id = h.streamId;
    const len = h.length;
    if (len > this.#connRecv) throw new H2Error(H2ErrorCode.FLOW_CONTROL_ERROR, "connection window exceeded");
    this.#connRecv -= len;
    const s = this.#streams.get(id);
    if (s === undefined || s.state === St.HALF_CLOSED_REMOTE) {
      if (s === undefined && this.#isIdle(id))
        throw new H2Error(H2ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream");
      this.#creditConnection(len);
      // In flight when we reset the stream: ignored. Otherwise the stream was closed normally.
      if (s === undefined && this.#resetByUs.has(id)) return;
      this.#streamError(id, H2ErrorCode.STREAM_CLOSED);
      return;
    }
    const endStream = (h.flags & Flag.END_STREAM) !== 0;
    if (len > s.recvWindow) {
      this.#creditConnection(len);
      this.#streamError(id, H2ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    s.recvWindow -= len;
    const dataLen = pl.end - pl.start;
    const padding = len - dataLen;
    if (padding > 0) {
      this.#creditConnection(padding);
      s.unacked += padding;
    }
    if (len === 0 && !endStream && this.#empty.hit(this.#maxEmptyData)) {
      throw new H2Error(H2ErrorCode.ENHANCE_YOUR_CALM, "empty DATA flood");
    }
    s.outstanding += dataLen;
    const closed = endStream && this.#remoteEnd(s);
    this.#h.onData(id, dataLen === 0 ? EMPTY : buf.subarray(pl.start, pl.end), endStream);
    if (closed) this.#closed(id);
  }

  #onHeadersFrame(h: FrameHeader, buf: Buffer, p: number): void {
    const pl = this.#pl;
    const e = framePayload(h, buf, p, pl);
    if (e !== null) {
      if (e.streamId === 0) throw e;
      // Self-dependency: decode the block (HPACK state stays in sync), then reset the stream.
      if ((h.flags & Flag.END_HEADERS) === 0) throw new H2Error(H2ErrorCode.PROTOCOL_ERROR, e.message);
      this.#decoder.decode(buf, pl.start, pl.end, []);
      if (this.#peerParity(h.streamId) && h.streamId > this.#lastPeerStream)
        this.#lastPeerStream = h.streamId;
      this.#streamError(h.streamId, e.code);
      return;
    }
    const endStream = (h.flags & Flag.END_STREAM) !== 0;
    if ((h.flags & Flag.END_HEADERS) !== 0) {
      this.#headerBlock(h.streamId, buf, pl.start, pl.end, endStream);
      return;
    }
    this.#contStream = h.streamId;
    this.#contFrags = [Buffer.from(buf.subarray(pl.start, pl.end))];
    this.#contSize = pl.end - pl.start;
    this.#contEnd = endStream;
    this.#contCount = 0;
  }

  #onContinuation(h: FrameHeader, buf: Buffer, p: number): void {
    if (this.#contStream === 0 || h.streamId !== this.#contStream) {
      throw new H2Error(H2ErrorCode.PROTOCOL_ERROR, "CONTINUATION without HEADERS");
    }
    if (++this.#contCount > this.#maxContinuations) {
      throw new H2Error(H2ErrorCode.ENHANCE_YOUR_CALM, "too many CONTINUATION frames");
    }
    this.#contSize += h.length;
    if (this.#contSize > this.#maxHeaderList * 2 + 16384) {
      throw new H2Error(H2ErrorCode.ENHANCE_YOUR_CALM, "header block too large");
    }
    this.#contFrags.push(Buffer.from(buf.subarray(p, p + h.length)));
    if ((h.flags & Flag.END_HEADERS) === 0) return;
    const block = Buffer.concat(this.#contFrags);
    const id = this.#contStream;
    this.#contStream = 0;
    this.#contFrags = [];
    this.#headerBlock(id, block, 0, block.length, this.#contEnd);
  }

  /** A complete header block on `id`. */
  #headerBlock(id: number, buf: Buffer, start: number, end: number, endStream: boolean): void {
    const headers = this.#decoder.decodeList(buf, start, end);
    const oversized = this.#decoder.oversized;
    let s = this.#streams.get(id);
    if (s === undefined) {
      if (this.#resetByUs.has(id)) return; // in flight when we reset it
      if (!this.#peerParity(id)) {
        if (this.#isIdle(id))
          throw new H2Error(H2ErrorCode.PROTOCOL_ERROR, "HEADERS on a stream we did not open");
        this.#streamError(id, H2ErrorCode.STREAM_CLOSED);
        return;
      }
      if (!this.isServer) throw new H2Error(H2ErrorCode.PROTOCOL_ERROR, "server opened a stream");
      if (id <= this.#lastPeerStream) {
        // A closed stream (e.g. trailers after we reset it).
        this.#streamError(id, H2ErrorCode.STREAM_CLOSED);
        return;
      }
      this.#lastPeerStream = id;
      if (this.#goawaySent) {
        // Above the last stream id of our GOAWAY: not processed, refused (the client may retry).
        writeRstStream(this.#w, id, H2ErrorCode.REFUSED_STREAM);
        this.#rememberReset(id);
        return;
      }
      if (this.#peerActive >= this.#maxConcurrent) {
        writeRstStream(this.#w, id, H2ErrorCode.REFUSED_STREAM);
        this.#rememberReset(id);
        return;
      }
      if (oversized) {
        writeRstStream(this.#w, id, H2ErrorCode.PROTOCOL_ERROR);
        this.#rememberReset(id);
        return;
      }
      s = new Stream(id, St.OPEN, this.#peerInitialWindow, this.#recvInitial);
      this.#streams.set(id, s);
      this.#peerActive++;
    } else {
      if (s.state === St.HALF_CLOSED_REMOTE) {
        this.#streamError(id, H2ErrorCode.STREAM_CLOSED);
        return;
      }
      if (oversized) {
        this.#streamError(id, H2ErrorCode.PROTOCOL_ERROR);
        return;
      }
      // A second block must end the stream (trailers), except 1xx responses before the final one.
      if (!endStream) {
        const informational = !this.isServer && !s.finalHeaders && isInformational(headers);
        if (s.headerBlocks > 0 && (this.isServer || s.finalHeaders) && !informational) {
          this.#streamError(id, H2ErrorCode.PROTOCOL_ERROR);
          return;
        }
      }
    }
    s.headerBlocks++;
    if (!this.isServer && !s.finalHeaders && !isInformational(headers)) s.finalHeaders = true;
    const closed = endStream && this.#remoteEnd(s);
    this.#h.onHeaders(id, headers, endStream);
    if (closed) this.#closed(id);
  }

  #onRst(h: FrameHeader, buf: Buffer, p: number): void {
    const id = h.streamId;
    if (this.#isIdle(id)) throw new H2Error(H2ErrorCode.PROTOCOL_ERROR, "RST_STREAM on an idle stream");
    if (this.#resets.hit(this.#maxResets))
      throw new H2Error(H2ErrorCode.ENHANCE_YOUR_CALM, "RST_STREAM flood");
    const s = this.#streams.get(id);
    if (s === undefined || !this.#closeStream(s)) return;
    this.#h.onReset(id, readU32(buf, p));
    this.#closed(id);
  }

  #onSettings(h: FrameHeader, buf: Buffer, p: number): void {
    if ((h.flags & Flag.ACK) !== 0) {
      if (!this.#settingsAcked) {
        this.#settingsAcked = true;
        const delta = this.#initialWindow - this.#recvInitial;
        this.#recvInitial = this.#initialWindow;
        if (delta !== 0) for (const s of this.#streams.values()) s.recvWindow += delta;
        this.#decoder.maxTableSize = this.#headerTableSize;
      }
      return;
    }
    if (this.#peerSettingsSeen && this.#control.hit(this.#maxControl)) {
      throw new H2Error(H2ErrorCode.ENHANCE_YOUR_CALM, "SETTINGS flood");
    }
    this.#peerSettingsSeen = true;
    const end = p + h.length;
    for (let i = p; i < end; i += 6) {
      const id = (buf[i]! << 8) | buf[i + 1]!;
      const v = readU32(buf, i + 2);
      switch (id) {
        case SettingId.HEADER_TABLE_SIZE:
          this.#encoder.setPeerTableSize(v);
          break;
        case SettingId.ENABLE_PUSH:
          if (v > 1) throw new H2Error(H2ErrorCode.PROTOCOL_ERROR, "ENABLE_PUSH not 0 or 1");
          if (v === 1 && !this.isServer) throw new H2Error(H2ErrorCode.PROTOCOL_ERROR, "server enabled push");
          break;
        case SettingId.MAX_CONCURRENT_STREAMS:
          this.#peerMaxConcurrent = v;
          break;
        case SettingId.INITIAL_WINDOW_SIZE: {
          if (v > H2Default.MAX_WINDOW_SIZE) {
            throw new H2Error(H2ErrorCode.FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE too large");
          }
          const delta = v - this.#peerInitialWindow;
          this.#peerInitialWindow = v;
          if (delta !== 0) {
            for (const s of this.#streams.values()) {
              s.sendWindow += delta;
              if (s.sendWindow > H2Default.MAX_WINDOW_SIZE) {
                throw new H2Error(H2ErrorCode.FLOW_CONTROL_ERROR, "stream window overflow");
              }
            }
          }
          break;
        }
        case SettingId.MAX_FRAME_SIZE:
          if (v < H2Default.MAX_FRAME_SIZE || v > H2Default.MAX_FRAME_SIZE_LIMIT) {
            throw new H2Error(H2ErrorCode.PROTOCOL_ERROR, "MAX_FRAME_SIZE out of range");
          }
          this.#peerMaxFrameSize = v;
          break;
        default:
          break; // MAX_HEADER_LIST_SIZE is advisory; unknown settings are ignored
      }
    }
    writeSettingsAck(this.#w);
    // Windows may have grown.
    for (const s of this.#streams.values()) {
      if (s.queue !== null && s.sendWindow > 0) this.#block(s);
    }
    this.#drainBlocked();
  }

  #onGoaway(h: FrameHeader, buf: Buffer, p: number): void {
    const last = readU31(buf, p);
    const code = readU32(buf, p + 4);
    this.#goawayRecv = true;
    this.#goawayRecvLast = Math.min(this.#goawayRecvLast, last);
    this.#h.onGoaway(last, code, Buffer.from(buf.subarray(p + 8, p + h.length)));
    this.#cancelAll(this.#goawayRecvLast, H2ErrorCode.REFUSED_STREAM, true);
  }

  #onWindowUpdate(h: FrameHeader, buf: Buffer, p: number): void {
    const inc = readU31(buf, p);
    const id = h.streamId;
    if (id === 0) {
      if (inc === 0) throw new H2Error(H2ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
      this.#connSend += inc;
      if (this.#connSend > H2Default.MAX_WINDOW_SIZE) {
        throw new H2Error(H2ErrorCode.FLOW_CONTROL_ERROR, "connection window overflow");
      }
      this.#drainBlocked();
      return;
    }
    if (this.#isIdle(id)) throw new H2Error(H2ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
    const s = this.#streams.get(id);
    if (s === undefined) return;
    if (inc === 0) {
      this.#streamError(id, H2ErrorCode.PROTOCOL_ERROR);
      return;
    }
    s.sendWindow += inc;
    if (s.sendWindow > H2Default.MAX_WINDOW_SIZE) {
      this.#streamError(id, H2ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    if (s.queue !== null && this.#connSend > 0 && !this.#drain(s)) this.#block(s);
  }
}

/** A response header list whose :status is 1xx. */
function isInformational(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === ":status") return headers[i + 1]!.charCodeAt(0) === 0x31;
  }
  return false;
}
