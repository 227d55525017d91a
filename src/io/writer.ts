import { SHORT_STRING } from "./utf8.js";

const NO_BYTES = Buffer.alloc(0);

const utf8Write = (Buffer.prototype as unknown as { utf8Write: (s: string, offset: number) => number })
  .utf8Write;

/** Size of `v` as a varint (0 <= v < 2^53). */
export function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  let n = 5;
  v = Math.floor(v / 0x800000000);
  while (v > 0) {
    n++;
    v = Math.floor(v / 128);
  }
  return n;
}

/**
 * An append-only byte writer used for protobuf encoding and for framing.
 *
 * Bytes in `[start, pos)` are "pending": not yet handed out by {@link Writer.take}.
 * Bytes before `start` have been handed out (e.g. to `socket.write`) and are never
 * touched again: when the buffer runs out of room a new one is allocated and only
 * the pending bytes are copied over. This lets one connection encode many frames
 * straight into one buffer and write them with a single syscall.
 */
export class Writer {
  /** Current backing buffer. */
  buf: Buffer;
  /** Next write position. */
  pos = 0;
  /** First pending byte. */
  start = 0;
  readonly #minChunk: number;

  /** `minChunk`: size of each new backing buffer, allocated on first use (idle connections hold none). */
  constructor(minChunk = 64 * 1024) {
    this.#minChunk = minChunk;
    this.buf = NO_BYTES;
  }

  /** Number of pending bytes. */
  get length(): number {
    return this.pos - this.start;
  }

  /** Make room for `n` more bytes at `pos`. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const pending = this.pos - this.start;
    const size = Math.max(this.#minChunk, (pending + n) * 2);
    const next = Buffer.allocUnsafeSlow(size);
    if (pending > 0) this.buf.copy(next, 0, this.start, this.pos);
    this.buf = next;
    this.start = 0;
    this.pos = pending;
  }

  /** Hand out the pending bytes; the writer will never modify them again. */
  take(): Buffer {
    const out = this.buf.subarray(this.start, this.pos);
    this.start = this.pos;
    // Handed-out bytes may still be queued in the socket, so we only ever move forward.
    return out;
  }

  /** Copy of the pending bytes, leaving them pending. */
  peek(): Buffer {
    return this.buf.subarray(this.start, this.pos);
  }

  /** The current position as a mark that survives buffer growth. */
  mark(): number {
    return this.pos - this.start;
  }

  /** Drop pending bytes after `mark` (used to undo a partially written frame). */
  rewind(mark: number): void {
    this.pos = this.start + mark;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u32be(v: number): void {
    this.ensure(4);
    const b = this.buf;
    let p = this.pos;
    b[p++] = v >>> 24;
    b[p++] = (v >>> 16) & 0xff;
    b[p++] = (v >>> 8) & 0xff;
    b[p++] = v & 0xff;
    this.pos = p;
  }

  /** Write `v` as big-endian uint32 at `mark` (see {@link Writer.mark}), for backpatching. */
  u32beAt(mark: number, v: number): void {
    const b = this.buf;
    const at = this.start + mark;
    b[at] = v >>> 24;
    b[at + 1] = (v >>> 16) & 0xff;
    b[at + 2] = (v >>> 8) & 0xff;
    b[at + 3] = v & 0xff;
  }

  /** Unsigned varint of a non-negative integer up to 2^53. */
  uvarint(v: number): void {
    this.ensure(10);
    const b = this.buf;
    let p = this.pos;
    if (v < 0x80) {
      b[p++] = v;
    } else if (v <= 0xffffffff) {
      while (v > 0x7f) {
        b[p++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      b[p++] = v;
    } else {
      let lo = v >>> 0;
      let hi = Math.floor(v / 4294967296);
      while (hi > 0 || lo > 0x7f) {
        b[p++] = (lo & 0x7f) | 0x80;
        lo = ((lo >>> 7) | (hi << 25)) >>> 0;
        hi >>>= 7;
      }
      b[p++] = lo;
    }
    this.pos = p;
  }

  /** Varint of a signed int32 (negative values take 10 bytes, as protobuf does). */
  int32(v: number): void {
    if (v >= 0) {
      this.uvarint(v);
      return;
    }
    this.ensure(10);
    const b = this.buf;
    let p = this.pos;
    let lo = v >>> 0;
    for (let i = 0; i < 4; i++) {
      b[p++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    // 5th byte carries 4 bits of lo and sign-extension bits.
    b[p++] = (lo & 0x0f) | 0x70 | 0x80;
    b[p++] = 0xff;
    b[p++] = 0xff;
    b[p++] = 0xff;
    b[p++] = 0xff;
    b[p++] = 0x01;
    this.pos = p;
  }

  /** Varint of a 64-bit integer given as a bigint (two's complement for negatives). */
  varint64(v: bigint): void {
    let u = BigInt.asUintN(64, v);
    this.ensure(10);
    const b = this.buf;
    let p = this.pos;
    while (u > 0x7fn) {
      b[p++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    b[p++] = Number(u);
    this.pos = p;
  }

  /** Raw bytes. */
  raw(src: Uint8Array): void {
    const n = src.length;
    this.ensure(n);
    if (n < 32) {
      const b = this.buf;
      let p = this.pos;
      for (let i = 0; i < n; i++) b[p++] = src[i] as number;
      this.pos = p;
    } else {
      this.buf.set(src, this.pos);
      this.pos += n;
    }
  }

  /** Length-delimited bytes. */
  bytes(src: Uint8Array): void {
    this.uvarint(src.length);
    this.raw(src);
  }

  /** Length-delimited UTF-8 string (lone surrogates become U+FFFD, as with `TextEncoder`). */
  string(s: string): void {
    const n = s.length;
    // Fast path: short pure-ASCII strings, one byte per unit.
    if (n <= SHORT_STRING) {
      this.ensure(n + 1);
      const b = this.buf;
      let p = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p++] = c;
      }
      if (i === n) {
        b[p - n - 1] = n;
        this.pos = p;
        return;
      }
    }
    // UTF-8 takes one to three bytes per UTF-16 unit: guess the length prefix from the
    // unit count, shift the text when the byte count needs a longer one.
    // Room for the text and the longest length prefix: uvarint() must not move the buffer.
    this.ensure(n * 3 + 10);
    const guess = varintSize(n);
    const start = this.pos;
    const len = utf8Write.call(this.buf, s, start + guess);
    const size = varintSize(len);
    if (size !== guess) this.buf.copyWithin(start + size, start + guess, start + guess + len);
    this.uvarint(len);
    this.pos += len;
  }
}
