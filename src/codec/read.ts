/**
 * Runtime helpers for the generated decoders. Helpers that consume a variable number of
 * bytes return their value and leave the next position in {@link S}`.p`.
 *
 * Every helper checks against `end` and throws {@link BAIL} on anything it does not
 * handle exactly like @bufbuild: the top-level decode then retries with `fromBinary`,
 * which either throws its own error or returns its own interpretation.
 */

import { isUtf8 } from "node:buffer";
import { utf8Slice } from "../io/utf8.js";
import { WT_EGROUP, WT_I32, WT_I64, WT_LEN, WT_SGROUP, WT_VARINT } from "./desc-info.js";

/** Thrown by generated decoders to hand the whole input to `fromBinary`. Preallocated: cheap to throw. */
export const BAIL: Error = new Error("codec: input needs @bufbuild/protobuf's decoder");

/** Out-parameters of the helpers: next position, and the two 32-bit halves of a 64-bit value. */
export const S = { p: 0, lo: 0, hi: 0 };

/** Varint as its low 32 bits (unsigned), like @bufbuild's `varint32read`: up to 10 bytes. */
export function varint32(buf: Uint8Array, pos: number, end: number): number {
  let b = buf[pos++]!;
  let r = b & 0x7f;
  if (b & 0x80) {
    b = buf[pos++]!;
    r |= (b & 0x7f) << 7;
    if (b & 0x80) {
      b = buf[pos++]!;
      r |= (b & 0x7f) << 14;
      if (b & 0x80) {
        b = buf[pos++]!;
        r |= (b & 0x7f) << 21;
        if (b & 0x80) {
          b = buf[pos++]!;
          r |= b << 28;
          // Bytes 6..10 only extend a 64-bit value.
          for (let i = 5; b & 0x80; i++) {
            if (i === 10) throw BAIL;
            b = buf[pos++]!;
          }
        }
      }
    }
  }
  if (pos > end) throw BAIL;
  S.p = pos;
  return r >>> 0;
}

/** Varint into `S.lo`/`S.hi` (unsigned 32-bit halves); returns the next position. */
export function varint64(buf: Uint8Array, pos: number, end: number): number {
  let lo = 0;
  let hi = 0;
  let b = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    b = buf[pos++]!;
    lo |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return done64(pos, end, lo, 0);
  }
  b = buf[pos++]!;
  lo |= (b & 0x0f) << 28;
  hi = (b & 0x70) >> 4;
  if ((b & 0x80) === 0) return done64(pos, end, lo, hi);
  for (let shift = 3; shift <= 31; shift += 7) {
    b = buf[pos++]!;
    hi |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return done64(pos, end, lo, hi);
  }
  throw BAIL;
}

function done64(pos: number, end: number, lo: number, hi: number): number {
  if (pos > end) throw BAIL;
  S.lo = lo >>> 0;
  S.hi = hi >>> 0;
  return pos;
}

/** A multi-byte tag starting at `pos`, validated as @bufbuild's `BinaryReader.tag()` does. */
export function tag(buf: Uint8Array, pos: number, end: number): number {
  const t = varint32(buf, pos, end);
  const n = S.p - pos;
  if (n > 5 || (n === 5 && buf[pos + 4]! > 0x0f) || t >>> 3 === 0 || (t & 7) > 5) throw BAIL;
  return t;
}

const TWO32 = 4294967296;

/** Signed 64-bit bigint from unsigned halves. */
export function int64(lo: number, hi: number): bigint {
  if (hi < 0x200000) return BigInt(hi * TWO32 + lo);
  if (hi >= 0xffe00000) return BigInt((hi | 0) * TWO32 + lo);
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
}

/** Unsigned 64-bit bigint from unsigned halves. */
export function uint64(lo: number, hi: number): bigint {
  if (hi < 0x200000) return BigInt(hi * TWO32 + lo);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Signed 64-bit decimal string (`jstype = JS_STRING`). */
export function int64s(lo: number, hi: number): string {
  if (hi < 0x200000) return String(hi * TWO32 + lo);
  if (hi >= 0xffe00000) return String((hi | 0) * TWO32 + lo);
  return String(int64(lo, hi));
}

/** Unsigned 64-bit decimal string (`jstype = JS_STRING`). */
export function uint64s(lo: number, hi: number): string {
  if (hi < 0x200000) return String(hi * TWO32 + lo);
  return String(uint64(lo, hi));
}

/** Zigzag-decode the halves in `S` in place (sint64). */
export function unzigzag64(): void {
  const lo = S.lo;
  const hi = S.hi;
  const s = -(lo & 1);
  S.lo = (((lo >>> 1) | (hi << 31)) ^ s) >>> 0;
  S.hi = ((hi >>> 1) ^ s) >>> 0;
}

/** Little-endian uint32 at `pos` (caller checked bounds). */
export function fixed32(buf: Uint8Array, pos: number): number {
  return (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
}

const scratch = new DataView(new ArrayBuffer(8));

/** Little-endian float32 at `pos` (caller checked bounds). */
export function float32(buf: Uint8Array, pos: number): number {
  scratch.setUint32(0, fixed32(buf, pos), true);
  return scratch.getFloat32(0, true);
}

/** Little-endian float64 at `pos` (caller checked bounds). */
export function float64(buf: Uint8Array, pos: number): number {
  scratch.setUint32(0, fixed32(buf, pos), true);
  scratch.setUint32(4, fixed32(buf, pos + 4), true);
  return scratch.getFloat64(0, true);
}

/**
 * UTF-8 text of `buf[s, e)`. Invalid sequences become U+FFFD exactly as in @bufbuild's
 * (WHATWG) decoder, or throw if `strict` (the field's `utf8_validation` is VERIFY).
 */
export function utf8(buf: Uint8Array, s: number, e: number, strict: boolean): string {
  const r = utf8Slice(buf, s, e);
  if (strict && r.includes("\uFFFD") && !isUtf8(buf.subarray(s, e))) throw BAIL;
  return r;
}

/**
 * Skip one field value of wire type `wt` starting at `pos`, like @bufbuild's
 * `BinaryReader.skip()`; returns the next position. Groups must end with `fieldNo`.
 */
export function skip(
  buf: Uint8Array,
  pos: number,
  end: number,
  wt: number,
  fieldNo: number,
  budget: number,
): number {
  switch (wt) {
    case WT_VARINT:
      while (buf[pos++]! & 0x80) {
        if (pos >= end) throw BAIL;
      }
      break;
    case WT_I64:
      pos += 8;
      break;
    case WT_I32:
      pos += 4;
      break;
    case WT_LEN: {
      const n = varint32(buf, pos, end);
      pos = S.p + n;
      break;
    }
    case WT_SGROUP:
      return groupEnd(buf, pos, end, fieldNo, budget);
    default:
      throw BAIL;
  }
  if (pos > end) throw BAIL;
  return pos;
}

/**
 * Position just after the end-group tag of group `fieldNo` whose body starts at `pos`.
 * The body ends where that tag starts: `S.p` on return.
 */
export function groupEnd(buf: Uint8Array, pos: number, end: number, fieldNo: number, budget: number): number {
  if (budget <= 0) throw BAIL;
  for (;;) {
    if (pos >= end) throw BAIL;
    const start = pos;
    let t = buf[pos]!;
    if (t < 0x80) {
      pos++;
      if (t >>> 3 === 0 || (t & 7) > 5) throw BAIL;
    } else {
      t = tag(buf, pos, end);
      pos = S.p;
    }
    if ((t & 7) === WT_EGROUP) {
      if (t >>> 3 !== fieldNo) throw BAIL;
      S.p = start;
      return pos;
    }
    pos = skip(buf, pos, end, t & 7, t >>> 3, budget - 1);
  }
}

/** Varint encoding of an int32 (sign-extended to 10 bytes), for closed-enum unknown fields. */
export function int32Bytes(v: number): Uint8Array {
  const out: number[] = [];
  let lo = v >>> 0;
  let hi = v < 0 ? 0xffffffff : 0;
  while (hi !== 0 || lo > 0x7f) {
    out.push((lo & 0x7f) | 0x80);
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  out.push(lo);
  return new Uint8Array(out);
}

/** Own-property set that treats "__proto__" as a plain key (map entries). */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}
