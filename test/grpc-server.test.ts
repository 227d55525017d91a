/**
 * The gRPC server with real peers: @grpc/grpc-js clients (and node:http2 for what grpc-js
 * hides) against a started brpc-ts Server port, for the four method kinds, brpc's status
 * mapping, deadlines, compression, metadata, cancellation, limits and the health check.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { constants as http2constants } from "node:http2";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { gunzipSync, gzipSync, inflateSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EchoRequestSchema } from "../examples/gen/peer_pb.js";
import { ErrorCode } from "../src/index.js";
import { NumSchema, SumSchema } from "./gen/grpc_test_pb.js";
import { grpcHeaders, h2call, h2connect, h2request, lpm, splitMessages } from "./helpers/grpc-h2.js";
import {
  type GrpcClients,
  type GrpcTestServer,
  grpc,
  grpcClients,
  grpcError,
  num,
  startGrpcServer,
  unary,
} from "./helpers/grpc-services.js";
import { eventually } from "./helpers/servers.js";

/** A unary call of any path with raw bytes through grpc-js. */
function rawUnary(port: number, path: string, req: Buffer): Promise<Buffer> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      req,
      (err, v) => {
        client.close();
        if (err) reject(err);
        else resolve(v as Buffer);
      },
    );
  });
}

async function rejectsGrpc(p: Promise<unknown>, code: number, details?: string | RegExp): Promise<string> {
  try {
    await p;
  } catch (err) {
    const e = grpcError(err);
    assert.equal(e.code, code, `status ${e.code} (${e.details}), expected ${code}`);
    if (typeof details === "string") assert.equal(e.details, details);
    else if (details) assert.match(e.details, details);
    return e.details;
  }
  assert.fail("the call should fail");
}

/** Every counted call was released. */
async function assertIdle(s: GrpcTestServer): Promise<void> {
  assert.ok(await eventually(() => s.server.concurrency === 0, 5000), `concurrency=${s.server.concurrency}`);
}

describe("gRPC unary (grpc-js -> brpc-ts)", () => {
  let s: GrpcTestServer;
  let c: GrpcClients;
  before(async () => {
    s = await startGrpcServer();
    c = grpcClients(s.port);
  });
  after(async () => {
    c.close();
    await assertIdle(s);
    await s.close();
  });

  it("echoes through the brpc port (example.EchoService/Echo)", async () => {
    const r = await unary<{ message: string }>(c.echo, "echo", { message: "hello grpc" });
    assert.equal(r.value.message, "hello grpc");
    assert.deepEqual(r.headers?.get("content-type"), ["application/grpc"]);
    assert.equal(r.status?.code, 0);
  });

  it("routes /ShortName/Method like brpc", async () => {
    const out = await rawUnary(
      s.port,
      "/EchoService/Echo",
      Buffer.from(toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: "short" }))),
    );
    assert.deepEqual(out, Buffer.from([0x0a, 5, ...Buffer.from("short")]));
  });

  it("maps brpc error codes to gRPC statuses, grpc-message = brpc's error text", async () => {
    const table: [number, number][] = [
      [ErrorCode.ENOSERVICE, grpc.status.UNIMPLEMENTED],
      [ErrorCode.ENOMETHOD, grpc.status.UNIMPLEMENTED],
      [ErrorCode.ERPCAUTH, grpc.status.UNAUTHENTICATED],
      [ErrorCode.EREQUEST, grpc.status.INVALID_ARGUMENT],
      [ErrorCode.EINVAL, grpc.status.INVALID_ARGUMENT],
      [ErrorCode.ELIMIT, grpc.status.RESOURCE_EXHAUSTED],
      [ErrorCode.ELOGOFF, grpc.status.UNAVAILABLE],
      [ErrorCode.EPERM, grpc.status.PERMISSION_DENIED],
      [ErrorCode.ERPCTIMEDOUT, grpc.status.DEADLINE_EXCEEDED],
      [ErrorCode.ETIMEDOUT, grpc.status.INTERNAL],
      [ErrorCode.ECANCELED, grpc.status.CANCELLED],
      [ErrorCode.EINTERNAL, grpc.status.INTERNAL],
      [ErrorCode.ERESPONSE, grpc.status.INTERNAL],
      [ErrorCode.EOVERCROWDED, grpc.status.INTERNAL],
      [12345, grpc.status.INTERNAL],
    ];
    for (const [code, status] of table) {
      await rejectsGrpc(
        unary(c.echo, "echo", { message: `m${code}`, failCode: code }),
        status,
        `[127.0.0.1:${s.port}][E${code}]failed on purpose: m${code}`,
      );
    }
  });

  it("percent-encodes any error text (non-ASCII, %, newlines) and grpc-js decodes it", async () => {
    const text = "héllo %41 ✓ a:b/c?d#e\ttab";
    await rejectsGrpc(
      unary(c.calc, "echo", { text, failCode: ErrorCode.EREQUEST }),
      grpc.status.INVALID_ARGUMENT,
      `[127.0.0.1:${s.port}][E1003]failed on purpose: ${text}`,
    );
  });

  it("UNIMPLEMENTED for unknown methods and services; brpc's text for methods without handler", async () => {
    await rejectsGrpc(
      rawUnary(s.port, "/example.EchoService/Nope", Buffer.alloc(0)),
      grpc.status.UNIMPLEMENTED,
      `[127.0.0.1:${s.port}][E1002]Fail to find method on \`/example.EchoService/Nope'`,
    );
    await rejectsGrpc(rawUnary(s.port, "/no.Such/Echo", Buffer.alloc(0)), grpc.status.UNIMPLEMENTED, /E1002/);
    await rejectsGrpc(rawUnary(s.port, "/NoSuch/Echo", Buffer.alloc(0)), grpc.status.UNIMPLEMENTED, /E1002/);
    await rejectsGrpc(
      unary(c.echo, "missing", { message: "x" }),
      grpc.status.UNIMPLEMENTED,
      /\[E1002\]not implemented$/,
    );
    await rejectsGrpc(
      unary(c.calc, "nothing", {}),
      grpc.status.INTERNAL,
      /Method Nothing\(\) not implemented\.$/,
    );
  });

  it("a handler's throw becomes INTERNAL with its message", async () => {
    // fail_code 2001 via RpcError thrown from the Calc handler.
    await rejectsGrpc(
      unary(c.calc, "echo", { text: "boom", failCode: 2001 }),
      grpc.status.INTERNAL,
      /\[E2001\]failed on purpose: boom$/,
    );
  });

  it("log-id and metadata: request metadata on ctx.grpc, response headers and trailers back", async () => {
    const md = new grpc.Metadata();
    md.set("log-id", "123456789012");
    md.set("x-echo-md", "hello");
    md.set("x-data-bin", Buffer.from([1, 2, 3]));
    const r = await unary<{ text: string }>(c.calc, "echo", { text: "md" }, { metadata: md });
    assert.equal(r.value.text, "md|log=123456789012|ct=0|proto");
    const ctx = s.probe.lastCtx!;
    assert.equal(ctx.logId, 123456789012n);
    assert.equal(ctx.protocol, "h2:grpc");
    assert.equal(ctx.grpc?.requestMetadata["x-echo-md"], "hello");
    assert.deepEqual(ctx.grpc?.requestMetadata["x-data-bin"], Buffer.from([1, 2, 3]));
    assert.match(String(ctx.grpc?.requestMetadata["user-agent"]), /grpc-node-js/);
    assert.equal(ctx.grpc?.requestMetadata.te, undefined);
    assert.equal(ctx.grpc?.requestMetadata["grpc-accept-encoding"], undefined);
    assert.deepEqual(r.headers?.get("x-header-back"), ["h:hello"]);
    assert.deepEqual(r.status?.metadata.get("x-trailer-back"), ["t:hello"]);
    assert.deepEqual(r.status?.metadata.get("x-data-bin"), [Buffer.from([1, 2, 3, 0xff])]);
  });

  it("grpc-timeout: the server fails the call with DEADLINE_EXCEEDED and aborts ctx.signal", async () => {
    // node:http2 client: no client-side deadline, the status comes from our server.
    const r = await h2call(s.port, grpcHeaders("/grpctest.Calc/Echo", { "grpc-timeout": "50m" }), [
      lpm(num({ text: "slow", sleepMs: 60_000 })),
    ]);
    assert.equal(r.headers?.[":status"], 200);
    assert.equal(r.trailers?.["grpc-status"], "4");
    assert.match(decodeURIComponent(String(r.trailers?.["grpc-message"])), /\[E1008\]Reached timeout=50ms$/);
    assert.ok(await eventually(() => s.probe.aborted.includes("echo:slow")));
    const ctx = s.probe.lastCtx!;
    assert.equal(ctx.timeoutMs, 50);
    assert.ok(ctx.deadline !== undefined);
  });

  it("grpc-js deadlines reach the handler (DEADLINE_EXCEEDED, signal aborted)", async () => {
    await rejectsGrpc(
      unary(c.calc, "echo", { text: "slow2", sleepMs: 60_000 }, { deadline: Date.now() + 100 }),
      grpc.status.DEADLINE_EXCEEDED,
    );
    assert.ok(await eventually(() => s.probe.aborted.includes("echo:slow2")));
  });

  it("a malformed grpc-timeout is ignored (brpc: digits then one unit)", async () => {
    for (const t of ["10", "1x", "m", "1.5S", "-5m"]) {
      const r = await h2call(s.port, grpcHeaders("/grpctest.Calc/Echo", { "grpc-timeout": t }), [
        lpm(num({ text: "t" })),
      ]);
      assert.equal(r.trailers?.["grpc-status"], "0", t);
      assert.equal(s.probe.lastCtx?.timeoutMs, undefined, t);
    }
  });

  it("grpc-timeout 0 fails at once", async () => {
    const r = await h2call(s.port, grpcHeaders("/grpctest.Calc/Echo", { "grpc-timeout": "0n" }), [
      lpm(num({ text: "z" })),
    ]);
    // 0n rounds up to 1us in brpc, expired before the handler could answer.
    assert.ok(r.trailers?.["grpc-status"] === "4" || r.trailers?.["grpc-status"] === "0");
    const r2 = await h2call(s.port, grpcHeaders("/grpctest.Calc/Echo", { "grpc-timeout": "0S" }), [
      lpm(num({ text: "z" })),
    ]);
    assert.equal(r2.trailers?.["grpc-status"], "4");
  });

  it("answers application/grpc+proto with the same subtype", async () => {
    const r = await h2call(
      s.port,
      grpcHeaders("/grpctest.Calc/Echo", { "content-type": "application/grpc+proto" }),
      [lpm(num({ value: 7, text: "p" }))],
    );
    assert.equal(r.headers?.["content-type"], "application/grpc+proto");
    const [m] = splitMessages(r.data);
    assert.equal(fromBinary(NumSchema, m!.data).text, "p|log=-|ct=0|proto");
  });

  it("application/grpc+json carries JSON messages (brpc's json2pb)", async () => {
    const r = await h2call(
      s.port,
      grpcHeaders("/example.EchoService/Echo", { "content-type": "application/grpc+json" }),
      [lpm(Buffer.from(JSON.stringify({ message: "json hi" })))],
    );
    assert.equal(r.headers?.["content-type"], "application/grpc+json");
    assert.equal(r.trailers?.["grpc-status"], "0");
    const [m] = splitMessages(r.data);
    assert.deepEqual(JSON.parse(m!.data.toString()), { message: "json hi" });
    const bad = await h2call(
      s.port,
      grpcHeaders("/example.EchoService/Echo", { "content-type": "application/grpc+json" }),
      [lpm(Buffer.from("{not json"))],
    );
    assert.equal(bad.trailers?.["grpc-status"], String(grpc.status.INVALID_ARGUMENT));
    assert.match(
      decodeURIComponent(String(bad.trailers?.["grpc-message"])),
      /\[E1003\]Fail to parse request message/,
    );
  });

  it("a missing required field in the request is INVALID_ARGUMENT", async () => {
    await rejectsGrpc(
      rawUnary(s.port, "/example.EchoService/Echo", Buffer.alloc(0)),
      grpc.status.INVALID_ARGUMENT,
      /Missing required fields in request: message/,
    );
  });
});

describe("gRPC streaming (grpc-js -> brpc-ts)", () => {
  let s: GrpcTestServer;
  let c: GrpcClients;
  before(async () => {
    s = await startGrpcServer();
    c = grpcClients(s.port);
  });
  after(async () => {
    c.close();
    await assertIdle(s);
    await s.close();
  });

  it("server streaming: an async generator's messages in order, then OK", async () => {
    const call = c.calc.count({ value: 5, text: "n" });
    const got: string[] = [];
    for await (const m of call) got.push((m as { text: string }).text);
    assert.deepEqual(got, ["n-0", "n-1", "n-2", "n-3", "n-4"]);
  });

  it("server streaming: a throw mid-stream ends it with the mapped status after the messages sent", async () => {
    const call = c.calc.count({ value: 10, text: "f", failCode: ErrorCode.EREQUEST });
    const got: number[] = [];
    call.on("data", (m: { value: number }) => got.push(m.value));
    const [err] = await once(call, "error");
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /\[E1003\]stream failed at 2$/);
    assert.deepEqual(got, [0, 1]);
  });

  it("client streaming: every request reaches the handler's for-await", async () => {
    const sum = await new Promise<{ total: number; count: number }>((resolve, reject) => {
      const w = c.calc.add((err: Error | null, v: { total: number; count: number }) =>
        err ? reject(err) : resolve(v),
      );
      for (let i = 1; i <= 100; i++) w.write({ value: i });
      w.end();
    });
    assert.deepEqual(sum, { total: 5050, count: 100 });
  });

  it("client streaming with no messages", async () => {
    const sum = await new Promise<{ total: number; count: number }>((resolve, reject) => {
      const w = c.calc.add((err: Error | null, v: { total: number; count: number }) =>
        err ? reject(err) : resolve(v),
      );
      w.end();
    });
    assert.deepEqual(sum, { total: 0, count: 0 });
  });

  it("bidi: ping-pong, each response before the next request", async () => {
    const call = c.calc.chat();
    for (let i = 0; i < 5; i++) {
      call.write({ value: i, text: `p${i}` });
      const [m] = await once(call, "data");
      assert.deepEqual([m.value, m.text], [i * 2, `re:p${i}`]);
    }
    call.end();
    await once(call, "status");
  });

  it("bidi: the handler ends the call early (return) while the client still sends", async () => {
    const call = c.calc.chat();
    const got: string[] = [];
    call.on("data", (m: { text: string }) => got.push(m.text));
    call.write({ value: 1, text: "a" });
    call.write({ value: 2, text: "stop" });
    call.write({ value: 3, text: "ignored" });
    const [st] = await once(call, "status");
    assert.equal(st.code, 0);
    assert.deepEqual(got, ["re:a"]);
    call.end();
  });

  it("bidi: 400 x 32 KiB both ways (h2 flow control, drain)", async () => {
    const call = c.calc.chat();
    const blob = Buffer.alloc(32 * 1024, 7);
    let n = 0;
    let bytes = 0;
    call.on("data", (m: { blob: Buffer }) => {
      n++;
      bytes += m.blob.length;
    });
    for (let i = 0; i < 400; i++) {
      if (!call.write({ value: i, text: "big", blob })) await once(call, "drain");
    }
    call.end();
    const [st] = await once(call, "status");
    assert.equal(st.code, 0);
    assert.equal(n, 400);
    assert.equal(bytes, 400 * blob.length);
  });

  it("client streaming: reading pauses while the handler does not pull (backpressure), resumes after", async () => {
    let open!: () => void;
    s.probe.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    s.probe.pulled = 0;
    const session = await h2connect(s.port);
    try {
      const { stream, result } = h2request(session, grpcHeaders("/grpctest.Calc/Add"), [], false);
      const item = lpm(num({ value: 1, blob: Buffer.alloc(64 * 1024) }));
      const total = 256; // 16 MiB: far more than the h2 windows plus the handler's queue
      let flushed = 0;
      for (let i = 0; i < total; i++) stream.write(item, () => flushed++);
      stream.end();
      assert.ok(await eventually(() => s.probe.pulled === 1));
      // The handler is stuck on its first message: the server must stop taking data.
      await sleep(300);
      assert.ok(
        flushed < total / 2,
        `the client flushed ${flushed} of ${total} messages to a handler that does not read`,
      );
      open();
      const r = await result;
      assert.equal(r.trailers?.["grpc-status"], "0");
      const sum = fromBinary(SumSchema, splitMessages(r.data)[0]!.data);
      assert.equal(sum.count, total);
      assert.equal(flushed, total);
    } finally {
      s.probe.gate = undefined;
      session.close();
    }
  });

  it("cancelling a server stream aborts ctx.signal and ends the generator (finally runs)", async () => {
    const call = c.calc.count({ value: -1, text: "inf", sleepMs: 1 });
    let n = 0;
    call.on("data", () => {
      if (++n === 3) call.cancel();
    });
    const [err] = await once(call, "error");
    assert.equal(err.code, grpc.status.CANCELLED);
    assert.ok(await eventually(() => s.probe.finalized.includes("count:inf")));
    assert.ok(s.probe.aborted.includes("count:inf"));
    await assertIdle(s);
  });

  it("cancelling a bidi call ends the handler and releases the call", async () => {
    // grpc-js cancels with END_STREAM then RST_STREAM(CANCEL): the handler may see the
    // requests end normally or the call cancelled, depending on which arrives first (a
    // reset without half-close is in wire-grpc.test.ts).
    const before = s.probe.finalized.filter((x) => x === "chat").length;
    const call = c.calc.chat();
    call.on("error", () => {});
    call.write({ value: 1, text: "x" });
    await once(call, "data");
    call.cancel();
    assert.ok(await eventually(() => s.probe.finalized.filter((x) => x === "chat").length > before));
    await assertIdle(s);
  });
});

describe("gRPC compression", () => {
  let s: GrpcTestServer;
  before(async () => {
    s = await startGrpcServer();
  });
  after(async () => {
    await assertIdle(s);
    await s.close();
  });

  it("grpc-js with gzip: requests decompressed, responses compressed like the request (brpc echo)", async () => {
    const c = grpcClients(s.port, { "grpc.default_compression_algorithm": 2 });
    try {
      const r = await unary<{ text: string }>(c.calc, "echo", { text: "gz".repeat(500) });
      assert.equal(r.value.text, `${"gz".repeat(500)}|log=-|ct=2|proto`);
      const e = await unary<{ message: string }>(c.echo, "echo", { message: "zip" });
      assert.equal(e.value.message, "zip");
      const got: number[] = [];
      for await (const m of c.calc.count({ value: 3 })) got.push((m as { value: number }).value);
      assert.deepEqual(got, [0, 1, 2]);
    } finally {
      c.close();
    }
  });

  it("gzip and deflate on the wire: grpc-encoding, compressed flag, accept-encoding honoured", async () => {
    const payload = num({ text: "squeeze me ".repeat(50) });
    const gz = await h2call(
      s.port,
      grpcHeaders("/grpctest.Calc/Echo", { "grpc-encoding": "gzip", "grpc-accept-encoding": "gzip" }),
      [lpm(gzipSync(payload), true)],
    );
    assert.equal(gz.trailers?.["grpc-status"], "0");
    assert.equal(gz.headers?.["grpc-encoding"], "gzip");
    assert.match(String(gz.headers?.["grpc-accept-encoding"]), /gzip/);
    const [m] = splitMessages(gz.data);
    assert.equal(m!.compressed, true);
    assert.equal(
      fromBinary(NumSchema, gunzipSync(m!.data)).text,
      `${"squeeze me ".repeat(50)}|log=-|ct=2|proto`,
    );

    const { deflateSync } = await import("node:zlib");
    const df = await h2call(
      s.port,
      grpcHeaders("/grpctest.Calc/Echo", {
        "grpc-encoding": "deflate",
        "grpc-accept-encoding": "deflate,gzip",
      }),
      [lpm(deflateSync(payload), true)],
    );
    assert.equal(df.headers?.["grpc-encoding"], "deflate");
    const [d] = splitMessages(df.data);
    assert.equal(fromBinary(NumSchema, inflateSync(d!.data)).text.endsWith("|ct=3|proto"), true);

    // The client does not accept gzip: the response goes uncompressed.
    const plain = await h2call(
      s.port,
      grpcHeaders("/grpctest.Calc/Echo", { "grpc-encoding": "gzip", "grpc-accept-encoding": "identity" }),
      [lpm(gzipSync(payload), true)],
    );
    assert.equal(plain.headers?.["grpc-encoding"], undefined);
    assert.equal(splitMessages(plain.data)[0]!.compressed, false);
    // Uncompressed messages are fine under grpc-encoding: gzip (flag 0).
    const mixed = await h2call(s.port, grpcHeaders("/grpctest.Calc/Echo", { "grpc-encoding": "gzip" }), [
      lpm(payload),
    ]);
    assert.equal(mixed.trailers?.["grpc-status"], "0");
  });

  it("unsupported grpc-encoding is UNIMPLEMENTED; a compressed flag without encoding is INTERNAL; corrupt gzip INTERNAL", async () => {
    const r = await h2call(s.port, grpcHeaders("/grpctest.Calc/Echo", { "grpc-encoding": "snappy" }), [
      lpm(num({})),
    ]);
    assert.equal(r.trailers?.["grpc-status"], String(grpc.status.UNIMPLEMENTED));
    assert.equal(r.headers?.["grpc-accept-encoding"], "identity,deflate,gzip");
    const r2 = await h2call(s.port, grpcHeaders("/grpctest.Calc/Echo"), [lpm(gzipSync(num({})), true)]);
    assert.equal(r2.trailers?.["grpc-status"], String(grpc.status.INTERNAL));
    const r3 = await h2call(s.port, grpcHeaders("/grpctest.Calc/Echo", { "grpc-encoding": "gzip" }), [
      lpm(Buffer.from("not gzip"), true),
    ]);
    assert.equal(r3.trailers?.["grpc-status"], String(grpc.status.INTERNAL));
  });
});

describe("gRPC health check and limits", () => {
  let s: GrpcTestServer;
  let c: GrpcClients;
  before(async () => {
    s = await startGrpcServer({ maxConcurrency: 1 });
    c = grpcClients(s.port);
  });
  after(async () => {
    c.close();
    await s.close();
  });

  it("grpc.health.v1.Health/Check: SERVING for the server and its services, NOT_FOUND otherwise", async () => {
    assert.deepEqual((await unary(c.health, "check", { service: "" })).value, { status: "SERVING" });
    assert.deepEqual((await unary(c.health, "check", { service: "grpctest.Calc" })).value, {
      status: "SERVING",
    });
    assert.deepEqual((await unary(c.health, "check", { service: "example.EchoService" })).value, {
      status: "SERVING",
    });
    await rejectsGrpc(
      unary(c.health, "check", { service: "no.Such" }),
      grpc.status.NOT_FOUND,
      /unknown service no\.Such/,
    );
    await rejectsGrpc(
      rawUnary(s.port, "/grpc.health.v1.Health/Watch", Buffer.alloc(0)),
      grpc.status.UNIMPLEMENTED,
    );
  });

  it("max_concurrency: RESOURCE_EXHAUSTED (health checks not counted); stopping: UNAVAILABLE", async () => {
    const session = await h2connect(s.port);
    const slow = h2request(session, grpcHeaders("/grpctest.Calc/Echo"), [
      lpm(num({ text: "hold", sleepMs: 60_000 })),
    ]);
    assert.ok(await eventually(() => s.server.concurrency === 1));
    await rejectsGrpc(
      unary(c.calc, "echo", { text: "second" }),
      grpc.status.RESOURCE_EXHAUSTED,
      /Reached server's max_concurrency=1/,
    );
    assert.deepEqual((await unary(c.health, "check", { service: "" })).value, { status: "SERVING" });
    const stopping = s.server.stop(60_000);
    // While stopping, new calls on open connections get ELOGOFF -> UNAVAILABLE.
    await rejectsGrpc(
      unary(c.calc, "echo", { text: "late" }),
      grpc.status.UNAVAILABLE,
      /\[E2003\]Server is stopping/,
    );
    // The client cancels the call in flight: its handler's signal aborts, it returns, stop() completes.
    slow.stream.close(http2constants.NGHTTP2_CANCEL);
    const r = await slow.result;
    assert.equal(r.rstCode, http2constants.NGHTTP2_CANCEL);
    await stopping;
    assert.ok(s.probe.aborted.includes("echo:hold"));
    assert.equal(s.server.concurrency, 0);
    session.destroy();
  });
});
