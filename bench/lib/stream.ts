/**
 * The stream-throughput part of `npm run bench`: the contract between the harness and one
 * streaming "system", the message format every writer produces, and the reader-side
 * {@link StreamRecorder} that verifies and counts what arrives.
 *
 * A stream system runs its writer in the server child (`serve`) and its reader in the client
 * child (`read`): the client connects, tells the server the message size, and the server
 * writes messages of that size as fast as the system's flow control lets it until the client
 * goes away. Only the reader measures.
 */
import { performance } from "node:perf_hooks";
import { sleep } from "./stats.js";

/**
 * Message format, identical for every system. A message of `size` (>= 8) bytes carries its
 * sequence number (0, 1, 2, ... mod 2^32) as uint32 LE in its first 4 bytes and
 * `seq ^ TAIL_XOR` in its last 4 bytes, so the reader detects lost, duplicated, reordered,
 * truncated or misframed messages. Every {@link FULL_CHECK_EVERY}-th message (seq multiple
 * of it) also has every byte between them set to {@link fillByte}(seq), and the reader checks
 * all of them; the other messages' middle bytes are whatever `Buffer.allocUnsafe` returned.
 */
export const MIN_MESSAGE_SIZE = 8;
const TAIL_XOR = 0xa5a5a5a5;
/** Every this many messages, the whole content is written and verified (a power of 2). */
export const FULL_CHECK_EVERY = 1024;

/** The fill byte of a fully checked message. */
export function fillByte(seq: number): number {
  return (seq >>> 10) & 0xff;
}

/** Write message `seq` of `size` bytes at `buf[off..off+size)` (see {@link MIN_MESSAGE_SIZE}). */
export function fillMessage(buf: Buffer, off: number, size: number, seq: number): void {
  buf.writeUInt32LE(seq, off);
  buf.writeUInt32LE((seq ^ TAIL_XOR) >>> 0, off + size - 4);
  if ((seq & (FULL_CHECK_EVERY - 1)) === 0 && size > 8) buf.fill(fillByte(seq), off + 4, off + size - 4);
}

/** A fresh message `seq` of `size` bytes (a new buffer per message: writers may keep it). */
export function makeMessage(size: number, seq: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  fillMessage(buf, 0, size, seq);
  return buf;
}

/** What a system's reader ({@link StreamSystem.read}) sees. */
export interface StreamReadContext {
  /** Size of every message, bytes (>= {@link MIN_MESSAGE_SIZE}). */
  readonly size: number;
  /** System-specific variant (e.g. the writer API to use), from the registry entry. */
  readonly variant: string;
  /** True until the measurement window closed. */
  readonly active: boolean;
  /** Resolves when the measurement window closed: the reader should then close and resolve. */
  readonly stopped: Promise<void>;
  /** A whole message arrived: verify it and count it if inside the window. */
  message(buf: Buffer): void;
  /** Same for `buf[off..off+len)`. */
  messageAt(buf: Buffer, off: number, len: number): void;
  /**
   * For readers that see a message in pieces: a message of `len` bytes begins; pass its
   * bytes in order with {@link part}, then call {@link end}.
   */
  begin(len: number): void;
  part(buf: Buffer, start: number, end: number): void;
  end(): void;
  /** The reader failed (the run fails with `err` unless the window already closed). */
  fail(err: unknown): void;
}

/**
 * One streaming system: a writer (server child) and a reader (client child), over one
 * connection and, where the system has streams, one stream.
 */
export interface StreamSystem {
  /**
   * Server child: listen on 127.0.0.1 (any free port), resolve with the port. For each
   * reader that connects and asks for messages of N bytes, write {@link makeMessage}(N, 0),
   * (N, 1), ... as fast as flow control allows, until the reader closes.
   */
  serve(): Promise<number>;
  /**
   * Client child: connect to 127.0.0.1:port, ask for messages of `ctx.size` bytes, hand every
   * received message to `ctx` (in order), and once `ctx.stopped` resolved close everything
   * and resolve.
   */
  read(port: number, ctx: StreamReadContext): Promise<void>;
}

/** An entry of the stream-system registry (`streamSystems` in bench/systems/index.ts). */
export interface StreamSystemEntry {
  /** Name shown in the report and accepted by `BENCH_ONLY`. */
  readonly name: string;
  /** Passed to the reader as `ctx.variant`. */
  readonly variant: string;
  /** What the entry measures, for the report. */
  readonly description: string;
  readonly module: () => Promise<StreamSystem>;
}

/** Parameters passed (as JSON) to a stream client child. */
export interface StreamClientParams {
  port: number;
  size: number;
  warmupMs: number;
  measureMs: number;
}

/** Sent by a stream client child when its measurement window opens or closes. */
export interface StreamPhaseMessage {
  type: "stream-phase";
  phase: "start" | "end";
}

/** Sent by a stream client child with its measurement. */
export interface StreamResultMessage {
  type: "stream-result";
  /** Messages received (and verified) inside the window. */
  messages: number;
  /** Payload bytes of those messages (framing not included). */
  bytes: number;
  /** Actual window length, ms. */
  elapsedMs: number;
  /** Messages verified over the whole run, warm-up included. */
  verified: number;
  /** Of which fully content-checked. */
  fullyChecked: number;
  /** CPU time (user + system) of the reader process inside the window, ms. */
  readerCpuMs: number;
}

/** Message a child sends when asked `{type: "cpu?"}`: its CPU time so far. */
export interface CpuMessage {
  type: "cpu";
  /** user + system, µs. */
  us: number;
}

/** How long the reader may see no message inside the run before it fails it (writer stalled). */
export const STALL_MS = 2000;

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * The {@link StreamReadContext} of a client child: verifies every message (size, sequence
 * number at both ends, full content every {@link FULL_CHECK_EVERY}-th), counts messages and
 * bytes received inside the window, and fails the run on a wrong message or a stall.
 */
export class StreamRecorder implements StreamReadContext {
  readonly size: number;
  readonly variant: string;
  active = true;
  readonly stopped: Promise<void>;
  /** Rejects on the first verification failure, reader failure or stall. */
  readonly failed: Promise<never>;
  #resolveStopped!: () => void;
  #rejectFailed!: (err: unknown) => void;
  #error: unknown;
  #measuring = false;
  #seq = 0;
  #verified = 0;
  #fullyChecked = 0;
  #messages = 0;
  #bytes = 0;
  #start = 0;
  #end = 0;
  #cpuStart = 0;
  #cpuEnd = 0;
  #lastMessageAt = performance.now();
  // Piecewise reception (begin / part / end).
  #pos = -1;
  #full = false;
  readonly #scratch = Buffer.alloc(8);

  constructor(size: number, variant: string) {
    if (!Number.isInteger(size) || size < MIN_MESSAGE_SIZE)
      throw new Error(`message size ${size}: must be an integer >= ${MIN_MESSAGE_SIZE}`);
    this.size = size;
    this.variant = variant;
    this.stopped = new Promise((resolve) => {
      this.#resolveStopped = resolve;
    });
    this.failed = new Promise((_, reject) => {
      this.#rejectFailed = reject;
    });
    this.failed.catch(() => {});
  }

  /** The first failure, if any. */
  get error(): unknown {
    return this.#error;
  }

  fail(err: unknown): void {
    // Once the window closed, the reader closing its side may surface errors: not failures.
    if (this.active) this.#setError(err ?? new Error("reader failed"));
  }

  #setError(err: unknown): void {
    if (this.#error !== undefined) return;
    this.#error = err;
    this.#rejectFailed(err);
  }

  message(buf: Buffer): void {
    this.messageAt(buf, 0, buf.length);
  }

  messageAt(buf: Buffer, off: number, len: number): void {
    const seq = this.#seq;
    if (len !== this.size) {
      this.#bad(`message ${seq}: ${len} bytes, expected ${this.size}`);
      return;
    }
    const head = buf.readUInt32LE(off);
    const tail = buf.readUInt32LE(off + len - 4);
    if (head !== seq || tail !== (seq ^ TAIL_XOR) >>> 0) {
      this.#bad(`message ${seq}: carries seq ${head} / tail ${tail.toString(16)}`);
      return;
    }
    if ((seq & (FULL_CHECK_EVERY - 1)) === 0) {
      this.#checkFill(buf, off + 4, off + len - 4, seq);
      this.#fullyChecked++;
    }
    this.#accept(len);
  }

  begin(len: number): void {
    if (len !== this.size) {
      this.#bad(`message ${this.#seq}: ${len} bytes, expected ${this.size}`);
      return;
    }
    this.#pos = 0;
    this.#full = (this.#seq & (FULL_CHECK_EVERY - 1)) === 0;
  }

  part(buf: Buffer, start: number, end: number): void {
    const p = this.#pos;
    if (p < 0) {
      this.#bad("part() outside begin()/end()");
      return;
    }
    const size = this.size;
    const q = p + (end - start);
    if (q > size) {
      this.#bad(`message ${this.#seq}: more than ${size} bytes`);
      return;
    }
    // Bytes [0, 4) and [size - 4, size) go to the scratch, in the message's order.
    for (let i = p; i < 4 && i < q; i++) this.#scratch[i] = buf[start + i - p]!;
    for (let i = Math.max(p, size - 4); i < q; i++) this.#scratch[i - size + 8] = buf[start + i - p]!;
    if (this.#full) {
      const a = Math.max(p, 4);
      const b = Math.min(q, size - 4);
      if (a < b) this.#checkFill(buf, start + a - p, start + b - p, this.#seq);
    }
    this.#pos = q;
  }

  end(): void {
    const seq = this.#seq;
    if (this.#pos !== this.size) {
      this.#bad(`message ${seq}: ended after ${this.#pos} bytes`);
      return;
    }
    this.#pos = -1;
    const head = this.#scratch.readUInt32LE(0);
    const tail = this.#scratch.readUInt32LE(4);
    if (head !== seq || tail !== (seq ^ TAIL_XOR) >>> 0) {
      this.#bad(`message ${seq}: carries seq ${head} / tail ${tail.toString(16)}`);
      return;
    }
    if (this.#full) this.#fullyChecked++;
    this.#accept(this.size);
  }

  #checkFill(buf: Buffer, a: number, b: number, seq: number): void {
    const v = fillByte(seq);
    for (let i = a; i < b; i++) {
      if (buf[i] !== v) {
        this.#bad(`message ${seq}: byte ${buf[i]} where ${v} was written`);
        return;
      }
    }
  }

  #accept(len: number): void {
    this.#seq = (this.#seq + 1) >>> 0;
    this.#verified++;
    if (this.#measuring) {
      this.#messages++;
      this.#bytes += len;
    }
  }

  /** A wrong message fails the run even after the window closed. */
  #bad(text: string): void {
    this.#setError(new Error(`wrong message received: ${text}`));
  }

  /**
   * Run the phases: `warmupMs` unrecorded, then `measureMs` recorded, then `active = false`
   * and `stopped` resolves. `onPhase` is told when the window opens and closes. Fails the
   * run if no message arrives for {@link STALL_MS} before the window closed.
   */
  async runPhases(warmupMs: number, measureMs: number, onPhase: (p: "start" | "end") => void): Promise<void> {
    let seen = -1;
    const stall = setInterval(() => {
      if (this.#verified !== seen) {
        seen = this.#verified;
        this.#lastMessageAt = performance.now();
      } else if (performance.now() - this.#lastMessageAt > STALL_MS) {
        this.fail(
          new Error(
            `no message for ${STALL_MS} ms after ${this.#verified} messages: the writer stalled` +
              " (or its process is busy and never yields to I/O)",
          ),
        );
      }
    }, 250);
    try {
      await sleep(warmupMs);
      onPhase("start");
      this.#cpuStart = cpuMs();
      this.#start = performance.now();
      this.#measuring = true;
      await sleep(measureMs);
      this.#measuring = false;
      this.#end = performance.now();
      this.#cpuEnd = cpuMs();
      onPhase("end");
      if (this.#messages === 0) {
        this.fail(
          new Error(
            `no message inside the measurement window (${this.#verified} before it): the writer stalled` +
              " or the stream never opened",
          ),
        );
      }
    } finally {
      clearInterval(stall);
    }
    this.active = false;
    this.#resolveStopped();
  }

  /** The measurement (after {@link runPhases} resolved). */
  result(): StreamResultMessage {
    return {
      type: "stream-result",
      messages: this.#messages,
      bytes: this.#bytes,
      elapsedMs: this.#end - this.#start,
      verified: this.#verified,
      fullyChecked: this.#fullyChecked,
      readerCpuMs: this.#cpuEnd - this.#cpuStart,
    };
  }
}
