/** HTTP/2 frame layer: header parsing, validation, serializers. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Writer } from "../src/io/writer.js";
import {
  checkFrameHeader,
  Flag,
  FrameHeader,
  FramePayload,
  FrameType,
  framePayload,
  H2ErrorCode,
  readFrameHeader,
  writeData,
  writeGoaway,
  writeHeaders,
  writePing,
  writeRstStream,
  writeSettings,
  writeSettingsAck,
  writeWindowUpdate,
} from "../src/protocol/h2/frame.js";
import { parseFrames } from "./helpers/h2-session.js";

function header(length: number, type: number, flags: number, streamId: number): FrameHeader {
  const h = new FrameHeader();
  h.length = length;
  h.type = type;
  h.flags = flags;
  h.streamId = streamId;
  return h;
}

describe("frame header", () => {
  it("parses at an offset and asks for more data under 9 bytes", () => {
    const b = Buffer.from([0xaa, 0x01, 0x02, 0x03, 0x01, 0x05, 0x80, 0x00, 0x00, 0x07, 0xbb]);
    const h = new FrameHeader();
    assert.equal(readFrameHeader(b, 1, 9, h), false);
    assert.equal(readFrameHeader(b, 1, 10, h), true);
    assert.equal(h.length, 0x010203);
    assert.equal(h.type, FrameType.HEADERS);
    assert.equal(h.flags, 5);
    assert.equal(h.streamId, 7, "reserved bit ignored");
  });

  it("validates sizes and stream-0 rules", () => {
    const cases: [FrameHeader, number | null, boolean][] = [
      [header(16385, FrameType.DATA, 0, 1), H2ErrorCode.FRAME_SIZE_ERROR, true],
      [header(16384, FrameType.DATA, 0, 1), null, true],
      [header(0, FrameType.DATA, 0, 0), H2ErrorCode.PROTOCOL_ERROR, true],
      [header(0, FrameType.HEADERS, 0, 0), H2ErrorCode.PROTOCOL_ERROR, true],
      [header(0, FrameType.CONTINUATION, 0, 0), H2ErrorCode.PROTOCOL_ERROR, true],
      [header(5, FrameType.PRIORITY, 0, 0), H2ErrorCode.PROTOCOL_ERROR, true],
      [header(4, FrameType.PRIORITY, 0, 3), H2ErrorCode.FRAME_SIZE_ERROR, false],
      [header(4, FrameType.RST_STREAM, 0, 0), H2ErrorCode.PROTOCOL_ERROR, true],
      [header(5, FrameType.RST_STREAM, 0, 1), H2ErrorCode.FRAME_SIZE_ERROR, true],
      [header(6, FrameType.SETTINGS, 0, 1), H2ErrorCode.PROTOCOL_ERROR, true],
      [header(7, FrameType.SETTINGS, 0, 0), H2ErrorCode.FRAME_SIZE_ERROR, true],
      [header(6, FrameType.SETTINGS, Flag.ACK, 0), H2ErrorCode.FRAME_SIZE_ERROR, true],
      [header(12, FrameType.SETTINGS, 0, 0), null, true],
      [header(8, FrameType.PING, 0, 1), H2ErrorCode.PROTOCOL_ERROR, true],
      [header(9, FrameType.PING, 0, 0), H2ErrorCode.FRAME_SIZE_ERROR, true],
      [header(8, FrameType.GOAWAY, 0, 1), H2ErrorCode.PROTOCOL_ERROR, true],
      [header(7, FrameType.GOAWAY, 0, 0), H2ErrorCode.FRAME_SIZE_ERROR, true],
      [header(3, FrameType.WINDOW_UPDATE, 0, 0), H2ErrorCode.FRAME_SIZE_ERROR, true],
      [header(100, 0xfe, 0xff, 0), null, true],
    ];
    for (const [h, code, connection] of cases) {
      const e = checkFrameHeader(h, 16384);
      if (code === null) assert.equal(e, null, `type ${h.type}`);
      else {
        assert.equal(e?.code, code, `type ${h.type} len ${h.length} sid ${h.streamId}`);
        assert.equal(e?.streamId === 0, connection);
      }
    }
  });

  it("strips padding and priority; rejects bad padding and self-dependency", () => {
    const pl = new FramePayload();
    // DATA, PADDED, pad 2, "abc", 2 zero bytes.
    const d = Buffer.from([2, 0x61, 0x62, 0x63, 0, 0]);
    assert.equal(framePayload(header(6, FrameType.DATA, Flag.PADDED, 1), d, 0, pl), null);
    assert.equal(d.subarray(pl.start, pl.end).toString(), "abc");
    const bad = Buffer.from([6, 0x61, 0x62, 0x63, 0, 0]);
    assert.equal(
      framePayload(header(6, FrameType.DATA, Flag.PADDED, 1), bad, 0, pl)?.code,
      H2ErrorCode.PROTOCOL_ERROR,
    );
    assert.equal(
      framePayload(header(0, FrameType.DATA, Flag.PADDED, 1), bad, 0, pl)?.code,
      H2ErrorCode.PROTOCOL_ERROR,
    );
    // HEADERS with priority on stream 3.
    const hp = Buffer.from([0, 0, 0, 1, 16, 0x82]);
    assert.equal(framePayload(header(6, FrameType.HEADERS, Flag.PRIORITY, 3), hp, 0, pl), null);
    assert.deepEqual([pl.start, pl.end], [5, 6]);
    const self = Buffer.from([0, 0, 0, 3, 16, 0x82]);
    const e = framePayload(header(6, FrameType.HEADERS, Flag.PRIORITY, 3), self, 0, pl);
    assert.equal(e?.code, H2ErrorCode.PROTOCOL_ERROR);
    assert.equal(e?.streamId, 3, "a stream error");
  });
});

describe("frame serializers", () => {
  it("DATA split at the max frame size, END_STREAM on the last", () => {
    const w = new Writer(1024);
    writeData(w, 3, Buffer.alloc(40000, 7), true, 16384);
    writeData(w, 5, Buffer.alloc(0), true, 16384);
    const f = parseFrames(Buffer.from(w.take()));
    assert.deepEqual(
      f.map((x) => [x.type, x.flags, x.streamId, x.payload.length]),
      [
        [0, 0, 3, 16384],
        [0, 0, 3, 16384],
        [0, 1, 3, 7232],
        [0, 1, 5, 0],
      ],
    );
  });
  it("HEADERS + CONTINUATION split", () => {
    const w = new Writer(1024);
    writeHeaders(w, 1, Buffer.alloc(40000, 1), true, 16384);
    const f = parseFrames(Buffer.from(w.take()));
    assert.deepEqual(
      f.map((x) => [x.type, x.flags, x.payload.length]),
      [
        [FrameType.HEADERS, Flag.END_STREAM, 16384],
        [FrameType.CONTINUATION, 0, 16384],
        [FrameType.CONTINUATION, Flag.END_HEADERS, 7232],
      ],
    );
  });
  it("control frames", () => {
    const w = new Writer(1024);
    writeSettings(w, [4, 1 << 20, 3, 100]);
    writeSettingsAck(w);
    writePing(w, Buffer.from("12345678"), false);
    writePing(w, Buffer.from("12345678"), true);
    writeRstStream(w, 7, H2ErrorCode.CANCEL);
    writeGoaway(w, 9, H2ErrorCode.ENHANCE_YOUR_CALM, Buffer.from("calm"));
    writeWindowUpdate(w, 0, 0x7fffffff);
    const f = parseFrames(Buffer.from(w.take()));
    assert.equal(f.length, 7);
    assert.equal(f[0]!.payload.toString("hex"), "000400100000000300000064");
    assert.deepEqual([f[1]!.type, f[1]!.flags, f[1]!.payload.length], [FrameType.SETTINGS, Flag.ACK, 0]);
    assert.deepEqual([f[2]!.flags, f[2]!.payload.toString()], [0, "12345678"]);
    assert.deepEqual([f[3]!.flags, f[3]!.payload.toString()], [Flag.ACK, "12345678"]);
    assert.deepEqual([f[4]!.streamId, f[4]!.payload.readUInt32BE(0)], [7, 8]);
    assert.deepEqual(
      [f[5]!.payload.readUInt32BE(0), f[5]!.payload.readUInt32BE(4), f[5]!.payload.subarray(8).toString()],
      [9, 11, "calm"],
    );
    assert.equal(f[6]!.payload.readUInt32BE(0), 0x7fffffff);
  });
});
