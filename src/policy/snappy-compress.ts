import { compressSync, uncompressSync } from "snappy";
import type { Compressor } from "../protocol/compress.js";

/** Uncompressed length from a raw snappy block's varint preamble. */
function snappyLength(data: Uint8Array): number {
  let result = 0;
  let shift = 0;
  for (let i = 0; i < 5 && i < data.length; i++) {
    const b = data[i] as number;
    result += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return result;
    shift += 7;
  }
  throw new Error("corrupt snappy data: bad length preamble");
}

/** Snappy, raw block format (not framed), as brpc's `policy/snappy_compress.cpp`. */
export const snappyCompressor: Compressor = {
  type: 1,
  name: "snappy",
  compress(data) {
    return compressSync(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  },
  decompress(data, maxSize) {
    const n = snappyLength(data);
    if (n > maxSize) throw new Error(`snappy data would decompress to ${n} bytes, over the limit ${maxSize}`);
    return uncompressSync(Buffer.from(data.buffer, data.byteOffset, data.byteLength)) as Buffer;
  },
};
