/** baidu_std framing: "PRPC" + uint32 BE body_size + uint32 BE meta_size, then meta and payload. */

import type { Writer } from "../../io/writer.js";
import type { Connection } from "../../transport/connection.js";
import { ParseError } from "../protocol.js";

/** Bytes of the frame header. */
export const HEADER_SIZE = 12;

/** Frame length at `off` (see `Protocol.parse`). */
export function parseFrame(buf: Buffer, off: number, end: number, conn: Connection): number {
  const n = end - off;
  if (n < 4) {
    // Compare the prefix we have.
    const magic = [0x50, 0x52, 0x50, 0x43];
    for (let i = 0; i < n; i++) if (buf[off + i] !== magic[i]) return ParseError.TRY_OTHERS;
    return ParseError.NOT_ENOUGH_DATA;
  }
  if (buf[off] !== 0x50 || buf[off + 1] !== 0x52 || buf[off + 2] !== 0x50 || buf[off + 3] !== 0x43) {
    return ParseError.TRY_OTHERS;
  }
  if (n < HEADER_SIZE) return ParseError.NOT_ENOUGH_DATA;
  const bodySize = buf.readUInt32BE(off + 4);
  if (bodySize > conn.options.maxBodySize) return ParseError.TOO_BIG;
  const metaSize = buf.readUInt32BE(off + 8);
  // brpc drops such a frame and then finds no protocol for what follows: the connection closes.
  if (metaSize > bodySize) return ParseError.ABSOLUTELY_WRONG;
  return HEADER_SIZE + bodySize;
}

/** Reserve a frame header at the writer's position; returns its mark for {@link finishHeader}. */
export function beginFrame(w: Writer): number {
  w.ensure(HEADER_SIZE);
  const mark = w.mark();
  w.pos += HEADER_SIZE;
  return mark;
}

/**
 * Fill the header reserved at `mark`: magic, body size (everything written since the
 * header plus `extra` bytes still to come), meta size.
 */
export function finishHeader(w: Writer, mark: number, metaSize: number, extra: number): void {
  const b = w.buf;
  const at = w.start + mark;
  b[at] = 0x50;
  b[at + 1] = 0x52;
  b[at + 2] = 0x50;
  b[at + 3] = 0x43;
  w.u32beAt(mark + 4, w.pos - at - HEADER_SIZE + extra);
  w.u32beAt(mark + 8, metaSize);
}
