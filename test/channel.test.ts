/** Channel behaviour: connection types, timeouts, retries, cancellation, options on the wire. */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { EchoService } from "../examples/gen/peer_pb.js";
import { peerService } from "../examples/interop/peer-service.js";
import { type Authenticator, Channel, Controller, ErrorCode, Server } from "../src/index.js";
import { timers } from "../src/io/timers.js";
import { eventually, failure, settle, startEchoServer } from "./helpers/servers.js";

describe("connection types", () => {
  let server: Server;
  before(async () => {
    server = await startEchoServer();
  });
  after(() => server.stop(0));

  for (const type of ["single", "pooled", "short"] as const) {
    it(`${type}: concurrent calls succeed`, async () => {
      const ch = new Channel(server.address, { connectionType: type, maxRetry: 0, timeoutMs: 3000 });
      const echo = ch.client(EchoService);
      const res = await Promise.all(
        Array.from({ length: 20 }, (_, i) => echo.echo({ message: `m${i}`, sleepMs: 20 })),
      );
      for (const [i, r] of res.entries()) assert.equal(r.message, `m${i}`);
      if (type === "single") assert.equal(server.connections.size, 1);
      if (type === "pooled")
        assert.ok(server.connections.size >= 2, `${server.connections.size} connections`);
      ch.close();
      assert.ok(await eventually(() => server.connections.size === 0));
    });
  }

  it("pooled: connections are reused for sequential calls", async () => {
    const ch = new Channel(server.address, { connectionType: "pooled", maxRetry: 0 });
    const echo = ch.client(EchoService);
    for (let i = 0; i < 5; i++) await echo.echo({ message: "x" });
    assert.equal(server.connections.size, 1);
    ch.close();
    await eventually(() => server.connections.size === 0);
  });

  it("close() fails calls that are still connecting, for every connection type", async () => {
    for (const connectionType of ["single", "pooled", "short"] as const) {
      const ch = new Channel(server.address, { connectionType, maxRetry: 0 });
      const p = settle(ch.client(EchoService).echo({ message: "x" }));
      ch.close();
      const r = await p;
      assert.equal(r.ok, false, connectionType);
    }
    assert.ok(await eventually(() => server.connections.size === 0));
  });

  it("short: each call's connection is closed afterwards", async () => {
    const ch = new Channel(server.address, { connectionType: "short", maxRetry: 0 });
    await ch.client(EchoService).echo({ message: "x" });
    assert.ok(await eventually(() => server.connections.size === 0));
    ch.close();
  });
});

describe("failures, timeouts and retries", () => {
  it("ECONNREFUSED is retried maxRetry times, texts accumulate as brpc's", async () => {
    const probe = await startEchoServer();
    const addr = probe.address;
    await probe.stop(0);
    const ch = new Channel(addr, { maxRetry: 2, timeoutMs: 3000 });
    const cntl = new Controller();
    const e = await failure(ch.client(EchoService).echo({ message: "x" }, { controller: cntl }));
    assert.equal(e.code, ErrorCode.ECONNREFUSED);
    assert.equal(cntl.retriedCount, 2);
    assert.match(e.text, /^\[E111\]Fail to connect .* \[R1\]\[E111\].* \[R2\]\[E111\]/);
    ch.close();
  });

  const hasPython = spawnSync("python3", ["--version"]).status === 0;
  it("connect timeout gives ETIMEDOUT", {
    skip: hasPython ? false : "python3 is not installed (.ci/run installs it)",
  }, async () => {
    // A listener that never accepts and has a full accept queue drops SYNs, so connects hang.
    const py = spawn(
      "python3",
      [
        "-c",
        "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(30)",
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    try {
      const port = Number(
        await new Promise<string>((r) => py.stdout.once("data", (d: Buffer) => r(d.toString()))),
      );
      const fillers: Socket[] = [];
      for (let i = 0; i < 4; i++) {
        const s = connect({ host: "127.0.0.1", port });
        s.on("error", () => {});
        fillers.push(s);
      }
      await new Promise((r) => setTimeout(r, 100));
      const ch = new Channel(`127.0.0.1:${port}`, { maxRetry: 0, connectTimeoutMs: 100, timeoutMs: 3000 });
      const e = await failure(ch.client(EchoService).echo({ message: "x" }));
      assert.equal(e.code, ErrorCode.ETIMEDOUT, e.text);
      assert.equal(e.text, `[E110]Fail to connect 127.0.0.1:${port}: Connection timed out`);
      ch.close();
      for (const s of fillers) s.destroy();
    } finally {
      py.kill("SIGKILL");
    }
  });

  it("ERPCTIMEDOUT with brpc's text, never retried; the connection stays usable", async () => {
    const server = await startEchoServer();
    const ch = new Channel(server.address, { maxRetry: 3, timeoutMs: 2000 });
    const cntl = new Controller();
    const echo = ch.client(EchoService);
    const e = await failure(
      echo.echo({ message: "slow", sleepMs: 300 }, { timeoutMs: 100, controller: cntl }),
    );
    assert.equal(e.code, ErrorCode.ERPCTIMEDOUT);
    assert.equal(e.text, `[E1008]Reached timeout=100ms @${server.address}`);
    assert.equal(cntl.retriedCount, 0);
    // The late response is dropped; the same connection serves the next call.
    assert.equal((await echo.echo({ message: "next" })).message, "next");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await echo.echo({ message: "after late" })).message, "after late");
    assert.equal(server.connections.size, 1);
    ch.close();
    await server.stop(0);
  });

  it("retryable server errors (ELOGOFF, ELIMIT) are retried; others are not", async () => {
    let calls = 0;
    const server = new Server();
    server.addService(EchoService, {
      echo(req, ctx) {
        calls++;
        if (req.message === "flaky" && calls <= 2)
          ctx.setFailed(calls === 1 ? ErrorCode.ELOGOFF : ErrorCode.ELIMIT);
        if (req.message === "internal") ctx.setFailed(ErrorCode.EINTERNAL, "nope");
        return { message: req.message };
      },
    });
    await server.start("127.0.0.1:0");
    const ch = new Channel(server.address, { maxRetry: 3 });
    const cntl = new Controller();
    assert.equal(
      (await ch.client(EchoService).echo({ message: "flaky" }, { controller: cntl })).message,
      "flaky",
    );
    assert.equal(cntl.retriedCount, 2);
    calls = 0;
    const c2 = new Controller();
    const e = await failure(ch.client(EchoService).echo({ message: "internal" }, { controller: c2 }));
    assert.equal(e.code, ErrorCode.EINTERNAL);
    assert.equal(c2.retriedCount, 0);
    assert.equal(calls, 1);
    ch.close();
    await server.stop(0);
  });

  it("a custom retry policy decides, but never for ERPCTIMEDOUT", async () => {
    let calls = 0;
    const server = new Server();
    server.addService(EchoService, {
      echo(req, ctx) {
        calls++;
        if (calls === 1) ctx.setFailed(ErrorCode.EINTERNAL, "first");
        return { message: req.message };
      },
    });
    await server.start("127.0.0.1:0");
    const ch = new Channel(server.address, {
      maxRetry: 1,
      retryPolicy: (code) => code === ErrorCode.EINTERNAL,
    });
    assert.equal((await ch.client(EchoService).echo({ message: "ok" })).message, "ok");
    assert.equal(calls, 2);
    assert.equal(ch.retryable(ErrorCode.ERPCTIMEDOUT), false);
    ch.close();
    await server.stop(0);
  });

  it("AbortSignal cancels with ECANCELED, before or during the call", async () => {
    const server = await startEchoServer();
    const ch = new Channel(server.address, { maxRetry: 3, timeoutMs: 3000 });
    const echo = ch.client(EchoService);
    const ac = new AbortController();
    const p = echo.echo({ message: "slow", sleepMs: 500 }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    const e = await failure(p);
    assert.equal(e.code, ErrorCode.ECANCELED);
    const e2 = await failure(echo.echo({ message: "x" }, { signal: AbortSignal.abort() }));
    assert.equal(e2.code, ErrorCode.ECANCELED);
    assert.equal(timers.size, 0, "no timer left behind");
    ch.close();
    await server.stop(0);
  });

  it("resolves host names (host:port)", async () => {
    const server = await startEchoServer();
    const ch = new Channel(`localhost:${server.port}`, { maxRetry: 0 });
    const cntl = new Controller();
    assert.equal(
      (await ch.client(EchoService).echo({ message: "dns" }, { controller: cntl })).message,
      "dns",
    );
    assert.match(cntl.remoteSide, /:\d+$/);
    ch.close();
    await server.stop(0);
  });

  it("rejects malformed addresses with a clear error", () => {
    assert.throws(() => new Channel("no-port"), /bad address "no-port"/);
    assert.throws(() => new Channel("127.0.0.1:99999"), /port out of range/);
    assert.throws(() => new Channel("127.0.0.1:0"), /port 0/);
  });

  it("bad call options reject with EINVAL instead of throwing", async () => {
    const ch = new Channel("127.0.0.1:1", { maxRetry: 0 });
    const echo = ch.client(EchoService);
    const e1 = await failure(echo.echo({ message: "x" }, { logId: 1.5 }));
    assert.equal(e1.code, ErrorCode.EINVAL);
    const e2 = await failure(echo.echo({ message: "x" }, { compressType: "lzma" }));
    assert.equal(e2.code, ErrorCode.EINVAL);
    assert.match(e2.text, /unknown compressor "lzma"/);
    const cntl = new Controller();
    const e3 = await failure(echo.echo({ message: "x" }, { compressType: 4, controller: cntl }));
    assert.equal(e3.code, ErrorCode.EINVAL);
    assert.match(e3.text, /no compressor is registered for compress type 4/);
    assert.equal(cntl.errorCode, ErrorCode.EINVAL);
    assert.equal(cntl.errorText, e3.text);
    ch.close();
  });

  it("a request missing required fields fails before it is sent", async () => {
    const server = await startEchoServer();
    const ch = new Channel(server.address, { maxRetry: 0 });
    const e = await failure(ch.client(EchoService).echo({} as { message: string }));
    assert.equal(e.code, ErrorCode.EREQUEST);
    assert.equal(e.text, "[E1003]Missing required fields in request: message");
    assert.equal((await ch.client(EchoService).echo({ message: "ok" })).message, "ok");
    ch.close();
    await server.stop(0);
  });

  it("a closed channel fails calls with EINVAL", async () => {
    const ch = new Channel("127.0.0.1:1", {});
    ch.close();
    const e = await failure(ch.client(EchoService).echo({ message: "x" }));
    assert.equal(e.code, ErrorCode.EINVAL);
  });
});

describe("what goes on the wire", () => {
  let server: Server;
  before(async () => {
    server = await startEchoServer();
  });
  after(() => server.stop(0));

  for (const c of ["snappy", "gzip", "zlib"] as const) {
    it(`compression ${c} in both directions`, async () => {
      const ch = new Channel(server.address, { maxRetry: 0, compressType: c });
      const cntl = new Controller();
      const big = "x".repeat(10000);
      const res = await ch
        .client(EchoService)
        .echo({ message: big }, { controller: cntl, attachment: "att" });
      assert.equal(res.message, big);
      assert.equal(cntl.responseCompressType, { snappy: 1, gzip: 2, zlib: 3 }[c]);
      assert.equal(cntl.responseAttachment.toString(), "att");
      ch.close();
    });
  }

  it("CRC32C checksums in both directions", async () => {
    const s = new Server();
    s.addService(EchoService, {
      echo(req, ctx) {
        ctx.responseChecksum = true;
        ctx.responseAttachment = ctx.requestAttachment;
        return { message: req.message };
      },
    });
    await s.start("127.0.0.1:0");
    const ch = new Channel(s.address, { maxRetry: 0, checksum: true, compressType: "gzip" });
    const cntl = new Controller();
    const res = await ch.client(EchoService).echo({ message: "sum" }, { controller: cntl, attachment: "a" });
    assert.equal(res.message, "sum");
    assert.equal(cntl.responseAttachment.toString(), "a");
    ch.close();
    await s.stop(0);
  });

  it("json and proto-json content types", async () => {
    for (const contentType of ["json", "proto-json"] as const) {
      const ch = new Channel(server.address, { maxRetry: 0, contentType });
      const res = await ch.client(EchoService).echo({ message: `via ${contentType}` });
      assert.equal(res.message, `via ${contentType}`);
      ch.close();
    }
  });

  it("untyped bytes calls", async () => {
    const raw = new Server();
    raw.addRawService("test.RawService", {
      Reverse: (req) => Buffer.from(req).reverse(),
      Text: () => "text body",
    });
    await raw.start("127.0.0.1:0");
    const ch = new Channel(raw.address, { maxRetry: 0 });
    assert.deepEqual(
      await ch.callRaw("test.RawService", "Reverse", Buffer.from([1, 2, 3])),
      Buffer.from([3, 2, 1]),
    );
    assert.equal((await ch.callRaw("RawService", "Text", Buffer.alloc(0))).toString(), "text body");
    ch.close();
    await raw.stop(0);
  });
});

describe("authentication", () => {
  const auth: Authenticator = {
    generateCredential: () => "secret",
    verifyCredential: (cred) => (cred.toString() === "secret" ? { user: "alice" } : false),
  };

  it("accepts a good credential and exposes the auth context", async () => {
    let user: string | undefined;
    const server = new Server({ auth });
    server.addService(EchoService, {
      echo(req, ctx) {
        user = ctx.authContext?.user;
        return { message: req.message };
      },
    });
    await server.start("127.0.0.1:0");
    const ch = new Channel(server.address, { auth, maxRetry: 0 });
    const echo = ch.client(EchoService);
    await Promise.all([echo.echo({ message: "a" }), echo.echo({ message: "b" })]);
    assert.equal(user, "alice");
    ch.close();
    await server.stop(0);
  });

  it("rejects a bad credential with ERPCAUTH and closes the connection", async () => {
    const server = new Server({ auth });
    server.addService(EchoService, peerService);
    await server.start("127.0.0.1:0");
    const ch = new Channel(server.address, { auth: { generateCredential: () => "wrong" }, maxRetry: 0 });
    const e = await failure(ch.client(EchoService).echo({ message: "x" }));
    assert.equal(e.code, ErrorCode.ERPCAUTH);
    assert.match(e.text, /Fail to authenticate/);
    assert.ok(await eventually(() => server.connections.size === 0));
    // No credential at all is rejected too.
    const anon = new Channel(server.address, { maxRetry: 0 });
    assert.equal((await failure(anon.client(EchoService).echo({ message: "x" }))).code, ErrorCode.ERPCAUTH);
    ch.close();
    anon.close();
    await server.stop(0);
  });

  it("a first call that cannot be serialized does not lose the credential", async () => {
    const server = new Server({ auth });
    server.addService(EchoService, peerService);
    await server.start("127.0.0.1:0");
    const ch = new Channel(server.address, { auth, maxRetry: 0 });
    const echo = ch.client(EchoService);
    // Connect first, then make the first request on the connection fail to serialize.
    await ch.source.acquire(1000);
    const bad = await failure(echo.echo({} as { message: string }));
    assert.equal(bad.code, ErrorCode.EREQUEST);
    assert.equal((await echo.echo({ message: "authed" })).message, "authed");
    ch.close();
    await server.stop(0);
  });

  it("supports asynchronous verification", async () => {
    const server = new Server({
      auth: {
        verifyCredential: async (cred) => {
          await new Promise((r) => setTimeout(r, 20));
          return cred.toString() === "secret";
        },
      },
    });
    server.addService(EchoService, peerService);
    await server.start("127.0.0.1:0");
    const ch = new Channel(server.address, { auth, maxRetry: 0 });
    const echo = ch.client(EchoService);
    const res = await Promise.all(Array.from({ length: 5 }, (_, i) => echo.echo({ message: `m${i}` })));
    assert.deepEqual(
      res.map((r) => r.message),
      ["m0", "m1", "m2", "m3", "m4"],
    );
    ch.close();
    await server.stop(0);
  });
});
