import { utf8Slice } from "./utf8.js";

/**
 * A bounds-checked protobuf wire reader over `buf[pos, end)`. Every method throws a
 * {@link DecodeError} instead of reading past `end`, so malformed input from a peer
 * can never read out of bounds or loop forever.
 */
export class Reader {
  buf: Uint8Array;
  pos: number;
  end: number;

  constructor(buf: Uint8Array, pos = 0, end = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  /** Reset to a new range (lets hot paths reuse one reader). */
  reset(buf: Uint8Array, pos: number, end: number): this {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    return this;
  }

  /** A varint as an unsigned 32-bit number (higher bits dropped, like protobuf's uint32). */
  uint32(): number {
    const b = this.buf;
    let p = this.pos;
    const end = this.end;
    let result = 0;
    let shift = 0;
    for (;;) {
      if (p >= end) throw new DecodeError("truncated varint");
      const byte = b[p++] as number;
      if (shift < 32) result |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
      shift += 7;
      if (shift >= 70) throw new DecodeError("varint too long");
    }
    this.pos = p;
    return result >>> 0;
  }

  /** A varint as a signed int32 (negative numbers are 10-byte varints). */
  int32(): number {
    return this.uint32() | 0;
  }

  /**
   * A varint as a non-negative number when it is below 2^53, else as a bigint.
   * Used for int64 fields that are normally small (log ids, correlation ids).
   */
  uint64(): number | bigint {
    const b = this.buf;
    const start = this.pos;
    const end = this.end;
    let p = start;
    let result = 0;
    let mul = 1;
    for (;;) {
      if (p >= end) throw new DecodeError("truncated varint");
      const byte = b[p++] as number;
      result += (byte & 0x7f) * mul;
      if (byte < 0x80) break;
      mul *= 128;
      if (p - start >= 10) throw new DecodeError("varint too long");
    }
    this.pos = p;
    if (result <= Number.MAX_SAFE_INTEGER) return result;
    // Exact path for big values.
    let big = 0n;
    for (let i = p - 1; i >= start; i--) big = (big << 7n) | BigInt((b[i] as number) & 0x7f);
    return BigInt.asUintN(64, big);
  }

  /** A varint as a signed 64-bit bigint (two's complement). */
  int64(): bigint {
    const v = this.uint64();
    return BigInt.asIntN(64, BigInt(v));
  }

  bool(): boolean {
    return this.uint32() !== 0;
  }

  /** Length-delimited bytes as a view into the source (no copy). */
  bytes(): Uint8Array {
    const len = this.uint32();
    if (len === 0) return NO_BYTES;
    const p = this.pos;
    if (len > this.end - p) throw new DecodeError("length-delimited field past end of data");
    this.pos = p + len;
    return this.buf.subarray(p, p + len);
  }

  /**
   * Enter a length-delimited field: returns the current `end`, and narrows `end` to the
   * field's end so nested decoding cannot run past it. Call {@link leave} afterwards.
   */
  enter(): number {
    const len = this.uint32();
    const outer = this.end;
    if (len > outer - this.pos) throw new DecodeError("length-delimited field past end of data");
    this.end = this.pos + len;
    return outer;
  }

  /** Leave a field entered with {@link enter}: skip what was not read, restore `end`. */
  leave(outer: number): void {
    this.pos = this.end;
    this.end = outer;
  }

  /** Length-delimited UTF-8 string. */
  string(): string {
    const len = this.uint32();
    const p = this.pos;
    if (len > this.end - p) throw new DecodeError("string past end of data");
    this.pos = p + len;
    return utf8Slice(this.buf, p, p + len);
  }

  /** Skip a field of the given wire type. */
  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.uint64();
        return;
      case 1:
        this.#advance(8);
        return;
      case 2:
        this.#advance(this.uint32());
        return;
      case 5:
        this.#advance(4);
        return;
      case 3: {
        // Group: skip until the matching end-group tag.
        for (;;) {
          const tag = this.uint32();
          const wt = tag & 7;
          if (wt === 4) return;
          this.skip(wt);
        }
      }
      default:
        throw new DecodeError(`invalid wire type ${wireType}`);
    }
  }

  #advance(n: number): void {
    if (n > this.end - this.pos) throw new DecodeError("field past end of data");
    this.pos += n;
  }
}

const NO_BYTES = new Uint8Array(0);

/** Malformed protobuf input. */
export class DecodeError extends Error {
  override get name(): string {
    return "DecodeError";
  }
}
