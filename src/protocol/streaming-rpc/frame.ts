/** STRM framing: "STRM" + uint32 BE body_size + uint32 BE meta_size, then StreamFrameMeta and data. */
import type { Writer } from "../../io/writer.js";
import type { Connection } from "../../transport/connection.js";
import { parseSizedFrame, SIZED_HEADER_SIZE } from "../sized-frame.js";
import { encodeStreamFrameMeta, FrameType, type WireStreamId } from "./meta.js";

/** Bytes of the frame header. */
export const HEADER_SIZE = SIZED_HEADER_SIZE;

const MAGIC = Buffer.from("STRM", "latin1");

/** Frame length at `off` (see `Protocol.parse`); same rules as baidu_std. */
export function parseStreamFrame(buf: Buffer, off: number, end: number, conn: Connection): number {
  return parseSizedFrame(MAGIC, buf, off, end, conn);
}

/**
 * Begin a STRM frame in `w`: header placeholder and meta. Returns the mark of the header;
 * append the data, then call {@link finishStreamFrame}.
 */
export function beginStreamFrame(
  w: Writer,
  streamId: WireStreamId,
  sourceStreamId: WireStreamId | undefined,
  frameType: number,
  hasContinuation = false,
  consumedSize = 0,
): number {
  w.ensure(HEADER_SIZE);
  const at = w.mark();
  w.pos += HEADER_SIZE;
  encodeStreamFrameMeta(w, streamId, sourceStreamId, frameType, hasContinuation, consumedSize);
  w.u32beAt(at + 8, w.mark() - at - HEADER_SIZE);
  return at;
}

/** Fill the header begun at `at`: body size = meta + what was written since + `extra` bytes still to come. */
export function finishStreamFrame(w: Writer, at: number, extra = 0): void {
  const b = w.buf;
  const p = w.start + at;
  b[p] = 0x53;
  b[p + 1] = 0x54;
  b[p + 2] = 0x52;
  b[p + 3] = 0x4d;
  w.u32beAt(at + 4, w.mark() - at - HEADER_SIZE + extra);
}

/** Append a control frame (RST, CLOSE, FEEDBACK) to `conn` and schedule a flush. */
export function sendControlFrame(
  conn: Connection,
  streamId: WireStreamId,
  sourceStreamId: WireStreamId | undefined,
  frameType: number,
  consumedSize = 0,
): void {
  if (conn.failed) return;
  const w = conn.writer;
  const at = beginStreamFrame(w, streamId, sourceStreamId, frameType, false, consumedSize);
  finishStreamFrame(w, at);
  conn.messagesOut++;
  conn.scheduleFlush();
}

/** RST to `streamId` (no source id, so no reply can come back). */
export function sendRst(conn: Connection, streamId: WireStreamId): void {
  sendControlFrame(conn, streamId, undefined, FrameType.RST);
}
