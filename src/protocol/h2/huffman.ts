/**
 * The HPACK Huffman code (RFC 7541 §5.2, Appendix B).
 *
 * The code is canonical: codes of one length are consecutive in symbol order and each
 * length continues from the previous one shifted left. So the table is fully given by
 * the code length of each of the 257 symbols (256 octets + EOS), listed below; the codes
 * themselves, the encoder table and the decoder state machine are generated at load time.
 *
 * Decoding runs a state machine four bits at a time: a state is an internal node of the
 * code tree, each (state, nibble) entry gives the next state, at most one emitted symbol
 * (the shortest code has 5 bits) and whether the EOS symbol was hit.
 */
import { H2Error, H2ErrorCode } from "./frame.js";

/** Code length in bits of symbols 0..256 (256 = EOS), RFC 7541 Appendix B. */
// biome-ignore format: a table
const CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28,
  28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6,
  12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5,
  6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22,
  22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21,
  20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22,
  23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26,
  28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27,
  28, 27, 27, 27, 27, 27, 26, 30,
];

const EOS = 256;

/** Code of each symbol, right-aligned in `HUFFMAN_LENGTHS[sym]` bits. */
export const HUFFMAN_CODES = new Uint32Array(257);
/** Code length in bits of each symbol. */
export const HUFFMAN_LENGTHS = Uint8Array.from(CODE_LENGTHS);

// Canonical code assignment: by length, then by symbol.
{
  const order = Array.from({ length: 257 }, (_, i) => i).sort(
    (a, b) => HUFFMAN_LENGTHS[a]! - HUFFMAN_LENGTHS[b]! || a - b,
  );
  let code = 0;
  let prevLen = HUFFMAN_LENGTHS[order[0]!]!;
  for (const sym of order) {
    const len = HUFFMAN_LENGTHS[sym]!;
    code *= 2 ** (len - prevLen);
    prevLen = len;
    HUFFMAN_CODES[sym] = code;
    code++;
  }
}

// ---- decoder state machine ---------------------------------------------------------

// Tree: internal nodes 0..255 (0 = root); child[node*2 + bit] = internal node id, or
// -(sym + 1) for a leaf.
const child = new Int32Array(512);
const depth = new Uint8Array(256);
const allOnes = new Uint8Array(256);
{
  let nodes = 1;
  allOnes[0] = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const len = HUFFMAN_LENGTHS[sym]!;
    const code = HUFFMAN_CODES[sym]!;
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) & 1;
      const slot = node * 2 + bit;
      if (i === 0) {
        child[slot] = -(sym + 1);
      } else {
        if (child[slot] === 0) {
          const n = nodes++;
          child[slot] = n;
          depth[n] = depth[node]! + 1;
          allOnes[n] = allOnes[node]! & bit;
        }
        node = child[slot]!;
      }
    }
  }
}

const EMIT = 0x100;
const FAIL = 0x20000;
/** Is the state a valid end of string: root, or at most 7 bits of EOS prefix (all ones). */
const ACCEPT = new Uint8Array(256);
for (let s = 0; s < 256; s++) ACCEPT[s] = s === 0 || (allOnes[s] === 1 && depth[s]! <= 7) ? 1 : 0;

/** DECODE[state * 16 + nibble] = next | EMIT | sym << 9 | FAIL. */
const DECODE = new Int32Array(256 * 16);
for (let s = 0; s < 256; s++) {
  for (let nib = 0; nib < 16; nib++) {
    let node = s;
    let entry = 0;
    for (let i = 3; i >= 0; i--) {
      const next = child[node * 2 + ((nib >> i) & 1)]!;
      if (next < 0) {
        const sym = -next - 1;
        if (sym === EOS) {
          entry |= FAIL;
          node = 0;
          break;
        }
        entry |= EMIT | (sym << 9);
        node = 0;
      } else {
        node = next;
      }
    }
    DECODE[s * 16 + nib] = entry | node;
  }
}

const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (start: number, end: number) => string })
  .latin1Slice;

let scratch = Buffer.allocUnsafeSlow(256);

/**
 * Decode the Huffman string in `[start, end)` of `src` as a latin1 string (one char per
 * octet). An EOS symbol, padding longer than 7 bits or padding that is not the EOS prefix
 * is a COMPRESSION_ERROR (RFC 7541 §5.2).
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string {
  // At most 8 symbols per 5 input bits: 8/5 output bytes per input byte.
  const max = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < max) scratch = Buffer.allocUnsafeSlow(Math.max(max, scratch.length * 2));
  const out = scratch;
  let o = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const b = src[i]!;
    let e = DECODE[(state << 4) | (b >> 4)]!;
    if ((e & FAIL) !== 0) throw new H2Error(H2ErrorCode.COMPRESSION_ERROR, "Huffman EOS in a string");
    if ((e & EMIT) !== 0) out[o++] = (e >> 9) & 0xff;
    state = e & 0xff;
    e = DECODE[(state << 4) | (b & 0xf)]!;
    if ((e & FAIL) !== 0) throw new H2Error(H2ErrorCode.COMPRESSION_ERROR, "Huffman EOS in a string");
    if ((e & EMIT) !== 0) out[o++] = (e >> 9) & 0xff;
    state = e & 0xff;
  }
  if (ACCEPT[state] !== 1) throw new H2Error(H2ErrorCode.COMPRESSION_ERROR, "bad Huffman padding");
  return latin1Slice.call(out, 0, o);
}

/** Bytes of the Huffman encoding of latin1 string `s`. */
export function huffmanLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += HUFFMAN_LENGTHS[s.charCodeAt(i) & 0xff]!;
  return (bits + 7) >>> 3;
}

/**
 * Write the Huffman encoding of latin1 string `s` at `pos` of `dst` (room for
 * {@link huffmanLength} bytes is the caller's job); returns the position after it.
 */
export function huffmanEncodeInto(s: string, dst: Uint8Array, pos: number): number {
  let acc = 0; // pending bits, right-aligned
  let n = 0; // number of pending bits (< 8 between symbols)
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    let len = HUFFMAN_LENGTHS[sym]!;
    let code = HUFFMAN_CODES[sym]!;
    if (len > 24) {
      // Keep acc within 31 bits: push the high part first.
      const hi = len - 16;
      acc = (acc << hi) | (code >>> 16);
      n += hi;
      while (n >= 8) {
        n -= 8;
        dst[pos++] = (acc >>> n) & 0xff;
      }
      acc &= (1 << n) - 1;
      code &= 0xffff;
      len = 16;
    }
    acc = (acc << len) | code;
    n += len;
    while (n >= 8) {
      n -= 8;
      dst[pos++] = (acc >>> n) & 0xff;
    }
    acc &= (1 << n) - 1;
  }
  if (n > 0) dst[pos++] = ((acc << (8 - n)) | (0xff >>> n)) & 0xff;
  return pos;
}

/** The Huffman encoding of latin1 string `s` as a new Buffer. */
export function huffmanEncode(s: string): Buffer {
  const out = Buffer.allocUnsafe(huffmanLength(s));
  huffmanEncodeInto(s, out, 0);
  return out;
}
