import { deflateSync, gunzipSync, gzipSync, inflateSync } from "node:zlib";
import type { Compressor } from "../protocol/compress.js";

/** gzip wrapper (brpc's GZIP = 2). */
export const gzipCompressor: Compressor = {
  type: 2,
  name: "gzip",
  compress: (data) => gzipSync(data),
  decompress: (data, maxSize) => gunzipSync(data, { maxOutputLength: Math.max(1, maxSize) }),
};

/** zlib wrapper (brpc's ZLIB = 3). */
export const zlibCompressor: Compressor = {
  type: 3,
  name: "zlib",
  compress: (data) => deflateSync(data),
  decompress: (data, maxSize) => inflateSync(data, { maxOutputLength: Math.max(1, maxSize) }),
};
