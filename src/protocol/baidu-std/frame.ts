/** baidu_std framing: "PRPC" + uint32 BE body_size + uint32 BE meta_size, then meta and payload. */

import type { Writer } from "../../io/writer.js";
import type { Connection } from "../../transport/connection.js";
import { parseSizedFrame, SIZED_HEADER_SIZE } from "../sized-frame.js";

/** Bytes of the frame header. */
export const HEADER_SIZE = SIZED_HEADER_SIZE;

const MAGIC = Buffer.from("PRPC", "latin1");

/** Frame length at `off` (see `Protocol.parse`). */
export function parseFrame(buf: Buffer, off: number, end: number, conn: Connection): number {
  return parseSizedFrame(MAGIC, buf, off, end, conn);
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
