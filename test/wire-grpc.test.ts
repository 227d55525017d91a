/**
 * gRPC on the wire: brpc's captured client bytes replayed into our server (answers
 * compared with brpc's server's), and bad input at the frame level: h2 protocol errors on
 * gRPC streams, resets, truncated / oversized / malformed messages, vanishing clients.
 */
import assert from "node:assert/strict";
import { constants as h2c } from "node:http2";
import { after, before, describe, it } from "node:test";
import { create, fromBinary } from "@bufbuild/protobuf";
import { EchoResponseSchema, EchoService } from "../examples/gen/peer_pb.js";
import { peerService } from "../examples/interop/peer-service.js";
import { ErrorCode, Server, type ServerContext } from "../src/index.js";
import { decodeGrpcMessage, encodeGrpcMessage } from "../src/protocol/grpc/framing.js";
import { Calc, NumSchema } from "./gen/grpc_test_pb.js";
import { loadCapture, stream } from "./helpers/captures.js";
import {
  decodeServerBytes,
  Flag,
  FrameType,
  frame,
  grpcHeaders,
  grpcHeadersFrame,
  h2call,
  h2connect,
  h2request,
  lpm,
  PREFACE,
  parseFrames,
  splitMessages,
  streamEnded,
} from "./helpers/grpc-h2.js";
import {
  CalcProbe,
  calcService,
  type GrpcTestServer,
  grpcClients,
  num,
  startGrpcServer,
  unary,
} from "./helpers/grpc-services.js";
import { RawClient } from "./helpers/net.js";
import { eventually } from "./helpers/servers.js";

/** "[ip:port]" at the start of brpc error texts, whatever the address. */
const normalise = (text: string) => text.replace(/^\[[^\]]*\]/, "[ADDR]");

/** A grpc-js call still works: the server keeps serving. */
async function stillServes(port: number): Promise<void> {
  const c = grpcClients(port);
  try {
    const r = await unary<{ message: string }>(c.echo, "echo", { message: "still here" });
    assert.equal(r.value.message, "still here");
  } finally {
    c.close();
  }
}

describe("brpc's h2:grpc captures replayed into brpc-ts", () => {
  let server: Server;
  const seen: ServerContext[] = [];
  before(async () => {
    server = new Server();
    server.addService(EchoService, {
      echo(req, ctx) {
        seen.push(ctx);
        return peerService.echo!(req, ctx);
      },
    });
    await server.start("127.0.0.1:0");
  });
  after(() => server.stop(0));

  async function replay(name: string, calls: number) {
    const cap = loadCapture(name);
    const client = await RawClient.connect(server.port);
    try {
      for (const ch of cap.connections[0]!.chunks)
        if (ch.dir === "c2s") client.write(Buffer.from(ch.hex, "hex"));
      const ids = Array.from({ length: calls }, (_, i) => 2 * i + 1);
      assert.ok(
        await client.waitFor(() => ids.every((id) => streamEnded(client.received, id))),
        "no answer to every call",
      );
      const ours = await decodeServerBytes(client.received, calls);
      const theirs = await decodeServerBytes(stream(cap, 0, "s2c"), calls);
      return { ours, theirs };
    } finally {
      client.close();
    }
  }

  it("h2_grpc_echo: same HEADERS, messages and trailers as brpc's server", async () => {
    seen.length = 0;
    const { ours, theirs } = await replay("h2_grpc_echo", 2);
    for (let i = 0; i < 2; i++) {
      const o = ours[i]!;
      const t = theirs[i]!;
      assert.equal(o.headers?.[":status"], t.headers?.[":status"]);
      assert.equal(o.headers?.["content-type"], t.headers?.["content-type"]);
      const om = splitMessages(o.data);
      const tm = splitMessages(t.data);
      assert.equal(om.length, 1);
      assert.equal(om.length, tm.length);
      assert.deepEqual(om[0]!.data, tm[0]!.data);
      assert.equal(fromBinary(EchoResponseSchema, om[0]!.data).message, `hello ${i}`);
      assert.equal(o.trailers?.["grpc-status"], t.trailers?.["grpc-status"]);
      assert.equal(o.trailers?.["grpc-status"], "0");
      assert.equal(o.rstCode, 0);
    }
    // What the server read from brpc's client: log-id, grpc-timeout (1000m), user-agent.
    assert.deepEqual(
      seen.map((c) => [c.logId, c.timeoutMs, c.protocol, c.grpc?.requestMetadata["user-agent"]]),
      [
        [1000n, 1000, "h2:grpc", "brpc/1.0 curl/7.0"],
        [1001n, 1000, "h2:grpc", "brpc/1.0 curl/7.0"],
      ],
    );
  });

  it("h2_grpc_error: same status and grpc-message (address normalised) as brpc's server", async () => {
    const { ours, theirs } = await replay("h2_grpc_error", 1);
    const o = ours[0]!;
    const t = theirs[0]!;
    assert.equal(o.headers?.[":status"], t.headers?.[":status"]);
    assert.equal(o.headers?.["content-type"], t.headers?.["content-type"]);
    assert.equal(o.trailers?.["grpc-status"], t.trailers?.["grpc-status"]);
    assert.equal(o.trailers?.["grpc-status"], "13");
    const theirText = decodeGrpcMessage(String(t.trailers?.["grpc-message"]));
    const ourText = decodeGrpcMessage(String(o.trailers?.["grpc-message"]));
    assert.equal(normalise(ourText), normalise(theirText));
    assert.equal(normalise(ourText), "[ADDR][E2001]failed on purpose: hello 0");
    // brpc's percent-encoding reproduced byte for byte by the "brpc" style.
    assert.equal(encodeGrpcMessage(theirText, "brpc"), t.trailers?.["grpc-message"]);
    // brpc sends an empty message before the error trailers; we send none (gRPC clients
    // would parse it, see docs/grpc.md).
    assert.deepEqual(
      splitMessages(t.data).map((m) => m.data.length),
      [0],
    );
    assert.equal(splitMessages(o.data).length, 0);
  });
});

describe("gRPC bad input: frames, resets, messages, vanishing clients", () => {
  let s: GrpcTestServer;
  before(async () => {
    s = await startGrpcServer();
  });
  after(async () => {
    assert.ok(await eventually(() => s.server.concurrency === 0, 5000));
    await s.close();
  });

  /** A raw connection with the preface and SETTINGS sent. */
  async function raw(): Promise<RawClient> {
    const c = await RawClient.connect(s.port);
    c.write(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0)]));
    return c;
  }

  it("RST_STREAM without half-close: the request iteration throws ECANCELED, ctx.signal aborts", async () => {
    const before = s.probe.inputErrors.length;
    const c = await raw();
    try {
      c.write(grpcHeadersFrame(1, "/grpctest.Calc/Chat"));
      c.write(frame(FrameType.DATA, 0, 1, lpm(num({ value: 1, text: "hi" }))));
      // The answer to the first message proves the handler is iterating.
      assert.ok(
        await c.waitFor(() =>
          parseFrames(c.received).some((f) => f.type === FrameType.DATA && f.streamId === 1),
        ),
      );
      const rst = Buffer.alloc(4);
      rst.writeUInt32BE(h2c.NGHTTP2_CANCEL);
      c.write(frame(FrameType.RST_STREAM, 0, 1, rst));
      assert.ok(await eventually(() => s.probe.inputErrors.length > before));
      assert.deepEqual(s.probe.inputErrors.at(-1), { label: "chat", code: ErrorCode.ECANCELED });
      assert.ok(s.probe.aborted.includes("chat"));
      assert.ok(await eventually(() => s.server.concurrency === 0));
    } finally {
      c.close();
    }
    await stillServes(s.port);
  });

  it("a stream-level protocol error (HEADERS without END_STREAM mid-stream): RST_STREAM, other streams unaffected", async () => {
    const c = await raw();
    try {
      c.write(grpcHeadersFrame(1, "/grpctest.Calc/Add"));
      c.write(frame(FrameType.DATA, 0, 1, lpm(num({ value: 1 }))));
      // Trailers must end the stream: a second HEADERS without END_STREAM is malformed.
      c.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from([0x00, 1, 0x78, 1, 0x79])));
      c.write(grpcHeadersFrame(3, "/grpctest.Calc/Echo"));
      c.write(frame(FrameType.DATA, Flag.END_STREAM, 3, lpm(num({ text: "next" }))));
      assert.ok(await c.waitFor(() => streamEnded(c.received, 1) && streamEnded(c.received, 3)));
      const [one, three] = await decodeServerBytes(c.received, 2);
      assert.notEqual(one!.rstCode, 0);
      assert.equal(three!.trailers?.["grpc-status"], "0");
      assert.equal(fromBinary(NumSchema, splitMessages(three!.data)[0]!.data).text, "next|log=-|ct=0|proto");
      assert.ok(await eventually(() => s.server.concurrency === 0));
    } finally {
      c.close();
    }
  });

  it("DATA after END_STREAM: the stream or connection is closed with an error, no crash", async () => {
    const c = await raw();
    try {
      c.write(grpcHeadersFrame(1, "/grpctest.Calc/Echo"));
      c.write(frame(FrameType.DATA, Flag.END_STREAM, 1, lpm(num({ text: "a" }))));
      c.write(frame(FrameType.DATA, 0, 1, lpm(num({ text: "b" }))));
      assert.ok(
        await c.waitFor(() =>
          parseFrames(c.received).some(
            (f) => (f.type === FrameType.RST_STREAM && f.streamId === 1) || f.type === FrameType.GOAWAY,
          ),
        ),
      );
    } finally {
      c.close();
    }
    await stillServes(s.port);
  });

  it("truncated, malformed and extra messages: INTERNAL / INVALID_ARGUMENT, never a crash", async () => {
    const cases: { name: string; body: Buffer[]; path?: string; status: number; text: RegExp }[] = [
      {
        name: "truncated",
        body: [Buffer.concat([Buffer.from([0, 0, 0, 0, 100]), Buffer.alloc(10)])],
        status: 13,
        text: /\[E2001\]Incomplete gRPC message at the end of the request \(10 of 100 bytes\)/,
      },
      { name: "prefix only", body: [Buffer.from([0, 0, 0])], status: 13, text: /\(3 of 5 prefix bytes\)/ },
      { name: "no message", body: [], status: 13, text: /Missing request message/ },
      {
        name: "bad flag",
        body: [Buffer.from([2, 0, 0, 0, 0])],
        status: 13,
        text: /Invalid gRPC message flag 2/,
      },
      {
        name: "two messages on unary",
        body: [lpm(num({})), lpm(num({}))],
        status: 13,
        text: /Too many request messages for unary method/,
      },
      {
        name: "two messages on server streaming",
        body: [lpm(num({ value: 1 })), lpm(num({ value: 1 }))],
        path: "/grpctest.Calc/Count",
        status: 13,
        text: /Too many request messages/,
      },
      {
        name: "bad protobuf",
        body: [lpm(Buffer.from([0xff, 0xff, 0xff]))],
        status: 3,
        text: /\[E1003\]Fail to parse request message grpctest\.Num/,
      },
    ];
    for (const k of cases) {
      const r = await h2call(s.port, grpcHeaders(k.path ?? "/grpctest.Calc/Echo"), k.body);
      assert.equal(r.headers?.[":status"], 200, k.name);
      assert.equal(r.trailers?.["grpc-status"], String(k.status), k.name);
      assert.match(decodeGrpcMessage(String(r.trailers?.["grpc-message"])), k.text, k.name);
    }
    // Truncated in a client stream: the handler's iteration fails too.
    const before = s.probe.inputErrors.length;
    const r = await h2call(s.port, grpcHeaders("/grpctest.Calc/Add"), [
      lpm(num({ value: 1 })),
      Buffer.from([0, 0, 0, 0, 9, 1]),
    ]);
    assert.equal(r.trailers?.["grpc-status"], "13");
    assert.ok(await eventually(() => s.probe.inputErrors.length > before));
    assert.deepEqual(s.probe.inputErrors.at(-1), { label: "add", code: ErrorCode.EINTERNAL });
    await stillServes(s.port);
  });

  it("unsupported content-type subtype: HTTP 415, no gRPC handling", async () => {
    const r = await h2call(
      s.port,
      grpcHeaders("/grpctest.Calc/Echo", { "content-type": "application/grpc+thrift" }),
      [lpm(num({}))],
    );
    assert.equal(r.headers?.[":status"], 415);
  });

  it("a client that disappears mid-request stream: the handler's iteration fails, the call is released", async () => {
    const before = s.probe.inputErrors.length;
    const c = await raw();
    c.write(grpcHeadersFrame(1, "/grpctest.Calc/Add"));
    c.write(frame(FrameType.DATA, 0, 1, lpm(num({ value: 1 }))));
    assert.ok(await eventually(() => s.server.concurrency === 1));
    c.close();
    assert.ok(await eventually(() => s.probe.inputErrors.length > before));
    assert.equal(s.probe.inputErrors.at(-1)?.label, "add");
    assert.ok(await eventually(() => s.server.concurrency === 0));
    await stillServes(s.port);
  });

  it("a client that disappears mid-response stream: the generator is ended (finally runs)", async () => {
    const c = await raw();
    c.write(grpcHeadersFrame(1, "/grpctest.Calc/Count"));
    c.write(frame(FrameType.DATA, Flag.END_STREAM, 1, lpm(num({ value: -1, text: "gone", sleepMs: 1 }))));
    assert.ok(
      await c.waitFor(() => parseFrames(c.received).filter((f) => f.type === FrameType.DATA).length >= 2),
    );
    c.close();
    assert.ok(await eventually(() => s.probe.finalized.includes("count:gone")));
    assert.ok(s.probe.aborted.includes("count:gone"));
    assert.ok(await eventually(() => s.server.concurrency === 0));
    await stillServes(s.port);
  });
});

describe("h2 connection errors during gRPC calls", () => {
  let s: GrpcTestServer;
  before(async () => {
    s = await startGrpcServer();
  });
  after(() => s.close());

  /** A raw connection with the preface and SETTINGS sent. */
  async function raw(): Promise<RawClient> {
    const c = await RawClient.connect(s.port);
    c.write(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0)]));
    return c;
  }

  it("a connection-level protocol error mid-call (bad DATA padding): GOAWAY(PROTOCOL_ERROR), the server goes on", async () => {
    const c = await raw();
    try {
      c.write(grpcHeadersFrame(1, "/grpctest.Calc/Add"));
      c.write(frame(FrameType.DATA, 0, 1, lpm(num({ value: 1 }))));
      assert.ok(await eventually(() => s.server.concurrency === 1));
      // PADDED with a pad length larger than the frame: PROTOCOL_ERROR for the connection.
      c.write(frame(FrameType.DATA, Flag.PADDED, 1, Buffer.from([200, 1, 2, 3])));
      assert.ok(await c.waitFor(() => parseFrames(c.received).some((f) => f.type === FrameType.GOAWAY)));
      const goaway = parseFrames(c.received).find((f) => f.type === FrameType.GOAWAY)!;
      assert.equal(goaway.payload.readUInt32BE(4), h2c.NGHTTP2_PROTOCOL_ERROR);
    } finally {
      c.close();
    }
    await stillServes(s.port);
  });

  it("random frames after a valid gRPC HEADERS never crash the server", async () => {
    let seed = 12345;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let round = 0; round < 20; round++) {
      const c = await raw();
      c.write(grpcHeadersFrame(1, round % 2 ? "/grpctest.Calc/Chat" : "/grpctest.Calc/Echo"));
      for (let i = 0; i < 5; i++) {
        const len = rnd() % 40;
        const payload = Buffer.alloc(len);
        for (let j = 0; j < len; j++) payload[j] = rnd() & 0xff;
        const type = rnd() % 10;
        c.write(frame(type, rnd() & 0xff, rnd() % 2 ? 1 : rnd() % 8, payload));
      }
      await c.waitFor(() => c.closed || streamEnded(c.received, 1), 100);
      c.close();
    }
    await stillServes(s.port);
  });

  it("calls on a connection that node:http2 left wedged after its GOAWAY are released (PING probe, then destroy)", async () => {
    assert.ok(
      await eventually(() => s.server.concurrency === 0, 8000),
      `concurrency=${s.server.concurrency}`,
    );
  });
});

describe("gRPC oversized messages", () => {
  let server: Server;
  const probe = new CalcProbe();
  before(async () => {
    server = new Server({ maxBodySize: 1024 });
    server.addService(Calc, calcService(probe));
    server.addService(EchoService, peerService);
    await server.start("127.0.0.1:0");
  });
  after(() => server.stop(0));

  it("a message over max_body_size is RESOURCE_EXHAUSTED as soon as its prefix arrives", async () => {
    const session = await h2connect(server.port);
    try {
      // Only the prefix is sent and the request is left open: the answer cannot wait for the body.
      const big = Buffer.alloc(5);
      big.writeUInt32BE(1 << 20, 1);
      const { stream, result } = h2request(session, grpcHeaders("/grpctest.Calc/Add"), [big], false);
      const r = await result;
      assert.equal(r.trailers?.["grpc-status"], "8");
      assert.match(
        decodeGrpcMessage(String(r.trailers?.["grpc-message"])),
        /Received message larger than max \(1048576 vs\. 1024\)/,
      );
      stream.destroy();
      // Same session, a message that fits.
      const ok = await h2request(session, grpcHeaders("/grpctest.Calc/Echo"), [lpm(num({ text: "fits" }))])
        .result;
      assert.equal(ok.trailers?.["grpc-status"], "0");
      // A gzip bomb: small on the wire, over the limit once inflated.
      const { gzipSync } = await import("node:zlib");
      const bomb = gzipSync(num({ blob: Buffer.alloc(100_000) }));
      assert.ok(bomb.length < 1024);
      const b = await h2request(session, grpcHeaders("/grpctest.Calc/Echo", { "grpc-encoding": "gzip" }), [
        lpm(bomb, true),
      ]).result;
      assert.equal(b.trailers?.["grpc-status"], "8");
    } finally {
      session.close();
    }
    assert.ok(await eventually(() => server.concurrency === 0));
    assert.equal(create(EchoResponseSchema, { message: "x" }).message, "x");
  });
});
