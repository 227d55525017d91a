/**
 * The one place built-in plug-ins are registered (brpc's global.cpp). Idempotent;
 * Server and Channel constructors call it, so users never have to.
 */

import { gzipCompressor, zlibCompressor } from "./policy/gzip-compress.js";
import { snappyCompressor } from "./policy/snappy-compress.js";
import { baiduStdProtocol } from "./protocol/baidu-std/index.js";
import { compressorOf, compressors, registerCompressor } from "./protocol/compress.js";
import { h2Protocol, httpProtocol } from "./protocol/http/detect.js";
import { protocols, registerProtocol } from "./protocol/protocol.js";
import { streamingRpcProtocol } from "./protocol/streaming-rpc/index.js";
import { tlsProtocol } from "./protocol/tls/index.js";

let done = false;

/**
 * Register built-in protocols and compressors (safe to call many times). A plug-in the
 * user registered earlier under the same name or wire number wins over the built-in.
 */
export function registerBuiltins(): void {
  if (done) return;
  for (const c of [snappyCompressor, gzipCompressor, zlibCompressor]) {
    if (compressors.find(c.name) === undefined && compressorOf(c.type) === undefined) registerCompressor(c);
  }
  // Server ports try them in this order (brpc's: baidu_std 2, streaming_rpc 3, http 8, h2 27);
  // TLS last (brpc checks it before parsing; no plain protocol starts with 0x16).
  for (const p of [baiduStdProtocol, streamingRpcProtocol, httpProtocol, h2Protocol, tlsProtocol]) {
    if (protocols.find(p.name) === undefined) registerProtocol(p);
  }
  done = true;
}
