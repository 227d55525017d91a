/**
 * brpc's streaming RPC frames ("STRM") on baidu_std connections: DATA, FEEDBACK, CLOSE
 * and RST routed to the streams bound to the connection they arrive on. Frames for
 * streams that do not exist here are answered with RST (never for FEEDBACK or RST).
 */
import { log } from "../../log.js";
import type { Stream } from "../../stream/stream.js";
import type { Connection } from "../../transport/connection.js";
import type { Protocol } from "../protocol.js";
import { HEADER_SIZE, parseStreamFrame, sendRst } from "./frame.js";
import { decodeStreamFrameMeta, FrameType, StreamFrameMeta } from "./meta.js";

const scratch = new StreamFrameMeta();

/** Handle one STRM frame (same on client and server connections). */
export function processStreamFrame(buf: Buffer, off: number, len: number, conn: Connection): void {
  const metaSize = buf.readUInt32BE(off + 8);
  const metaStart = off + HEADER_SIZE;
  const dataStart = metaStart + metaSize;
  const m = scratch;
  try {
    decodeStreamFrameMeta(buf, metaStart, dataStart, m);
  } catch (err) {
    // brpc drops such a frame and keeps the connection.
    log.warn(`Fail to parse StreamFrameMeta from ${conn.remoteSide}`, err);
    return;
  }
  const id = m.streamId;
  const stream = typeof id === "number" ? (conn.streams?.get(id) as Stream | undefined) : undefined;
  if (stream === undefined) {
    if (
      m.sourceStreamId !== undefined &&
      m.frameType !== FrameType.FEEDBACK &&
      m.frameType !== FrameType.RST
    ) {
      sendRst(conn, m.sourceStreamId);
    }
    return;
  }
  stream.onFrame(m.frameType, buf.subarray(dataStart, off + len), m.hasContinuation, m.consumedSize);
}

/** The streaming_rpc protocol plug-in. */
export const streamingRpcProtocol: Protocol = {
  name: "streaming_rpc",
  parse: parseStreamFrame,
  processRequest: processStreamFrame,
  processResponse: processStreamFrame,
};
