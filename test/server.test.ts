/** Server behaviour: routing, errors as brpc sends them, limits, context, lifecycle. */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { create, toBinary } from "@bufbuild/protobuf";
import { EchoRequestSchema, EchoService } from "../examples/gen/peer_pb.js";
import { Channel, Controller, ErrorCode, RpcError, Server, type ServerContext } from "../src/index.js";
import { RawClient } from "./helpers/net.js";
import { eventually, settle, startEchoServer } from "./helpers/servers.js";

const echoBytes = (message: string) =>
  Buffer.from(toBinary(EchoRequestSchema, create(EchoRequestSchema, { message })));

async function rejectsWith(p: Promise<unknown>, code: number, text?: RegExp | string): Promise<RpcError> {
  const r = await settle(p);
  assert.equal(r.ok, false, "call should fail");
  const e = (r as { error: unknown }).error;
  assert.ok(e instanceof RpcError, `RpcError expected, got ${String(e)}`);
  assert.equal(e.code, code, e.text);
  if (typeof text === "string") assert.equal(e.text, text);
  else if (text) assert.match(e.text, text);
  return e;
}

describe("routing and brpc's errors", () => {
  let server: Server;
  let ch: Channel;
  before(async () => {
    server = await startEchoServer();
    ch = new Channel(server.address, { maxRetry: 0, timeoutMs: 2000 });
  });
  after(async () => {
    ch.close();
    await server.stop(0);
  });

  it("routes by full service name", async () => {
    const res = await ch.client(EchoService).echo({ message: "full" });
    assert.equal(res.message, "full");
  });

  it("routes by short service name", async () => {
    const out = await ch.callRaw("EchoService", "Echo", echoBytes("short"));
    assert.deepEqual(out, Buffer.from([0x0a, 5, ...Buffer.from("short")]));
  });

  it("ENOSERVICE for an unknown short name", async () => {
    await rejectsWith(
      ch.callRaw("NoSuchService", "Echo", echoBytes("x")),
      ErrorCode.ENOSERVICE,
      `[E1001][${server.address}][E1001]Fail to find service=NoSuchService`,
    );
  });

  it("ENOMETHOD for an unknown full service name or method", async () => {
    await rejectsWith(
      ch.callRaw("example.NoSuch", "Echo", echoBytes("x")),
      ErrorCode.ENOMETHOD,
      `[E1002][${server.address}][E1002]Fail to find method=example.NoSuch/Echo`,
    );
    await rejectsWith(
      ch.callRaw("example.EchoService", "Nope", echoBytes("x")),
      ErrorCode.ENOMETHOD,
      /Fail to find method=example.EchoService\/Nope$/,
    );
  });

  it("EREQUEST for an undecodable request, and the connection keeps serving", async () => {
    await rejectsWith(
      ch.callRaw("example.EchoService", "Echo", Buffer.from([0x0a, 0x7f, 1, 2])),
      ErrorCode.EREQUEST,
      /Fail to parse request=example.EchoRequest, ContentType=pb, CompressType=none, ChecksumType=none, request_size=4$/,
    );
    // A request missing the required `message` field is rejected like brpc does.
    await rejectsWith(ch.callRaw("example.EchoService", "Echo", Buffer.alloc(0)), ErrorCode.EREQUEST);
    assert.equal((await ch.client(EchoService).echo({ message: "still ok" })).message, "still ok");
  });

  it("a handler's error code and text reach the client as brpc formats them", async () => {
    const e = await rejectsWith(
      ch.client(EchoService).echo({ message: "m", failCode: 2002 }),
      2002,
      `[E2002][${server.address}][E2002]failed on purpose: m`,
    );
    assert.equal(e.codeName, "ERESPONSE");
  });
});

describe("handlers", () => {
  let server: Server;
  let ch: Channel;
  let lastCtx: ServerContext | undefined;
  before(async () => {
    server = new Server();
    server.addService(EchoService, {
      echo(req, ctx) {
        lastCtx = ctx;
        if (req.message === "throw-rpc") throw new RpcError(ErrorCode.EPERM, "no way");
        if (req.message === "throw") throw new Error("boom");
        if (req.message === "bad-response") return {} as { message: string };
        if (req.message === "user-fields") ctx.responseUserFields = { ...ctx.requestUserFields, extra: "1" };
        ctx.responseAttachment = ctx.requestAttachment;
        return { message: req.message };
      },
    });
    await server.start("127.0.0.1:0");
    ch = new Channel(server.address, { maxRetry: 0 });
  });
  after(async () => {
    ch.close();
    await server.stop(0);
  });

  it("a thrown RpcError keeps its code; other throws become EINTERNAL", async () => {
    const echo = ch.client(EchoService);
    await rejectsWith(echo.echo({ message: "throw-rpc" }), ErrorCode.EPERM, /\[E1\]no way$/);
    await rejectsWith(echo.echo({ message: "throw" }), ErrorCode.EINTERNAL, /\[E2001\]boom$/);
  });

  it("a response missing required fields fails with ERESPONSE", async () => {
    await rejectsWith(
      ch.client(EchoService).echo({ message: "bad-response" }),
      ErrorCode.ERESPONSE,
      /Missing required fields in response: message$/,
    );
  });

  it("methods without a handler fail like brpc's generated base class", async () => {
    await rejectsWith(
      ch.client(EchoService).missing({ message: "x" }),
      ErrorCode.EINTERNAL,
      /Method Missing\(\) not implemented\.$/,
    );
  });

  it("the context carries log_id, request_id, attachment, user_fields and the peer", async () => {
    const cntl = new Controller();
    const res = await ch
      .client(EchoService)
      .echo(
        { message: "user-fields" },
        { controller: cntl, logId: 77n, requestId: "req-1", attachment: "att", userFields: { a: "b" } },
      );
    assert.equal(res.message, "user-fields");
    const ctx = lastCtx!;
    assert.equal(ctx.logId, 77n);
    assert.equal(ctx.requestId, "req-1");
    assert.equal(ctx.requestAttachment.toString(), "att");
    assert.deepEqual(ctx.requestUserFields, { a: "b" });
    assert.equal(ctx.serviceName, "example.EchoService");
    assert.equal(ctx.methodName, "Echo");
    assert.equal(ctx.fullMethodName, "example.EchoService.Echo");
    assert.equal(ctx.remoteSide, cntl.localSide);
    assert.equal(ctx.localSide, server.address);
    assert.equal(cntl.responseAttachment.toString(), "att");
    assert.deepEqual(cntl.responseUserFields, { a: "b", extra: "1" });
    assert.equal(cntl.remoteSide, server.address);
  });

  it("delivers the client's timeout as a deadline when asked to", async () => {
    const ch2 = new Channel(server.address, { maxRetry: 0, deliverTimeoutMs: true, timeoutMs: 1500 });
    try {
      await ch2.client(EchoService).echo({ message: "t" });
      const ctx = lastCtx!;
      assert.ok(ctx.timeoutMs !== undefined && ctx.timeoutMs > 0 && ctx.timeoutMs <= 1500);
      assert.ok(ctx.deadline !== undefined && ctx.deadline > ctx.receivedAt);
    } finally {
      ch2.close();
    }
  });

  it("ctx.signal aborts when the client disconnects", async () => {
    let aborted: unknown;
    const s = new Server();
    s.addService(EchoService, {
      echo(_req, ctx) {
        return new Promise((resolve) => {
          ctx.signal.addEventListener("abort", () => {
            aborted = ctx.signal.reason;
            resolve({ message: "late" });
          });
        });
      },
    });
    await s.start("127.0.0.1:0");
    const c = new Channel(s.address, { maxRetry: 0, timeoutMs: 5000 });
    const p = settle(c.client(EchoService).echo({ message: "x" }));
    await eventually(() => s.concurrency === 1);
    c.close();
    await p;
    assert.ok(await eventually(() => aborted !== undefined));
    assert.ok(aborted instanceof RpcError);
    await s.stop(0);
  });
});

describe("limits", () => {
  it("server max_concurrency answers ELIMIT", async () => {
    const server = await startEchoServer({ maxConcurrency: 1 });
    const ch = new Channel(server.address, { maxRetry: 0, timeoutMs: 3000 });
    const echo = ch.client(EchoService);
    const slow = echo.echo({ message: "slow", sleepMs: 300 });
    await eventually(() => server.concurrency === 1);
    await rejectsWith(echo.echo({ message: "x" }), ErrorCode.ELIMIT, /Reached server's max_concurrency=1$/);
    assert.equal((await slow).message, "slow");
    assert.equal((await echo.echo({ message: "after" })).message, "after");
    ch.close();
    await server.stop(0);
  });

  it("per-method max concurrency answers ELIMIT", async () => {
    const server = new Server();
    server.addService(EchoService, (await import("../examples/interop/peer-service.js")).peerService, {
      maxConcurrency: { Echo: 1 },
    });
    await server.start("127.0.0.1:0");
    const ch = new Channel(server.address, { maxRetry: 0, timeoutMs: 3000 });
    const echo = ch.client(EchoService);
    const slow = echo.echo({ message: "slow", sleepMs: 300 });
    await eventually(() => server.concurrency === 1);
    await rejectsWith(
      echo.echo({ message: "x" }),
      ErrorCode.ELIMIT,
      /Rejected by example.EchoService.Echo's ConcurrencyLimiter, concurrency=1$/,
    );
    await slow;
    server.setMethodMaxConcurrency("example.EchoService.Echo", 0);
    ch.close();
    await server.stop(0);
  });

  it("a frame over max_body_size closes the connection; others keep working", async () => {
    const server = await startEchoServer({ maxBodySize: 1024 });
    const ch = new Channel(server.address, { maxRetry: 0, timeoutMs: 3000 });
    const other = new Channel(server.address, { maxRetry: 0, timeoutMs: 3000 });
    const echo = ch.client(EchoService);
    const e = await rejectsWith(
      echo.echo({ message: "big" }, { attachment: Buffer.alloc(4096) }),
      ErrorCode.EEOF,
    );
    assert.match(e.text, /Got EOF|closed/);
    assert.equal((await other.client(EchoService).echo({ message: "fine" })).message, "fine");
    // The failed channel reconnects for the next call.
    assert.equal((await echo.echo({ message: "small" })).message, "small");
    ch.close();
    other.close();
    await server.stop(0);
  });

  it("maxConcurrency naming an unknown method is rejected", () => {
    const s = new Server();
    assert.throws(
      () => s.addService(EchoService, {}, { maxConcurrency: { Nope: 1 } }),
      /has no method "Nope"/,
    );
  });

  it("idle timeout spares connections with requests in flight", async () => {
    const server = await startEchoServer({ idleTimeoutSec: 1 });
    const ch = new Channel(server.address, { maxRetry: 0, timeoutMs: 5000 });
    const res = await ch.client(EchoService).echo({ message: "slow", sleepMs: 2500 });
    assert.equal(res.message, "slow");
    ch.close();
    await server.stop(0);
  });

  it("idle connections are closed after idleTimeoutSec", async () => {
    const server = await startEchoServer({ idleTimeoutSec: 1 });
    const raw = await RawClient.connect(server.port);
    assert.ok(await raw.waitClosed(4000), "idle connection closed");
    assert.equal(server.connections.size, 0);
    await server.stop(0);
  });
});

describe("lifecycle", () => {
  it("listens on a unix socket", async () => {
    const dir = mkdtempSync(join(tmpdir(), "brpc-ts-"));
    const path = join(dir, "echo.sock");
    const server = await (async () => {
      const s = new Server();
      s.addService(EchoService, (await import("../examples/interop/peer-service.js")).peerService);
      await s.start(`unix:${path}`);
      return s;
    })();
    assert.equal(server.address, `unix:${path}`);
    const ch = new Channel(`unix:${path}`, { maxRetry: 0 });
    const cntl = new Controller();
    assert.equal(
      (await ch.client(EchoService).echo({ message: "uds" }, { controller: cntl })).message,
      "uds",
    );
    assert.equal(cntl.remoteSide, `unix:${path}`);
    ch.close();
    await server.stop(0);
  });

  it("port 0 picks a free port", async () => {
    const server = await startEchoServer();
    assert.ok(server.port > 0);
    assert.equal(server.address, `127.0.0.1:${server.port}`);
    await server.stop(0);
  });

  it("stop(): in-flight calls finish, new ones get ELOGOFF, then connections close", async () => {
    const server = await startEchoServer();
    const ch = new Channel(server.address, { maxRetry: 0, timeoutMs: 5000 });
    const echo = ch.client(EchoService);
    const inflight = echo.echo({ message: "in flight", sleepMs: 300 });
    await eventually(() => server.concurrency === 1);
    const stopped = server.stop(3000);
    await sleep(20);
    await rejectsWith(echo.echo({ message: "late" }), ErrorCode.ELOGOFF, /Server is stopping$/);
    assert.equal((await inflight).message, "in flight");
    await stopped;
    assert.equal(server.connections.size, 0);
    assert.equal(server.running, false);
    ch.close();
  });

  it("stop() gives up on handlers that outlive the grace period; a restart starts from zero", async () => {
    let release: (() => void) | undefined;
    const server = new Server({ maxConcurrency: 1 });
    server.addService(EchoService, {
      echo: (req) =>
        req.message === "never"
          ? new Promise((resolve) => {
              release = () => resolve({ message: "late" });
            })
          : { message: req.message },
    });
    await server.start("127.0.0.1:0");
    const ch = new Channel(server.address, { maxRetry: 0, timeoutMs: 5000 });
    const p = settle(ch.client(EchoService).echo({ message: "never" }));
    await eventually(() => server.concurrency === 1);
    await server.stop(100);
    const r = await p;
    assert.equal(r.ok, false);
    ch.close();
    await server.start("127.0.0.1:0");
    assert.equal(server.concurrency, 0);
    release?.(); // the abandoned handler finishing late must not corrupt the count
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(server.concurrency, 0);
    const ch2 = new Channel(server.address, { maxRetry: 0 });
    assert.equal((await ch2.client(EchoService).echo({ message: "fresh" })).message, "fresh");
    ch2.close();
    await server.stop(0);
  });

  it("can be restarted after stop()", async () => {
    const server = await startEchoServer();
    await server.stop(0);
    await server.start("127.0.0.1:0");
    const ch = new Channel(server.address, { maxRetry: 0 });
    assert.equal((await ch.client(EchoService).echo({ message: "again" })).message, "again");
    ch.close();
    await server.stop(0);
  });
});
