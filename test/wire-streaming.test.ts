/**
 * The streaming_echo capture of real brpc traffic (a brpc client and a brpc server using
 * one stream): every frame decodes with our decoders, our encoder writes brpc's bytes,
 * replaying the client's side into our server yields what brpc's server answered (up to
 * the server's choice of stream id and FEEDBACK batching), and our interop client prints
 * what brpc's client printed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fromBinary } from "@bufbuild/protobuf";
import { EchoRequestSchema, EchoResponseSchema } from "../examples/gen/peer_pb.js";
import type { Server } from "../src/index.js";
import { Writer } from "../src/io/writer.js";
import { decodeRpcMeta } from "../src/protocol/baidu-std/meta.js";
import { encodeStreamFrameMeta } from "../src/protocol/streaming-rpc/meta.js";
import { loadCapture, type RawFrame, splitFrames } from "./helpers/captures.js";
import { DIST, runNode, type ServerProcess, startServerProcess } from "./helpers/child.js";
import { RawClient } from "./helpers/net.js";
import { startEchoServer } from "./helpers/servers.js";
import {
  decodeStrm,
  describeFrame,
  encodeStrm,
  FT,
  type StrmFrame,
  strmFrames,
  typeName,
  unwrapResponse,
} from "./helpers/streams.js";

const cap = loadCapture("streaming_echo");
const chunks = cap.connections[0]?.chunks ?? [];
const c2sChunks = chunks.filter((c) => c.dir === "c2s").map((c) => Buffer.from(c.hex, "hex"));
const s2c = Buffer.concat(chunks.filter((c) => c.dir === "s2c").map((c) => Buffer.from(c.hex, "hex")));
const c2s = Buffer.concat(c2sChunks);

/** brpc's stream ids in the capture: the client's is 0, the server's 2<<32. */
const CLIENT_ID = 0;
const BRPC_SERVER_ID = 8589934592;

describe("streaming_echo capture of real brpc", () => {
  it("decodes every client frame: the request with stream_settings, DATA, cumulative FEEDBACK, CLOSE", () => {
    const frames = splitFrames(c2s);
    assert.deepEqual(
      frames.map((f) => f.magic),
      ["PRPC", "STRM", "STRM", "STRM", "STRM", "STRM", "STRM", "STRM", "STRM"],
    );
    const [req, ...rest] = frames as [RawFrame, ...RawFrame[]];
    const meta = decodeRpcMeta(req.meta, 0, req.meta.length);
    assert.ok(meta.hasRequest);
    assert.equal(meta.serviceName, "example.EchoService");
    assert.equal(meta.methodName, "Echo");
    assert.equal(meta.logId, 1000n);
    assert.deepEqual(meta.streamSettings, {
      streamId: BigInt(CLIENT_ID),
      needFeedback: true,
      writable: true,
      extraStreamIds: [],
    });
    const body = fromBinary(EchoRequestSchema, req.body);
    assert.equal(body.message, "hello 0");
    assert.equal(body.openStream, true);
    const strm = rest.map((f) => decodeStrm(f.meta, f.body));
    for (const f of strm) {
      assert.equal(f.streamId, BRPC_SERVER_ID, describeFrame(f));
      assert.equal(f.sourceStreamId, CLIENT_ID, describeFrame(f));
      assert.equal(f.hasContinuation, false);
    }
    assert.deepEqual(
      strm.map((f) => typeName(f.frameType)),
      ["DATA", "DATA", "DATA", "FEEDBACK", "FEEDBACK", "FEEDBACK", "DATA", "CLOSE"],
    );
    assert.deepEqual(
      strm.filter((f) => f.frameType === FT.DATA).map((f) => f.data.toString()),
      ["msg-0", "msg-1", "msg-2", "close"],
    );
    // The client consumed "echo:msg-0".."echo:msg-2" (10 bytes each): cumulative sizes.
    assert.deepEqual(
      strm.filter((f) => f.frameType === FT.FEEDBACK).map((f) => f.consumedSize),
      [10, 20, 30],
    );
    for (const f of strm) if (f.frameType !== FT.DATA) assert.equal(f.data.length, 0);
  });

  it("decodes every server frame: the response wrapped in STRM DATA, DATA, FEEDBACK, CLOSE, RST", () => {
    const frames = strmFrames(s2c);
    assert.equal(splitFrames(s2c).length, frames.length, "the server sends only STRM frames");
    assert.deepEqual(
      frames.map((f) => typeName(f.frameType)),
      ["DATA", "DATA", "FEEDBACK", "DATA", "DATA", "FEEDBACK", "CLOSE", "FEEDBACK", "RST"],
    );
    const [wrapped, ...rest] = frames as [StrmFrame, ...StrmFrame[]];
    assert.equal(wrapped.streamId, CLIENT_ID);
    assert.equal(wrapped.sourceStreamId, BRPC_SERVER_ID);
    assert.equal(wrapped.hasContinuation, false);
    const resp = unwrapResponse(wrapped);
    assert.ok(resp.meta.hasResponse);
    assert.equal(resp.meta.errorCode, 0);
    const first = splitFrames(c2s)[0] as RawFrame;
    const req = decodeRpcMeta(first.meta, 0, first.meta.length);
    assert.equal(resp.meta.correlationId, req.correlationId);
    assert.deepEqual(resp.meta.streamSettings, {
      streamId: BigInt(BRPC_SERVER_ID),
      needFeedback: true,
      writable: true,
      extraStreamIds: [],
    });
    assert.equal(fromBinary(EchoResponseSchema, resp.body).message, "hello 0");
    for (const f of rest) {
      assert.equal(f.streamId, CLIENT_ID, describeFrame(f));
      if (f.frameType === FT.RST) assert.equal(f.sourceStreamId, undefined, "RST carries no source id");
      else assert.equal(f.sourceStreamId, BRPC_SERVER_ID, describeFrame(f));
    }
    assert.deepEqual(
      rest.filter((f) => f.frameType === FT.DATA).map((f) => f.data.toString()),
      ["echo:msg-0", "echo:msg-1", "echo:msg-2"],
    );
    // The server consumed "msg-0".."msg-2" and "close" (5 bytes each): cumulative sizes.
    assert.deepEqual(
      rest.filter((f) => f.frameType === FT.FEEDBACK).map((f) => f.consumedSize),
      [5, 15, 20],
    );
  });

  it("our StreamFrameMeta encoder writes brpc's bytes for every frame", () => {
    for (const f of [...splitFrames(c2s), ...splitFrames(s2c)]) {
      if (f.magic !== "STRM") continue;
      const d = decodeStrm(f.meta, f.body);
      const w = new Writer();
      encodeStreamFrameMeta(
        w,
        d.streamId,
        d.sourceStreamId,
        d.frameType,
        d.hasContinuation,
        d.consumedSize ?? 0,
      );
      assert.deepEqual(w.take(), Buffer.from(f.meta), describeFrame(d));
      // And the test's own encoder agrees (it is used to replay below).
      const again = encodeStrm({
        ...d,
        hasContinuation: d.frameType === FT.DATA ? d.hasContinuation : undefined,
      });
      assert.deepEqual(again, Buffer.from(f.bytes), describeFrame(d));
    }
  });
});

/** Frames of `buf` received so far (none while the first one is incomplete). */
function received(raw: RawClient): StrmFrame[] {
  return strmFrames(raw.received);
}

describe("replaying brpc's client into our interop server", () => {
  let server: Server;
  before(async () => {
    server = await startEchoServer();
  });
  after(() => server.stop(0));

  it("answers as brpc's server did (modulo our stream id and FEEDBACK batching)", async () => {
    const raw = await RawClient.connect(server.port);
    try {
      // 1. The request creating the stream: the response comes wrapped in STRM DATA.
      raw.write(c2sChunks[0] as Buffer);
      assert.ok(await raw.waitFor(() => received(raw).length >= 1), "the response arrives");
      const wrapped = received(raw)[0] as StrmFrame;
      assert.equal(wrapped.frameType, FT.DATA);
      assert.equal(wrapped.streamId, CLIENT_ID);
      assert.equal(wrapped.hasContinuation, false);
      const ours = wrapped.sourceStreamId;
      assert.equal(typeof ours, "number");
      const ourId = ours as number;
      const resp = unwrapResponse(wrapped);
      const theirs = unwrapResponse(strmFrames(s2c)[0] as StrmFrame);
      assert.equal(resp.meta.errorCode, theirs.meta.errorCode);
      assert.equal(resp.meta.errorText, theirs.meta.errorText);
      assert.equal(resp.meta.correlationId, theirs.meta.correlationId);
      assert.equal(resp.meta.attachmentSize, theirs.meta.attachmentSize);
      assert.equal(resp.meta.compressType, theirs.meta.compressType);
      assert.deepEqual(resp.meta.streamSettings, {
        ...theirs.meta.streamSettings,
        streamId: BigInt(ourId),
      });
      assert.deepEqual(
        fromBinary(EchoResponseSchema, resp.body),
        fromBinary(EchoResponseSchema, theirs.body),
      );

      // The client's frames, addressed to the stream id our server chose.
      const retarget = (chunk: Buffer) =>
        Buffer.concat(
          splitFrames(chunk).map((f) => {
            const d = decodeStrm(f.meta, f.body);
            assert.equal(d.streamId, BRPC_SERVER_ID);
            return encodeStrm({
              ...d,
              streamId: ourId,
              hasContinuation: d.frameType === FT.DATA ? d.hasContinuation : undefined,
            });
          }),
        );
      const has = (pred: (f: StrmFrame) => boolean) => () => received(raw).some(pred);

      // 2. msg-0..2: three echoes and feedback up to 15 bytes consumed.
      raw.write(retarget(c2sChunks[1] as Buffer));
      assert.ok(await raw.waitFor(has((f) => f.frameType === FT.DATA && f.data.toString() === "echo:msg-2")));
      assert.ok(await raw.waitFor(has((f) => f.frameType === FT.FEEDBACK && f.consumedSize === 15)));
      // 3. The client's FEEDBACK frames, one at a time as brpc's client sent them.
      for (const c of c2sChunks.slice(2, 5)) {
        raw.write(retarget(c));
        await sleep(10);
      }
      // 4. "close": the server closes its stream.
      raw.write(retarget(c2sChunks[5] as Buffer));
      assert.ok(await raw.waitFor(has((f) => f.frameType === FT.CLOSE)));
      // 5. The client's CLOSE reaches a stream that is gone: RST, as brpc's server answered.
      raw.write(retarget(c2sChunks[6] as Buffer));
      assert.ok(await raw.waitFor(has((f) => f.frameType === FT.RST)));
      await sleep(50);

      const got = received(raw);
      const want = strmFrames(s2c);
      const norm = (frames: StrmFrame[], serverId: number) =>
        frames
          .slice(1)
          .filter((f) => f.frameType !== FT.FEEDBACK)
          .map((f) => describeFrame(f).replace(`<-${serverId}`, "<-S"));
      assert.deepEqual(norm(got, ourId), norm(want, BRPC_SERVER_ID));
      assert.deepEqual(norm(got, ourId), [
        "DATA 0<-S cont=false 'echo:msg-0'",
        "DATA 0<-S cont=false 'echo:msg-1'",
        "DATA 0<-S cont=false 'echo:msg-2'",
        "CLOSE 0<-S",
        "RST 0",
      ]);
      // FEEDBACK: cumulative, reaching 15 once msg-0..2 were consumed, before the CLOSE
      // (brpc also acknowledged "close" after its CLOSE; that one is optional).
      const closeAt = got.findIndex((f) => f.frameType === FT.CLOSE);
      const fb = got.filter((f) => f.frameType === FT.FEEDBACK);
      for (const f of fb) {
        assert.equal(f.streamId, CLIENT_ID);
        assert.equal(f.sourceStreamId, ourId);
      }
      const sizes = fb.map((f) => f.consumedSize as number);
      assert.deepEqual(
        sizes,
        [...sizes].sort((a, b) => a - b),
      );
      const before = got.slice(0, closeAt).filter((f) => f.frameType === FT.FEEDBACK);
      assert.equal(before.at(-1)?.consumedSize, 15);
      assert.ok(sizes.every((n) => n > 0 && n <= 20));
      assert.equal(raw.closed, false, "the connection stays up");
    } finally {
      raw.close();
    }
  });

  it("a request whose stream is not accepted gets its response in STRM DATA from INVALID_STREAM_ID", async () => {
    // The capture's request with open_stream=false (the body's last byte).
    const req = Buffer.from(c2sChunks[0] as Buffer);
    assert.equal(req.at(-2), 0x20, "open_stream tag");
    req[req.length - 1] = 0;
    const raw = await RawClient.connect(server.port);
    try {
      raw.write(req);
      assert.ok(await raw.waitFor(() => received(raw).length >= 1));
      const [wrapped] = received(raw) as [StrmFrame];
      assert.equal(wrapped.frameType, FT.DATA);
      assert.equal(wrapped.streamId, CLIENT_ID);
      assert.equal(wrapped.sourceStreamId, -1n);
      const resp = unwrapResponse(wrapped);
      assert.equal(resp.meta.errorCode, 0);
      assert.equal(resp.meta.streamSettings, undefined);
      assert.equal(fromBinary(EchoResponseSchema, resp.body).message, "hello 0");
    } finally {
      raw.close();
    }
  });
});

describe("interop client --scenario stream against the interop server (processes)", () => {
  let proc: ServerProcess;
  before(async () => {
    proc = await startServerProcess();
  });
  after(() => {
    proc.child.kill("SIGTERM");
  });

  it("prints the capture's observed_result", async () => {
    const r = await runNode([
      join(DIST, "examples", "interop", "client.js"),
      "--server",
      `127.0.0.1:${proc.port}`,
      "--scenario",
      "stream",
      "--n",
      "1",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const norm = (l: string) => l.replace(/latency_us=\d+/, "latency_us=L");
    assert.deepEqual(r.stdout.trim().split("\n").map(norm), cap.observed_result.map(norm));
  });
});
