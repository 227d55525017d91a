/**
 * Runtime helpers for the generated encoders. They append to a {@link Writer} through
 * its public `buf`/`pos` after `ensure()`, and convert or reject values the way
 * @bufbuild's `BinaryWriter` does (numbers given as strings, 64-bit integers given as
 * numbers or strings, byte arrays given as `number[]`).
 */
import type { Writer } from "../io/writer.js";

const TWO32 = 4294967296;

import { varintSize } from "../io/writer.js";

export { varintSize };

/** Unsigned 32-bit varint (also tags). */
export function u32(w: Writer, v: number): void {
  w.ensure(5);
  const b = w.buf;
  let p = w.pos;
  while (v > 0x7f) {
    b[p++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  b[p++] = v;
  w.pos = p;
}

// The "raw" writers below store at `b[p]` (capacity already ensured) and return the next position.

/** Negative int32 as a sign-extended 10-byte varint. */
export function neg32(b: Buffer, p: number, v: number): number {
  for (let i = 0; i < 9; i++) {
    b[p++] = (v & 0x7f) | 0x80;
    v >>= 7;
  }
  b[p++] = 1;
  return p;
}

const scratch = new DataView(new ArrayBuffer(8));

/** Little-endian float32. */
export function f32(b: Buffer, p: number, v: number): number {
  scratch.setFloat32(0, v, true);
  return fixed32(b, p, scratch.getUint32(0, true));
}

/** Little-endian float64. */
export function f64(b: Buffer, p: number, v: number): number {
  scratch.setFloat64(0, v, true);
  return fixed32(b, fixed32(b, p, scratch.getUint32(0, true)), scratch.getUint32(4, true));
}

function fixed32(b: Buffer, p: number, v: number): number {
  b[p] = v;
  b[p + 1] = v >>> 8;
  b[p + 2] = v >>> 16;
  b[p + 3] = v >>> 24;
  return p + 4;
}

/** 64-bit varint from unsigned 32-bit halves. */
function varint64(b: Buffer, p: number, lo: number, hi: number): number {
  while (hi !== 0) {
    b[p++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  while (lo > 0x7f) {
    b[p++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  b[p++] = lo;
  return p;
}

// Halves produced by split64().
let LO = 0;
let HI = 0;

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const U64_MAX = 2n ** 64n - 1n;

/**
 * Split a 64-bit integer given as bigint, number or decimal string (as @bufbuild's
 * `protoInt64.enc`/`uEnc` accept) into two's-complement halves in LO/HI.
 */
function split64(v: unknown, unsigned: boolean, field: string): void {
  let n: number;
  if (typeof v === "bigint") {
    n = Number(v);
    if (!Number.isSafeInteger(n)) {
      split64Big(v, unsigned, field);
      return;
    }
  } else if (typeof v === "number" && Number.isSafeInteger(v)) {
    n = v;
  } else {
    let big: bigint;
    try {
      big = BigInt(v as string);
    } catch (e) {
      throw new Error(`cannot encode ${field} to binary: ${(e as Error).message}`);
    }
    split64Big(big, unsigned, field);
    return;
  }
  if (unsigned && n < 0) throw new Error(`cannot encode ${field} to binary: invalid uint64: ${v}`);
  LO = n >>> 0;
  HI = Math.floor(n / TWO32) >>> 0;
}

function split64Big(v: bigint, unsigned: boolean, field: string): void {
  if (unsigned ? v < 0n || v > U64_MAX : v < I64_MIN || v > I64_MAX) {
    throw new Error(`cannot encode ${field} to binary: invalid ${unsigned ? "uint64" : "int64"}: ${v}`);
  }
  const u = BigInt.asUintN(64, v);
  LO = Number(u & 0xffffffffn);
  HI = Number(u >> 32n);
}

/** int64 / uint64 varint. */
export function i64(b: Buffer, p: number, v: unknown, unsigned: boolean, field: string): number {
  // Fast path: bigint (or number) within ±2^53.
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n === "number" && Number.isSafeInteger(n) && (n >= 0 || !unsigned)) {
    if (n >= 0 && n <= 0xffffffff) return varint64(b, p, n, 0);
    return varint64(b, p, n >>> 0, Math.floor(n / TWO32) >>> 0);
  }
  split64(v, unsigned, field);
  return varint64(b, p, LO, HI);
}

/** sint64: zigzag varint. */
export function s64(b: Buffer, p: number, v: unknown, field: string): number {
  split64(v, false, field);
  const s = HI >> 31;
  return varint64(b, p, ((LO << 1) ^ s) >>> 0, (((HI << 1) | (LO >>> 31)) ^ s) >>> 0);
}

/** fixed64 / sfixed64: little-endian 64 bits. */
export function x64(b: Buffer, p: number, v: unknown, unsigned: boolean, field: string): number {
  split64(v, unsigned, field);
  return fixed32(b, fixed32(b, p, LO), HI);
}

/** Length-delimited UTF-8 (lone surrogates become U+FFFD, as with `TextEncoder`). */
export function string(w: Writer, v: unknown): void {
  w.string(typeof v === "string" ? v : String(v));
}

/** Length-delimited bytes (`number[]` accepted, as `create()` converts it). */
export function bytes(w: Writer, v: unknown, field: string): void {
  const a = v instanceof Uint8Array ? v : Array.isArray(v) ? new Uint8Array(v) : undefined;
  if (a === undefined) throw new Error(`cannot encode ${field} to binary: invalid bytes: ${typeof v}`);
  u32(w, a.length);
  w.raw(a);
}

/**
 * Finish a length-delimited value whose one-byte length placeholder is at `w.start + handle`
 * (relative to `start` because ensure() may move pending bytes), widening the prefix if needed.
 */
export function join(w: Writer, handle: number): void {
  let at = w.start + handle;
  const len = w.pos - at - 1;
  if (len < 0x80) {
    w.buf[at] = len;
    return;
  }
  const extra = varintSize(len) - 1;
  w.ensure(extra);
  at = w.start + handle;
  const b = w.buf;
  b.copyWithin(at + 1 + extra, at + 1, w.pos);
  let p = at;
  let v = len;
  while (v > 0x7f) {
    b[p++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  b[p] = v;
  w.pos += extra;
}

/** Unknown fields as @bufbuild keeps them in `$unknown`. */
export function unknown(
  w: Writer,
  list: readonly { no: number; wireType: number; data: Uint8Array }[],
): void {
  for (let i = 0; i < list.length; i++) {
    const u = list[i]!;
    u32(w, ((u.no << 3) | u.wireType) >>> 0);
    w.raw(u.data);
  }
}

/** int32-typed value (int32, sint32, sfixed32, enum): @bufbuild's `assertInt32` plus string coercion. */
export function toInt32(v: unknown, field: string): number {
  const n = typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n > 0x7fffffff || n < -0x80000000) {
    throw new Error(`cannot encode ${field} to binary: invalid int32: ${v}`);
  }
  return n;
}

/** uint32-typed value (uint32, fixed32). */
export function toUint32(v: unknown, field: string): number {
  const n = typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n > 0xffffffff || n < 0) {
    throw new Error(`cannot encode ${field} to binary: invalid uint32: ${v}`);
  }
  return n;
}

/** float value: @bufbuild's `assertFloat32` (too large for float32 is an error; NaN, ±Infinity are fine). */
export function toFloat32(v: unknown, field: string): number {
  let n = v;
  if (typeof v === "string") {
    n = Number(v);
    if (Number.isNaN(n) && v !== "NaN")
      throw new Error(`cannot encode ${field} to binary: invalid float32: ${v}`);
  }
  if (typeof n !== "number" || (!Number.isFinite(Math.fround(n)) && Number.isFinite(n))) {
    throw new Error(`cannot encode ${field} to binary: invalid float32: ${v}`);
  }
  return n;
}

/** Error for a proto2 `required` field that is not set, worded as `toBinary`'s. */
export function requiredError(field: string): Error {
  return new Error(`cannot encode ${field} to binary: required field not set`);
}

/** Error for a message of another type. */
export function foreignError(field: string, typeName: unknown): Error {
  return new Error(`cannot use ${field} with message ${String(typeName)}`);
}
