/**
 * brpc's `StreamFrameMeta` (streaming_rpc_meta.proto): the meta of every STRM frame.
 * Hand-written like RpcMeta, because it is on every stream message.
 */
import { DecodeError, Reader } from "../../io/reader.js";
import type { Writer } from "../../io/writer.js";

/** `FrameType` values. */
export const FrameType = { UNKNOWN: 0, RST: 1, CLOSE: 2, DATA: 3, FEEDBACK: 4 } as const;

/** A stream id on the wire: ours are numbers; a peer's may exceed 2^53 (bigint), -1n is brpc's INVALID_STREAM_ID. */
export type WireStreamId = number | bigint;

/** A stream id from StreamSettings (int64) as a {@link WireStreamId}: a number when it is a safe integer. */
export function wireIdOf(id: bigint): WireStreamId {
  return id >= 0n && id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id;
}

/** A decoded StreamFrameMeta; reused by the decoder (copy what you keep). */
export class StreamFrameMeta {
  /** The receiver's stream id. */
  streamId: WireStreamId = 0;
  /** The sender's stream id, or undefined when absent (RST frames). */
  sourceStreamId: WireStreamId | undefined = undefined;
  frameType = 0;
  hasContinuation = false;
  /** Feedback.consumed_size, when present. */
  consumedSize: number | undefined = undefined;
}

const reader = new Reader(new Uint8Array(0));

/** Decode into `m` (reset first); throws DecodeError on malformed input. */
export function decodeStreamFrameMeta(buf: Uint8Array, start: number, end: number, m: StreamFrameMeta): void {
  const r = reader.reset(buf, start, end);
  m.streamId = 0;
  m.sourceStreamId = undefined;
  m.frameType = 0;
  m.hasContinuation = false;
  m.consumedSize = undefined;
  let sawId = false;
  while (r.pos < r.end) {
    const tag = r.uint32();
    const wt = tag & 7;
    const f = tag >>> 3;
    if (wt === 0 && f === 1) {
      m.streamId = signed(r.uint64());
      sawId = true;
    } else if (wt === 0 && f === 2) m.sourceStreamId = signed(r.uint64());
    else if (wt === 0 && f === 3) m.frameType = r.int32();
    else if (wt === 0 && f === 4) m.hasContinuation = r.bool();
    else if (wt === 2 && f === 5) {
      const outer = r.enter();
      while (r.pos < r.end) {
        const t = r.uint32();
        if (t === 0x08) {
          const v = r.uint64();
          m.consumedSize = typeof v === "number" ? v : Number.MAX_SAFE_INTEGER;
        } else r.skip(t & 7);
      }
      r.leave(outer);
    } else r.skip(wt);
  }
  if (!sawId) throw new DecodeError("StreamFrameMeta without stream_id");
}

/** int64 on the wire: values >= 2^63 are negative (brpc's INVALID_STREAM_ID is -1). */
function signed(v: number | bigint): WireStreamId {
  return typeof v === "number" ? v : BigInt.asIntN(64, v);
}

function writeId(w: Writer, v: WireStreamId): void {
  if (typeof v === "number" && v >= 0) w.uvarint(v);
  else w.varint64(BigInt(v));
}

/**
 * Append a StreamFrameMeta in brpc's field order. `hasContinuation` is written for DATA
 * frames only (brpc always sets it there), feedback for FEEDBACK frames only.
 */
export function encodeStreamFrameMeta(
  w: Writer,
  streamId: WireStreamId,
  sourceStreamId: WireStreamId | undefined,
  frameType: number,
  hasContinuation: boolean,
  consumedSize: number,
): void {
  w.u8(0x08);
  writeId(w, streamId);
  if (sourceStreamId !== undefined) {
    w.u8(0x10);
    writeId(w, sourceStreamId);
  }
  w.u8(0x18);
  w.u8(frameType);
  if (frameType === FrameType.DATA) {
    w.u8(0x20);
    w.u8(hasContinuation ? 1 : 0);
  } else if (frameType === FrameType.FEEDBACK) {
    w.u8(0x2a);
    const mark = w.mark();
    w.u8(0);
    w.u8(0x08);
    w.uvarint(consumedSize);
    w.buf[w.start + mark] = w.mark() - mark - 1;
  }
}
