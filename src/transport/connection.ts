/**
 * A connection: one socket, the protocol detection loop on its input (brpc's
 * InputMessenger) and a batched, bounded write path (brpc's Socket write queue).
 */
import type { Socket } from "node:net";
import { ErrorCode, errnoFromNodeError } from "../errors/errno.js";
import { IdMap } from "../io/id-map.js";
import { now } from "../io/timers.js";
import { Writer } from "../io/writer.js";
import { log } from "../log.js";
import { ParseError, type Protocol } from "../protocol/protocol.js";
import type { ConnectionRates } from "./connection-stats.js";
import { unwatchWrites, watchWrites } from "./watchdog.js";

/** Where {@link Connection.recordAtFlush} records a latency (a `LatencyRecorder`). */
export interface LatencySink {
  /** One latency, in microseconds. */
  record(us: number): void;
}

/** A client call waiting for its response on a connection. */
export interface PendingCall {
  /** The connection failed before the response arrived. */
  onConnectionFailed(conn: Connection): void;
}

/** A stream hosted by a connection (see src/stream). */
export interface HostedStream {
  readonly id: number;
  /** The connection failed: the stream fails with its error. */
  onConnectionFailed(conn: Connection): void;
}

/** Who owns a connection and hears about its failure. */
export interface ConnectionOwner {
  /** Called once when the connection fails or closes, after it stopped reading and writing. */
  onConnectionFailed(conn: Connection): void;
}

/** Options of one connection. */
export interface ConnectionOptions {
  /** Largest frame accepted (brpc `-max_body_size`, default 64 MiB). */
  maxBodySize: number;
  /** Unsent bytes above which writes fail with EOVERCROWDED (brpc `-socket_max_unwritten_bytes`, 64 MiB). */
  maxUnwrittenBytes: number;
  /** Path of the Unix-domain socket, when it is one (sockets have no address then). */
  unixPath?: string | undefined;
  /** Fail the connection when unsent bytes make no progress for this long (ms); 0 = off. */
  writeStallTimeoutMs?: number | undefined;
  /** Enable TCP keepalive with this idle time (ms) before the first probe; 0 = off. */
  keepAliveMs?: number | undefined;
  /**
   * Server side: fail a connection whose first bytes do not form any protocol's start
   * within this many ms (a slowloris that stops after "GE" or half a frame header never
   * reaches a protocol's own timeout); 0 = off.
   */
  detectTimeoutMs?: number | undefined;
}

/** Bytes after which some protocol has always recognised its start (or refused the input). */
const DETECT_PREFIX_MAX = 64;

/** Defaults shared by servers and channels. */
export const DEFAULT_MAX_BODY_SIZE = 64 * 1024 * 1024;
/** brpc's `-socket_max_unwritten_bytes` default. */
export const DEFAULT_MAX_UNWRITTEN_BYTES = 64 * 1024 * 1024;
/** Default of {@link ConnectionOptions.writeStallTimeoutMs}. */
export const DEFAULT_WRITE_STALL_TIMEOUT_MS = 30_000;
/** Default of {@link ConnectionOptions.keepAliveMs}. */
export const DEFAULT_KEEPALIVE_MS = 60_000;

/** Frames larger than this are queued as their own buffers instead of being copied. */
const EXTERNAL_THRESHOLD = 64 * 1024;

let nextConnectionId = 1;

/**
 * Connections not failed or closed yet, by role (brpc's `rpc_socket_count` is their sum,
 * `rpc_channel_connection_count` the client ones). Counts only brpc-ts's own connections:
 * servers' and those of baidu_std / streaming channels (http and h2 channels use node's).
 */
export const liveConnections = { server: 0, client: 0 };

function flushTick(conn: Connection): void {
  conn.flush();
}

/** "ip:port", "[ipv6]:port" or "unix:path" of a socket's peer or local end. */
export function describeEndpoint(
  address: string | undefined,
  port: number | undefined,
  path?: string,
): string {
  if (address === undefined || address === "") return path ? `unix:${path}` : "unknown";
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/** One connection carrying brpc-ts protocols. */
export class Connection {
  /** Process-unique id (shown on /connections later). */
  readonly id = nextConnectionId++;
  /** The socket carrying the protocols: the TCP/Unix socket, or the TLS socket over it after {@link adoptSocket}. */
  socket: Socket;
  /** "server" for accepted connections, "client" for those a Channel made. */
  readonly role: "server" | "client";
  readonly owner: ConnectionOwner;
  readonly options: ConnectionOptions;
  /** Peer address, e.g. "127.0.0.1:52044" or "unix:/tmp/x.sock". */
  readonly remoteSide: string;
  /** Local address, e.g. "127.0.0.1:8000". */
  readonly localSide: string;
  /** Creation time (Date.now()). */
  readonly createdAt = Date.now();
  /** Pending output; protocols encode frames straight into it, then call {@link scheduleFlush}. */
  readonly writer = new Writer();
  /** Bumped on every read and write; idle detection compares snapshots of it (no clock reads on the hot path). */
  activity = 0;
  /** When {@link activity} was last seen to change ({@link now} clock), maintained by {@link idleFor}. */
  #activeAt = now();
  #seenActivity = 0;
  /** Bytes received so far. */
  bytesIn = 0;
  /** Bytes sent so far. */
  bytesOut = 0;
  /** Messages (requests or responses, stream frames) received so far. */
  messagesIn = 0;
  /** Messages sent so far. */
  messagesOut = 0;
  /**
   * Per-second and per-minute traffic, updated once a second by a running server with
   * metrics on (server side only, as in brpc); undefined until the first update.
   */
  rates: ConnectionRates | undefined = undefined;
  /**
   * Stamp {@link readAt} on every read (set while metrics time the calls of this
   * connection): one clock read per chunk, shared by the messages in it.
   */
  stampReads = false;
  /** When the last chunk was read ({@link now} clock), if {@link stampReads}. */
  readAt = 0;
  /** Latencies to record at the next flush: recorders and start times ({@link recordAtFlush}). */
  #timedRecorders: LatencySink[] = [];
  #timedStarts: number[] = [];
  /** Entries of the two arrays in use (they are reused, not emptied, between flushes). */
  #timedCount = 0;
  /** Set once the connection failed; nothing is read or written afterwards. */
  failed = false;
  errorCode = 0;
  errorText = "";
  /** Protocol-private state, keyed by protocol name (e.g. auth state). */
  readonly state: Record<string, unknown> = {};
  /** [Server] Requests admitted on this connection and not answered yet. */
  inflight = 0;
  /** [Client] Calls waiting for a response, by correlation id. */
  readonly pending = new IdMap<PendingCall>();
  /** Streams bound to this connection, by local stream id: frames can reach only these. */
  streams: IdMap<HostedStream> | undefined;
  #drainWaiters: (() => void)[] | undefined;

  #watchers: Set<(conn: Connection) => void> | undefined;
  #protocols: readonly Protocol[];
  #current: Protocol | undefined;
  #chunks: Buffer[] = [];
  #pendingLen = 0;
  #needed = 0;
  #paused = false;
  #flushScheduled = false;
  #queue: Buffer[] = [];
  #queuedBytes = 0;

  constructor(
    socket: Socket,
    role: "server" | "client",
    owner: ConnectionOwner,
    protocols: readonly Protocol[],
    options: ConnectionOptions,
  ) {
    this.socket = socket;
    this.role = role;
    this.owner = owner;
    this.options = options;
    this.#protocols = protocols;
    liveConnections[role]++;
    if (role === "client" && protocols.length > 0) this.#current = protocols[0];
    socket.setNoDelay(true);
    const keepAlive = options.keepAliveMs ?? DEFAULT_KEEPALIVE_MS;
    if (keepAlive > 0 && options.unixPath === undefined) socket.setKeepAlive(true, keepAlive);
    watchWrites(this, options.writeStallTimeoutMs ?? DEFAULT_WRITE_STALL_TIMEOUT_MS);
    this.remoteSide = describeEndpoint(socket.remoteAddress, socket.remotePort, options.unixPath);
    this.localSide = describeEndpoint(socket.localAddress, socket.localPort, options.unixPath);
    socket.on("data", this.#onDataListener);
    socket.on("end", this.#onEndListener);
    socket.on("error", (err: Error) =>
      this.fail(errnoFromNodeError(err), `${err.message} (${this.remoteSide})`),
    );
    socket.on("close", () => this.fail(ErrorCode.EEOF, `Connection to ${this.remoteSide} closed`));
  }

  readonly #onDataListener = (chunk: Buffer) => this.#onData(chunk);
  readonly #onEndListener = () => this.fail(ErrorCode.EEOF, `Got EOF from ${this.remoteSide}`);

  /**
   * True once a byte-stream protocol (HTTP/1.x, h2, TLS) owns the socket: this object
   * then only tracks the connection's lifetime.
   */
  takenOver = false;

  /** Stop reading and hand the socket, with the unconsumed `head` pushed back, to `p`. */
  #handOver(p: Protocol, head: Buffer): void {
    this.takenOver = true;
    const s = this.socket;
    s.pause();
    s.off("data", this.#onDataListener);
    s.off("end", this.#onEndListener);
    this.#chunks = [];
    this.#pendingLen = 0;
    // The new owner reports EOF and errors through 'close' (still ours, to untrack).
    unwatchWrites(this);
    if (head.length > 0) s.unshift(head);
    try {
      p.takeOver?.(this, head);
    } catch (err) {
      log.error(`${p.name} from ${this.remoteSide}: failed to take over the connection`, err);
      this.fail(ErrorCode.EINTERNAL, `failed to hand the connection to ${p.name}: ${String(err)}`);
    }
  }

  /**
   * [Server] After a takeover by TLS: go on with `socket`, the TLS socket layered over the
   * original one (which keeps reporting its close). Reads and writes use it from now on;
   * with `detect`, protocol detection restarts on the bytes it decrypts (baidu_std,
   * streaming RPC ... over TLS), else the caller hands it to a byte-stream protocol.
   */
  adoptSocket(socket: Socket, detect: boolean): void {
    if (this.failed) {
      socket.destroy();
      return;
    }
    this.socket = socket;
    socket.on("error", (err: Error) =>
      this.fail(errnoFromNodeError(err), `${err.message} (${this.remoteSide})`),
    );
    socket.on("close", () => this.fail(ErrorCode.EEOF, `Connection to ${this.remoteSide} closed`));
    if (!detect) return;
    this.takenOver = false;
    this.#current = undefined;
    socket.on("data", this.#onDataListener);
    socket.on("end", this.#onEndListener);
    watchWrites(this, this.options.writeStallTimeoutMs ?? DEFAULT_WRITE_STALL_TIMEOUT_MS);
  }

  /** The protocol detected on this connection (or the one a client uses). */
  get protocol(): Protocol | undefined {
    return this.#current;
  }

  /** Bytes accepted for writing but not yet sent to the kernel. */
  get unwrittenBytes(): number {
    if (this.failed) return 0;
    return this.socket.writableLength + this.writer.length + this.#queuedBytes;
  }

  /** True when new frames must be refused with EOVERCROWDED. */
  get overcrowded(): boolean {
    return this.unwrittenBytes > this.options.maxUnwrittenBytes;
  }

  /** Flush the writer at the end of this tick (batching every frame written meanwhile). */
  scheduleFlush(): void {
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      process.nextTick(flushTick, this);
    }
  }

  /** Queue a large buffer after the bytes already in the writer, without copying it. */
  writeExternal(buf: Uint8Array): void {
    if (buf.length < EXTERNAL_THRESHOLD) {
      this.writer.raw(buf);
      return;
    }
    const head = this.writer.take();
    if (head.length > 0) this.#queue.push(head);
    const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    this.#queue.push(b);
    this.#queuedBytes += head.length + b.length;
  }

  /**
   * Record into `sink` the time from `startMs` ({@link now} clock) to the next flush, when
   * the response just written reaches the socket: one clock read per flush, shared by
   * every response in it.
   */
  recordAtFlush(sink: LatencySink, startMs: number): void {
    const i = this.#timedCount++;
    this.#timedRecorders[i] = sink;
    this.#timedStarts[i] = startMs;
    this.scheduleFlush();
  }

  #recordTimings(): void {
    const t = now();
    const sinks = this.#timedRecorders;
    const starts = this.#timedStarts;
    const n = this.#timedCount;
    this.#timedCount = 0;
    for (let i = 0; i < n; i++) {
      (sinks[i] as LatencySink).record(Math.round((t - (starts[i] as number)) * 1000));
    }
  }

  /** Write everything pending now. */
  flush(): void {
    this.#flushScheduled = false;
    if (this.#timedCount > 0) this.#recordTimings();
    if (this.failed) return;
    const tail = this.writer.take();
    if (this.#queue.length === 0) {
      if (tail.length === 0) return;
      this.bytesOut += tail.length;
      this.activity++;
      this.socket.write(tail);
      // Node emits 'drain' only after a refused write: wake backlog waiters here too.
      if (this.#drainWaiters !== undefined && this.#drainWaiters.length > 0) this.#drained();
      return;
    }
    const q = this.#queue;
    if (tail.length > 0) q.push(tail);
    this.#queue = [];
    this.#queuedBytes = 0;
    this.socket.cork();
    for (const b of q) {
      this.bytesOut += b.length;
      this.socket.write(b);
    }
    this.socket.uncork();
    this.activity++;
    if (this.#drainWaiters !== undefined && this.#drainWaiters.length > 0) this.#drained();
  }

  /** Milliseconds without reads or writes, as of the last call (call it periodically). */
  idleFor(t: number = now()): number {
    if (this.activity !== this.#seenActivity) {
      this.#seenActivity = this.activity;
      this.#activeAt = t;
    }
    return t - this.#activeAt;
  }

  /** Bind a stream to this connection (a failed connection fails it at once). */
  addStream(s: HostedStream): void {
    if (this.failed) {
      queueMicrotask(() => s.onConnectionFailed(this));
      return;
    }
    this.streams ??= new IdMap<HostedStream>(16);
    this.streams.set(s.id, s);
  }

  /** Unbind a stream (idempotent). */
  removeStream(s: HostedStream): void {
    if (this.streams?.get(s.id) === s) this.streams.delete(s.id);
  }

  /** Call `fn` once when the unsent backlog drains (or the connection fails). */
  onDrain(fn: () => void): void {
    if (this.failed || !this.overcrowded) {
      queueMicrotask(fn);
      return;
    }
    if (this.#drainWaiters === undefined) {
      this.#drainWaiters = [];
      this.socket.on("drain", () => this.#drained());
    }
    this.#drainWaiters.push(fn);
  }

  #drained(): void {
    const w = this.#drainWaiters;
    if (w === undefined || w.length === 0 || this.overcrowded) return;
    this.#drainWaiters = [];
    for (const fn of w) fn();
  }

  /** Stop processing input until {@link resume} (e.g. while an async credential check runs). */
  pause(): void {
    this.#paused = true;
    // Stop reading too, so a peer cannot make us buffer without bound meanwhile.
    this.socket.pause();
  }

  /** Resume input processing paused by {@link pause}. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (!this.failed) this.socket.resume();
    if (this.#pendingLen > 0 && !this.failed) {
      const buf = this.#takePending();
      this.#consume(buf);
    }
  }

  /**
   * Fail the connection: stop reading and writing, destroy the socket and tell the
   * owner, exactly once. Safe to call any number of times from anywhere.
   */
  fail(code: number, text: string): void {
    if (this.failed) return;
    this.failed = true;
    liveConnections[this.role]--;
    this.errorCode = code;
    this.errorText = text;
    this.#chunks = [];
    this.#pendingLen = 0;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.socket.destroy();
    unwatchWrites(this);
    if (this.#detectTimer !== undefined) clearTimeout(this.#detectTimer);
    try {
      this.owner.onConnectionFailed(this);
    } catch (err) {
      log.error(`connection ${this.remoteSide}: failure handler threw`, err);
    }
    if (this.pending.size > 0) {
      const calls = this.pending.values();
      this.pending.clear();
      for (const c of calls) {
        try {
          c.onConnectionFailed(this);
        } catch (err) {
          log.error(`connection ${this.remoteSide}: failing a pending call threw`, err);
        }
      }
    }
    const streams = this.streams;
    if (streams !== undefined && streams.size > 0) {
      for (const st of streams.values()) {
        try {
          st.onConnectionFailed(this);
        } catch (err) {
          log.error(`connection ${this.remoteSide}: failing a stream threw`, err);
        }
      }
      streams.clear();
    }
    const drain = this.#drainWaiters;
    this.#drainWaiters = undefined;
    if (drain !== undefined) for (const fn of drain) fn();
    const watchers = this.#watchers;
    this.#watchers = undefined;
    if (watchers !== undefined) {
      for (const w of watchers) {
        try {
          w(this);
        } catch (err) {
          log.error(`connection ${this.remoteSide}: failure watcher threw`, err);
        }
      }
    }
  }

  /** Call `fn` once if the connection fails. Returns a function that unregisters it. */
  watchFailure(fn: (conn: Connection) => void): () => void {
    if (this.failed) {
      queueMicrotask(() => fn(this));
      return () => {};
    }
    this.#watchers ??= new Set();
    this.#watchers.add(fn);
    return () => this.#watchers?.delete(fn);
  }

  /** Close gracefully: send what is pending, then close. */
  /**
   * Called by {@link close} before the socket ends, for a protocol that owns the
   * connection to say goodbye (e.g. h2's GOAWAY). Must not throw.
   */
  beforeClose: (() => void) | undefined = undefined;

  close(): void {
    if (this.failed) return;
    this.beforeClose?.();
    this.flush();
    this.socket.end();
    this.fail(ErrorCode.EUNUSED, `Connection to ${this.remoteSide} closed locally`);
  }

  #takePending(): Buffer {
    const buf =
      this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks, this.#pendingLen);
    this.#chunks = [];
    this.#pendingLen = 0;
    this.#needed = 0;
    return buf;
  }

  #onData(chunk: Buffer): void {
    if (this.failed) return;
    if (this.stampReads) this.readAt = now();
    this.bytesIn += chunk.length;
    this.activity++;
    if (this.#pendingLen > 0 || this.#paused) {
      this.#chunks.push(chunk);
      this.#pendingLen += chunk.length;
      if (this.#paused || this.#pendingLen < this.#needed) return;
      this.#consume(this.#takePending());
    } else {
      this.#consume(chunk);
    }
  }

  #consume(buf: Buffer): void {
    const end = buf.length;
    let off = 0;
    while (off < end) {
      if (this.failed) return;
      if (this.#paused) break;
      const len = this.#cut(buf, off, end);
      if (len === ParseError.NOT_ENOUGH_DATA || (len > 0 && off + len > end)) {
        this.#needed = len > 0 ? len : end - off + 1;
        if (this.messagesIn === 0 && this.role === "server" && this.#detectTimer === undefined)
          this.#armDetect();
        break;
      }
      if (len === ParseError.TAKE_OVER) {
        this.#handOver(this.#current as Protocol, buf.subarray(off));
        return;
      }
      if (len < 0) {
        this.#onParseError(len, buf, off, end);
        return;
      }
      this.messagesIn++;
      const p = this.#current as Protocol;
      try {
        if (this.role === "server") p.processRequest?.(buf, off, len, this);
        else p.processResponse?.(buf, off, len, this);
      } catch (err) {
        // A bug while handling one frame must not take the process down.
        log.error(`${p.name} from ${this.remoteSide}: failed to process a frame`, err);
        this.fail(ErrorCode.EINTERNAL, `failed to process a ${p.name} frame: ${String(err)}`);
        return;
      }
      off += len;
    }
    if (off < end && !this.failed) {
      const rest = buf.subarray(off);
      this.#chunks = [rest];
      this.#pendingLen = rest.length;
    }
  }

  #detectTimer: NodeJS.Timeout | undefined;

  /** Start the deadline for the first bytes to become a protocol (see `detectTimeoutMs`). */
  #armDetect(): void {
    const ms = this.options.detectTimeoutMs ?? 0;
    if (ms <= 0) return;
    this.#detectTimer = setTimeout(() => {
      // Still nothing recognised: a few bytes, no frame, not handed to HTTP/TLS.
      if (this.failed || this.takenOver || this.messagesIn > 0 || this.#pendingLen >= DETECT_PREFIX_MAX)
        return;
      const text = `Close ${this.remoteSide}: no protocol recognised in ${ms}ms (${this.#pendingLen} bytes received)`;
      log.warn(text);
      this.fail(ErrorCode.EINVAL, text);
    }, ms);
    this.#detectTimer.unref();
  }

  /** Frame length at `off`, choosing the protocol as brpc's CutInputMessage does. */
  #cut(buf: Buffer, off: number, end: number): number {
    const cur = this.#current;
    if (cur !== undefined) {
      const r = cur.parse(buf, off, end, this);
      if (r !== ParseError.TRY_OTHERS) return r;
    }
    for (const p of this.#protocols) {
      if (p === cur) continue;
      const r = p.parse(buf, off, end, this);
      if (r !== ParseError.TRY_OTHERS) {
        this.#current = p;
        return r;
      }
    }
    return ParseError.TRY_OTHERS;
  }

  #onParseError(code: number, buf: Buffer, off: number, end: number): void {
    // Answers to the good frames before the bad bytes still go out.
    this.flush();
    // brpc fails such connections with EINVAL ("Close <socket>: <reason>").
    if (code === ParseError.TOO_BIG) {
      const text = `Close ${this.remoteSide}: a frame is larger than max_body_size=${this.options.maxBodySize}`;
      log.error(text);
      this.fail(ErrorCode.EINVAL, text);
      return;
    }
    const head = buf.subarray(off, Math.min(end, off + 16)).toString("hex");
    const text =
      code === ParseError.TRY_OTHERS
        ? `Close ${this.remoteSide} due to unknown message (first bytes ${head})`
        : `Close ${this.remoteSide}: malformed ${this.#current?.name ?? "input"} (first bytes ${head})`;
    log.warn(text);
    this.fail(ErrorCode.EINVAL, text);
  }
}
