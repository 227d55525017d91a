/**
 * The 12-byte frame header baidu_std ("PRPC") and streaming RPC ("STRM") share:
 * 4 magic bytes, uint32 BE body_size (meta + payload), uint32 BE meta_size.
 */
import type { Connection } from "../transport/connection.js";
import { ParseError } from "./protocol.js";

/** Bytes of the header. */
export const SIZED_HEADER_SIZE = 12;

/**
 * Frame length at `off` for the 4-byte `magic` (see `Protocol.parse`), with brpc's rules:
 * a prefix of the magic needs more data, another magic is someone else's, a body over
 * max_body_size is TOO_BIG, and meta_size > body_size is malformed (brpc drops the frame
 * and finds no protocol for what follows, so the connection closes).
 */
export function parseSizedFrame(
  magic: Uint8Array,
  buf: Buffer,
  off: number,
  end: number,
  conn: Connection,
): number {
  const n = end - off;
  const m = n < 4 ? n : 4;
  for (let i = 0; i < m; i++) if (buf[off + i] !== magic[i]) return ParseError.TRY_OTHERS;
  if (n < SIZED_HEADER_SIZE) return ParseError.NOT_ENOUGH_DATA;
  const bodySize = buf.readUInt32BE(off + 4);
  if (bodySize > conn.options.maxBodySize) return ParseError.TOO_BIG;
  if (buf.readUInt32BE(off + 8) > bodySize) return ParseError.ABSOLUTELY_WRONG;
  return SIZED_HEADER_SIZE + bodySize;
}
