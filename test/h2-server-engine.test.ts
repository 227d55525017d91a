/**
 * The h2 server engines (`ServerOptions.http.h2Engine`): the builtin engine
 * (src/protocol/h2/server-conn.ts) and node:http2 behind the same port, under flow
 * control with a slow handler, many concurrent streams, a client reset mid-body, GOAWAY
 * on stop and a 10 MiB grpc-js bidi stream. What node:http2 does differently is noted.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fromBinary } from "@bufbuild/protobuf";
import { NumSchema, SumSchema } from "./gen/grpc_test_pb.js";
import { grpcHeaders, h2connect, h2request, lpm, splitMessages } from "./helpers/grpc-h2.js";
import {
  type GrpcClients,
  type GrpcTestServer,
  grpcClients,
  num,
  startGrpcServer,
  unary,
} from "./helpers/grpc-services.js";
import { eventually } from "./helpers/servers.js";

for (const engine of ["builtin", "node"] as const) {
  describe(`h2 server engine: ${engine}`, () => {
    let s: GrpcTestServer;
    let c: GrpcClients;
    before(async () => {
      s = await startGrpcServer({ http: { h2Engine: engine } });
      c = grpcClients(s.port);
    });
    after(async () => {
      c.close();
      assert.ok(
        await eventually(() => s.server.concurrency === 0, 5000),
        `concurrency=${s.server.concurrency}`,
      );
      await s.close();
    });

    it("flow control: a handler that does not pull stops the client within the windows, then takes all", async () => {
      let open!: () => void;
      s.probe.gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      s.probe.pulled = 0;
      const session = await h2connect(s.port);
      try {
        const { stream, result } = h2request(session, grpcHeaders("/grpctest.Calc/Add"), [], false);
        const item = lpm(num({ value: 2, blob: Buffer.alloc(32 * 1024) }));
        const total = 512; // 16 MiB
        let flushed = 0;
        for (let i = 0; i < total; i++) stream.write(item, () => flushed++);
        stream.end();
        assert.ok(await eventually(() => s.probe.pulled === 1));
        await sleep(300);
        const stuck = flushed;
        // Stream window 256 KiB + 1 MiB of queued messages + socket buffers: far below 16 MiB.
        assert.ok(stuck < total / 4, `the client flushed ${stuck} of ${total} messages to a stuck handler`);
        await sleep(200);
        assert.ok(flushed - stuck <= 2, "no progress while the handler is stuck");
        open();
        const r = await result;
        assert.equal(r.trailers?.["grpc-status"], "0");
        const sum = fromBinary(SumSchema, splitMessages(r.data)[0]!.data);
        assert.equal(sum.count, total);
        assert.equal(sum.total, 2 * total);
      } finally {
        s.probe.gate = undefined;
        session.close();
      }
    });

    it("500 concurrent unary calls on one connection", async () => {
      const calls = [];
      for (let i = 0; i < 500; i++) calls.push(unary(c.calc, "echo", { value: i, text: `c${i}` }));
      const out = await Promise.all(calls);
      for (let i = 0; i < 500; i++) assert.equal((out[i]!.value as { value: number }).value, i);
    });

    it("many concurrent streams with bodies (node:http2 client, 200 streams x 64 KiB)", async () => {
      // 12.5 MiB in flight: above node's default client session memory (10 MB), which Node 24
      // enforces by resetting streams with ENHANCE_YOUR_CALM on its own side.
      const session = await h2connect(s.port, { maxSessionMemory: 64 });
      try {
        const body = lpm(num({ value: 1, text: "x", blob: Buffer.alloc(64 * 1024, 3) }));
        const rs = [];
        for (let i = 0; i < 200; i++)
          rs.push(h2request(session, grpcHeaders("/grpctest.Calc/Echo"), [body]).result);
        for (const r of await Promise.all(rs)) {
          assert.equal(r.trailers?.["grpc-status"], "0");
          const m = fromBinary(NumSchema, splitMessages(r.data)[0]!.data);
          assert.equal(m.blob.length, 64 * 1024);
        }
      } finally {
        session.close();
      }
    });

    it("client RST_STREAM mid-body: the call aborts and is released, the connection goes on", async () => {
      const session = await h2connect(s.port);
      try {
        const before = s.probe.aborted.filter((x) => x === "add").length;
        const { stream, result } = h2request(session, grpcHeaders("/grpctest.Calc/Add"), [], false);
        const item = lpm(num({ value: 1, blob: Buffer.alloc(8 * 1024) }));
        for (let i = 0; i < 20; i++) stream.write(item);
        await eventually(() => s.server.concurrency === 1);
        // Half a message, then the reset.
        stream.write(item.subarray(0, 100));
        stream.close(http2.constants.NGHTTP2_CANCEL);
        const r = await result;
        assert.equal(r.rstCode, http2.constants.NGHTTP2_CANCEL);
        assert.ok(await eventually(() => s.server.concurrency === 0), "the call is released");
        assert.ok(await eventually(() => s.probe.aborted.filter((x) => x === "add").length === before + 1));
        const ok = await h2request(session, grpcHeaders("/grpctest.Calc/Echo"), [lpm(num({ value: 7 }))])
          .result;
        assert.equal(ok.trailers?.["grpc-status"], "0");
      } finally {
        session.close();
      }
    });

    it("a grpc-js bidi call streams 10 MiB each way", async () => {
      const call = c.calc.chat();
      const blob = Buffer.alloc(64 * 1024, 9);
      const n = 160; // 10 MiB
      let got = 0;
      let bytes = 0;
      call.on("data", (m: { blob: Buffer; value: number }) => {
        assert.equal(m.value, got * 2);
        got++;
        bytes += m.blob.length;
      });
      for (let i = 0; i < n; i++) {
        if (!call.write({ value: i, text: "big", blob })) await once(call, "drain");
      }
      call.end();
      const [st] = await once(call, "status");
      assert.equal(st.code, 0);
      assert.equal(got, n);
      assert.equal(bytes, n * blob.length);
    });
  });
}

describe("h2 server engine: builtin only", () => {
  it("stop() sends GOAWAY(NO_ERROR) before closing; in-flight calls finish", async () => {
    const s = await startGrpcServer({ http: { h2Engine: "builtin" } });
    const session = await h2connect(s.port);
    try {
      const goaway = new Promise<number>((resolve) =>
        session.once("goaway", (code: number) => resolve(code)),
      );
      const slow = h2request(session, grpcHeaders("/grpctest.Calc/Echo"), [
        lpm(num({ value: 5, sleepMs: 100 })),
      ]).result;
      await eventually(() => s.server.concurrency === 1);
      const stopped = s.server.stop(2000);
      const r = await slow;
      assert.equal(r.trailers?.["grpc-status"], "0");
      await stopped;
      assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
    } finally {
      session.destroy();
    }
  });

  it("idle connections are reaped with a GOAWAY", async () => {
    const s = await startGrpcServer({ http: { h2Engine: "builtin" }, idleTimeoutSec: 1 });
    const session = await h2connect(s.port);
    try {
      const goaway = new Promise<number>((resolve) =>
        session.once("goaway", (code: number) => resolve(code)),
      );
      const ok = await h2request(session, grpcHeaders("/grpctest.Calc/Echo"), [lpm(num({ value: 1 }))])
        .result;
      assert.equal(ok.trailers?.["grpc-status"], "0");
      assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
      await once(session, "close");
    } finally {
      session.destroy();
      await s.close();
    }
  });

  it("a client that stops reading: the write-stall watchdog fails the connection, the call aborts", async () => {
    const s = await startGrpcServer({ http: { h2Engine: "builtin" }, writeStallTimeoutMs: 500 });
    const { connect } = await import("node:net");
    const { frame, FrameType, grpcHeadersFrame, PREFACE } = await import("./helpers/grpc-h2.js");
    const sock = connect(s.port, "127.0.0.1");
    sock.on("error", () => {});
    try {
      await once(sock, "connect");
      // Windows wide open (2^31-1), then an endless server stream of 8 KiB messages.
      const settings = Buffer.alloc(6);
      settings.writeUInt16BE(0x4, 0);
      settings.writeUInt32BE(0x7fffffff, 2);
      const inc = Buffer.alloc(4);
      inc.writeUInt32BE(0x7fffffff - 65535, 0);
      const req = lpm(num({ value: -1, text: "stall", blob: Buffer.alloc(8 * 1024) }));
      sock.write(
        Buffer.concat([
          PREFACE,
          frame(FrameType.SETTINGS, 0, 0, settings),
          frame(FrameType.WINDOW_UPDATE, 0, 0, inc),
          grpcHeadersFrame(1, "/grpctest.Calc/Count"),
          frame(FrameType.DATA, 1, 1, req),
        ]),
      );
      sock.pause();
      assert.ok(await eventually(() => s.probe.aborted.includes("count:stall"), 5000), "the call aborts");
      assert.ok(await eventually(() => s.server.concurrency === 0), "the call is released");
    } finally {
      sock.destroy();
      await s.close();
    }
  });

  it("a malformed request (uppercase field name) gets RST_STREAM(PROTOCOL_ERROR), the connection goes on", async () => {
    const s = await startGrpcServer({ http: { h2Engine: "builtin" } });
    const { connect } = await import("node:net");
    const { frame, FrameType, Flag, hpack, parseFrames, PREFACE } = await import("./helpers/grpc-h2.js");
    const sock = connect(s.port, "127.0.0.1");
    const got: Buffer[] = [];
    sock.on("data", (b: Buffer) => got.push(b));
    try {
      await once(sock, "connect");
      const block = hpack([
        [":method", "GET"],
        [":scheme", "http"],
        [":path", "/health"],
        ["X-Upper", "1"],
      ]);
      sock.write(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(0))]));
      sock.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, block));
      const rst = () =>
        parseFrames(Buffer.concat(got)).find((f) => f.type === FrameType.RST_STREAM && f.streamId === 1);
      assert.ok(await eventually(() => rst() !== undefined));
      assert.equal(rst()!.payload.readUInt32BE(0), http2.constants.NGHTTP2_PROTOCOL_ERROR);
      assert.ok(!parseFrames(Buffer.concat(got)).some((f) => f.type === FrameType.GOAWAY));
    } finally {
      sock.destroy();
      await s.close();
    }
  });
});
