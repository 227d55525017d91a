/**
 * rpcz: spans of server and client calls over baidu_std, HTTP, h2 and gRPC, trace
 * propagation (ids in baidu_std meta fields 4/5/6 and x-bd-* headers, checked on the wire),
 * the bounded store, sampling, and the /rpcz pages (filters, trace view, escaping,
 * enable/disable).
 */
import assert from "node:assert/strict";
import { createServer as createHttpServer, type IncomingHttpHeaders } from "node:http";
import { connect, createServer as createNetServer, type Server as NetServer } from "node:net";
import { after, afterEach, beforeEach, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { EchoService } from "../examples/gen/peer_pb.js";
import {
  Channel,
  clearRpczSpans,
  configureRpcz,
  currentSpan,
  DEFAULT_MAX_SPANS,
  ErrorCode,
  isRpczEnabled,
  RpcError,
  rpczSpans,
  Server,
  type ServerContext,
  type ServerOptions,
  type Span,
  setRpczEnabled,
} from "../src/index.js";
import { hexId, parseSpanId } from "../src/rpcz/format.js";
import { BROWSER, CURL, get } from "./helpers/builtin-http.js";
import { loadCapture, splitFrames, stream } from "./helpers/captures.js";

const servers: Server[] = [];
const channels: Channel[] = [];

afterEach(async () => {
  for (const c of channels.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.stop(0);
  setRpczEnabled(false);
  configureRpcz({ maxSpans: DEFAULT_MAX_SPANS, asyncContext: true, maxTracesPerSecond: 0 });
  clearRpczSpans();
});

beforeEach(() => {
  configureRpcz({ maxTracesPerSecond: 0 });
  clearRpczSpans();
});

type EchoImpl = (message: string, ctx: ServerContext) => Promise<string> | string;

/** A server with EchoService answering with `impl`. */
async function echoServer(impl: EchoImpl, options: ServerOptions = {}): Promise<Server> {
  const s = new Server(options);
  s.addService(EchoService, {
    async echo(req, ctx) {
      return { message: await impl(req.message, ctx) };
    },
  });
  await s.start("127.0.0.1:0");
  servers.push(s);
  return s;
}

function channel(address: string, protocol = "baidu_std", rpcz?: boolean): Channel {
  const c = new Channel(address, { protocol, timeoutMs: 5000, maxRetry: 0, ...(rpcz ? { rpcz } : {}) });
  channels.push(c);
  return c;
}

function serverSpans(): Span[] {
  return rpczSpans().filter((s) => s.kind === "server");
}

function clientSpans(): Span[] {
  return rpczSpans().filter((s) => s.kind === "client");
}

/** A TCP proxy to `port` that keeps what the client sent. */
async function recordingProxy(port: number): Promise<{ port: number; sent: Buffer[]; close(): void }> {
  const sent: Buffer[] = [];
  const socks = new Set<import("node:net").Socket>();
  const proxy: NetServer = createNetServer((c) => {
    const up = connect({ port, host: "127.0.0.1" });
    socks.add(c);
    socks.add(up);
    c.on("data", (d: Buffer) => {
      sent.push(Buffer.from(d));
      up.write(d);
    });
    up.pipe(c);
    c.on("error", () => up.destroy());
    up.on("error", () => c.destroy());
    c.on("close", () => up.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  const addr = proxy.address() as { port: number };
  return {
    port: addr.port,
    sent,
    close() {
      for (const s of socks) s.destroy();
      proxy.close();
    },
  };
}

/** Protobuf fields of `buf` as [field number, wire type, value]: varints as bigint, LEN as Buffer. */
function fields(buf: Buffer): [number, number, bigint | Buffer][] {
  const out: [number, number, bigint | Buffer][] = [];
  let p = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[p++] as number;
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
      shift += 7n;
    }
  };
  while (p < buf.length) {
    const tag = Number(varint());
    const wt = tag & 7;
    if (wt === 0) out.push([tag >>> 3, wt, varint()]);
    else if (wt === 2) {
      const len = Number(varint());
      out.push([tag >>> 3, wt, buf.subarray(p, p + len)]);
      p += len;
    } else throw new Error(`unexpected wire type ${wt}`);
  }
  return out;
}

/** RpcRequestMeta fields of the first request frame in a client byte stream. */
function requestMetaFields(bytes: Buffer): [number, number, bigint | Buffer][] {
  const frame = splitFrames(bytes)[0];
  assert.ok(frame !== undefined && frame.magic === "PRPC");
  const req = fields(frame.meta).find((f) => f[0] === 1);
  assert.ok(req !== undefined, "no request meta");
  return fields(req[2] as Buffer);
}

describe("rpcz spans", () => {
  it("a baidu_std call to a server with rpcz on: one server span with the call's fields", async () => {
    const s = await echoServer(
      async (m, ctx) => {
        ctx.annotate("step one");
        await sleep(5);
        return `re:${m}`;
      },
      { rpcz: true },
    );
    const ch = channel(s.address);
    const r = await ch.client(EchoService).echo({ message: "hello" }, { logId: 77n });
    assert.equal(r.message, "re:hello");
    const spans = rpczSpans();
    assert.equal(spans.length, 1, "the channel does not trace (rpcz is off process-wide)");
    const sp = spans[0] as Span;
    assert.equal(sp.kind, "server");
    assert.equal(sp.protocol, "baidu_std");
    assert.equal(sp.method, "example.EchoService.Echo");
    assert.equal(sp.logId, 77n);
    assert.ok(sp.traceId > 0n && sp.spanId > 0n, "new ids for a request without any");
    assert.equal(sp.parentSpanId, 0n);
    assert.equal(sp.errorCode, 0);
    assert.equal(sp.requestSize, 7, "EchoRequest{message: hello}");
    assert.equal(sp.responseSize, 10, "EchoResponse{message: re:hello}");
    assert.match(sp.remoteSide, /^127\.0\.0\.1:\d+$/);
    assert.ok(sp.startUs <= sp.callbackUs && sp.callbackUs <= sp.leaveUs && sp.leaveUs <= sp.sentUs);
    assert.ok(sp.latencyUs >= 4000, `latency ${sp.latencyUs}us covers the 5 ms sleep`);
    assert.deepEqual(
      sp.annotations?.map((a) => a.text),
      ["step one"],
    );
    assert.ok(Math.abs(sp.startUs / 1000 - Date.now()) < 10_000, "wall-clock microseconds");
  });

  it("a failed call keeps its error code and text", async () => {
    const s = await echoServer(
      () => {
        throw new RpcError(ErrorCode.EREQUEST, "bad input");
      },
      { rpcz: true },
    );
    await assert.rejects(channel(s.address).client(EchoService).echo({ message: "x" }));
    const sp = serverSpans()[0] as Span;
    assert.equal(sp.errorCode, ErrorCode.EREQUEST);
    assert.match(sp.errorText, /bad input/);
    assert.equal(sp.responseSize, 0, "a failed baidu_std response has no payload");
  });

  it("a call rejected before the handler (unknown method) is traced too", async () => {
    const s = await echoServer((m) => m, { rpcz: true });
    await assert.rejects(channel(s.address).callRaw("example.EchoService", "Nope", Buffer.alloc(0)));
    const sp = serverSpans()[0] as Span;
    assert.equal(sp.errorCode, ErrorCode.ENOMETHOD);
    assert.equal(sp.method, "example.EchoService.Nope");
    assert.equal(sp.callbackUs, 0, "the handler never ran");
  });

  for (const protocol of ["http", "h2", "h2:grpc"]) {
    it(`server and client spans over ${protocol}`, async () => {
      setRpczEnabled(true);
      const s = await echoServer((m) => `re:${m}`);
      const r = await channel(s.address, protocol)
        .client(EchoService)
        .echo({ message: "hello" }, { logId: 5 });
      assert.equal(r.message, "re:hello");
      const [server] = serverSpans();
      const [client] = clientSpans();
      assert.ok(server !== undefined && client !== undefined);
      assert.equal(server.protocol, protocol);
      assert.equal(client.protocol, protocol);
      assert.equal(server.method, "example.EchoService.Echo");
      assert.equal(client.method, "example.EchoService.Echo");
      // The server continues the client's span: same trace and span id (as brpc).
      assert.equal(server.traceId, client.traceId);
      assert.equal(server.spanId, client.spanId);
      assert.equal(server.parentSpanId, 0n);
      assert.equal(server.logId, 5n);
      assert.equal(client.logId, 5n);
      assert.ok(server.requestSize > 0 && server.responseSize > 0);
      assert.equal(client.requestSize, server.requestSize);
      assert.equal(client.responseSize, server.responseSize);
      assert.equal(client.remoteSide, s.address);
      assert.ok(client.startUs <= client.sentUs && client.sentUs <= client.receivedUs);
      assert.ok(client.startUs <= server.startUs && server.sentUs <= client.endUs);
    });
  }

  it("rpcz off: nothing is recorded and no ids are sent (baidu_std bytes, HTTP headers)", async () => {
    let seen: (bigint | undefined)[] = [];
    const s = await echoServer((m, ctx) => {
      seen = [ctx.traceId, ctx.spanId, ctx.parentSpanId];
      return m;
    });
    const proxy = await recordingProxy(s.port);
    try {
      await channel(`127.0.0.1:${proxy.port}`).client(EchoService).echo({ message: "x" }, { logId: 9 });
    } finally {
      proxy.close();
    }
    assert.deepEqual(seen, [undefined, undefined, undefined]);
    const meta = requestMetaFields(Buffer.concat(proxy.sent));
    assert.deepEqual(
      meta.map((f) => f[0]),
      [1, 2, 3],
      "service, method, log_id only",
    );
    await channel(s.address, "http").client(EchoService).echo({ message: "x" });
    await channel(s.address, "h2:grpc").client(EchoService).echo({ message: "x" });
    assert.deepEqual(seen, [undefined, undefined, undefined]);
    assert.equal(rpczSpans().length, 0);
  });

  it("a brpc client with rpcz off sends no ids either (capture baidu_std_echo)", () => {
    const meta = requestMetaFields(stream(loadCapture("baidu_std_echo"), 0, "c2s"));
    assert.deepEqual(
      meta.map((f) => f[0]),
      [1, 2, 3],
    );
  });

  it("the store keeps the newest maxSpans spans", async () => {
    const s = await echoServer((m) => m, { rpcz: { maxSpans: 5 } });
    const c = channel(s.address).client(EchoService);
    for (let i = 0; i < 12; i++) await c.echo({ message: "x" }, { logId: i });
    const spans = rpczSpans();
    assert.equal(spans.length, 5);
    assert.deepEqual(
      spans.map((sp) => sp.logId),
      [11n, 10n, 9n, 8n, 7n],
    );
    configureRpcz({ maxSpans: 3 });
    assert.deepEqual(
      rpczSpans().map((sp) => sp.logId),
      [11n, 10n, 9n],
    );
    assert.throws(() => configureRpcz({ maxSpans: 0 }), RangeError);
  });

  it("new traces are sampled to maxTracesPerSecond; traced requests always are", async () => {
    const s = await echoServer((m) => m, { rpcz: { maxTracesPerSecond: 2 } });
    const c = channel(s.address).client(EchoService);
    for (let i = 0; i < 20; i++) await c.echo({ message: "x" });
    const n = rpczSpans().length;
    // 2 per second; the loop may straddle one tick of the sampler.
    assert.ok(n >= 2 && n <= 4, `${n} spans`);
    // A client with rpcz on sends ids: every such call is traced by the server.
    clearRpczSpans();
    const traced = channel(s.address, "baidu_std", true).client(EchoService);
    configureRpcz({ maxTracesPerSecond: 0 }); // the client's own root spans
    for (let i = 0; i < 10; i++) await traced.echo({ message: "x" });
    // Calls made in a running span are part of its trace: never sampled out.
    configureRpcz({ maxTracesPerSecond: 1 });
    const running = { traceId: 42n, spanId: 43n, endUs: 0 } as unknown as Span;
    for (let i = 0; i < 5; i++) await c.echo({ message: "x" }, { parentSpan: running });
    assert.equal(serverSpans().length, 15);
  });

  it("Span.annotate keeps at most 64 annotations, cut to 1024 characters", async () => {
    const s = await echoServer(
      (m, ctx) => {
        for (let i = 0; i < 70; i++) ctx.annotate(i === 0 ? "y".repeat(5000) : `n${i}`);
        return m;
      },
      { rpcz: true },
    );
    await channel(s.address).client(EchoService).echo({ message: "x" });
    const sp = serverSpans()[0] as Span;
    assert.equal(sp.annotations?.length, 64);
    assert.equal(sp.annotations?.[0]?.text.length, 1024);
    assert.equal(sp.droppedAnnotations, 6);
  });
});

describe("rpcz trace propagation", () => {
  for (const protocol of ["baidu_std", "http", "h2", "h2:grpc"]) {
    it(`a call from A's handler to B carries A's trace, a new span and A's span as parent (${protocol})`, async () => {
      let atB: (bigint | undefined)[] = [];
      const b = await echoServer((m, ctx) => {
        atB = [ctx.traceId, ctx.spanId, ctx.parentSpanId];
        ctx.annotate("at B");
        return `B(${m})`;
      });
      const toB = channel(b.address, protocol).client(EchoService);
      let aSpan: Span | undefined;
      const a = await echoServer(
        async (m, ctx) => {
          aSpan = ctx.span;
          await sleep(1); // the span follows the handler across awaits
          return `A(${(await toB.echo({ message: m })).message})`;
        },
        { rpcz: true },
      );
      const r = await channel(a.address).client(EchoService).echo({ message: "x" });
      assert.equal(r.message, "A(B(x))");
      assert.ok(aSpan !== undefined);
      const [bTrace, bSpan, bParent] = atB;
      assert.equal(bTrace, aSpan.traceId, "B sees A's trace id");
      assert.equal(bParent, aSpan.spanId, "B's parent span is A's server span");
      assert.ok(bSpan !== undefined && bSpan !== aSpan.spanId, "a new span id");
      // B has rpcz off but continues the trace it was given (brpc IsTraceable).
      const bServer = serverSpans().find((s) => s.spanId === bSpan);
      const aClient = clientSpans()[0];
      assert.ok(bServer !== undefined && aClient !== undefined);
      assert.equal(bServer.traceId, aSpan.traceId);
      assert.equal(bServer.parentSpanId, aSpan.spanId);
      assert.equal(aClient.spanId, bSpan);
      assert.equal(aClient.parentSpanId, aSpan.spanId);
      assert.equal(bServer.annotations?.[0]?.text, "at B");
      assert.equal(rpczSpans().length, 3);
    });
  }

  it("the baidu_std request carries trace_id=4, span_id=5, parent_span_id=6 (bytes on the wire)", async () => {
    const b = await echoServer((m) => m);
    const proxy = await recordingProxy(b.port);
    const toB = channel(`127.0.0.1:${proxy.port}`).client(EchoService);
    let aSpan: Span | undefined;
    const a = await echoServer(
      async (m, ctx) => {
        aSpan = ctx.span;
        return (await toB.echo({ message: m }, { logId: 3 })).message;
      },
      { rpcz: true },
    );
    try {
      await channel(a.address).client(EchoService).echo({ message: "x" });
    } finally {
      proxy.close();
    }
    const meta = requestMetaFields(Buffer.concat(proxy.sent));
    assert.deepEqual(
      meta.map((f) => f[0]),
      [1, 2, 3, 4, 5, 6],
    );
    const byNo = new Map(meta.map((f) => [f[0], f[2]]));
    const client = clientSpans()[0] as Span;
    assert.equal(byNo.get(3), 3n);
    assert.equal(byNo.get(4), aSpan?.traceId);
    assert.equal(byNo.get(5), client.spanId);
    assert.equal(byNo.get(6), aSpan?.spanId);
    for (const n of [4, 5, 6]) assert.ok(meta.find((f) => f[0] === n)?.[1] === 0, "varints");
  });

  it("ids of 64 bits survive baidu_std (int64 on the wire, unsigned in spans)", async () => {
    let atB: (bigint | undefined)[] = [];
    const b = await echoServer((m, ctx) => {
      atB = [ctx.traceId, ctx.spanId, ctx.parentSpanId];
      return m;
    });
    const ch = channel(b.address, "baidu_std", true);
    const big = 0xfedcba9876543210n;
    // A parent span of our making: an ended one is ignored, a running one is followed.
    const parent = { traceId: big, spanId: 0x8000000000000001n, endUs: 0 } as unknown as Span;
    await ch.client(EchoService).echo({ message: "x" }, { parentSpan: parent });
    assert.equal(atB[0], big);
    assert.equal(atB[2], 0x8000000000000001n);
    assert.equal(serverSpans()[0]?.traceId, big);
  });

  it("x-bd-* headers are read (decimal) and continue the trace on a server with rpcz off", async () => {
    let ctxIds: (bigint | undefined)[] = [];
    const s = await echoServer((m, ctx) => {
      ctxIds = [ctx.traceId, ctx.spanId, ctx.parentSpanId, ctx.span?.traceId];
      return m;
    });
    const r = await fetch(`http://${s.address}/example.EchoService/Echo`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-bd-trace-id": "18446744073709551615",
        "x-bd-span-id": "456",
        "x-bd-parent-span-id": "789",
      },
      body: JSON.stringify({ message: "m" }),
    });
    assert.equal(r.status, 200);
    assert.deepEqual(ctxIds, [18446744073709551615n, 456n, 789n, 18446744073709551615n]);
    const sp = serverSpans()[0] as Span;
    assert.equal(sp.spanId, 456n);
    assert.equal(sp.parentSpanId, 789n);
    assert.equal(sp.protocol, "http");
  });

  it("an HTTP channel with rpcz writes x-bd-trace-id / x-bd-span-id / x-bd-parent-span-id in decimal", async () => {
    let headers: IncomingHttpHeaders = {};
    const plain = createHttpServer((req, res) => {
      headers = req.headers;
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: "ok" }));
      });
    });
    await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
    try {
      const port = (plain.address() as { port: number }).port;
      await channel(`127.0.0.1:${port}`, "http", true).client(EchoService).echo({ message: "x" });
      const sp = clientSpans()[0] as Span;
      assert.equal(headers["x-bd-trace-id"], sp.traceId.toString());
      assert.equal(headers["x-bd-span-id"], sp.spanId.toString());
      assert.equal(headers["x-bd-parent-span-id"], "0");
      // Without rpcz: none of them.
      await channel(`127.0.0.1:${port}`, "http").client(EchoService).echo({ message: "x" });
      assert.equal(headers["x-bd-trace-id"], undefined);
      assert.equal(headers["x-bd-span-id"], undefined);
      assert.equal(headers["x-bd-parent-span-id"], undefined);
    } finally {
      plain.close();
    }
  });

  it("asyncContext off: the span is current only until the first await; parentSpan links explicitly", async () => {
    configureRpcz({ asyncContext: false });
    const parents: (bigint | undefined)[] = [];
    const b = await echoServer((m, ctx) => {
      parents.push(ctx.parentSpanId);
      return m;
    });
    const toB = channel(b.address).client(EchoService);
    let aSpan: Span | undefined;
    let syncCurrent: Span | undefined;
    const a = await echoServer(
      async (m, ctx) => {
        aSpan = ctx.span;
        syncCurrent = currentSpan();
        const first = toB.echo({ message: m }); // issued synchronously: linked
        await first;
        await toB.echo({ message: m }); // after an await: not linked, not traced (rpcz off)
        await toB.echo({ message: m }, { parentSpan: ctx.span }); // explicit
        return m;
      },
      { rpcz: true },
    );
    await channel(a.address).client(EchoService).echo({ message: "x" });
    assert.equal(syncCurrent, aSpan);
    assert.deepEqual(parents, [aSpan?.spanId, undefined, aSpan?.spanId]);
    assert.equal(currentSpan(), undefined);
  });

  it("a peer's trace ids do not switch on AsyncLocalStorage on a server with rpcz off", async () => {
    const parents: (bigint | undefined)[] = [];
    const c = await echoServer((m, ctx) => {
      parents.push(ctx.parentSpanId);
      return m;
    });
    const toC = channel(c.address).client(EchoService);
    let bSpan: Span | undefined;
    // B: rpcz off, asyncContext left at its default (true).
    const b = await echoServer(async (m, ctx) => {
      bSpan = ctx.span;
      const first = toC.echo({ message: m }); // issued synchronously: linked
      await first;
      await toC.echo({ message: m }); // after an await: B's span is not followed
      return m;
    });
    const r = await fetch(`http://${b.address}/example.EchoService/Echo`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-bd-trace-id": "77", "x-bd-span-id": "78" },
      body: JSON.stringify({ message: "m" }),
    });
    assert.equal(r.status, 200);
    assert.equal(bSpan?.traceId, 77n, "the peer's trace is continued (brpc IsTraceable)");
    assert.deepEqual(parents, [bSpan?.spanId, undefined]);
  });

  it("a client call after the handler's span ended starts no child of it", async () => {
    const b = await echoServer((_m, ctx) => String(ctx.parentSpanId ?? "none"));
    const toB = channel(b.address).client(EchoService);
    let later: Promise<{ message: string }> | undefined;
    const a = await echoServer(
      (m) => {
        later = sleep(20).then(() => toB.echo({ message: m }));
        return m;
      },
      { rpcz: true },
    );
    await channel(a.address).client(EchoService).echo({ message: "x" });
    assert.equal((await later!).message, "none");
  });
});

describe("/rpcz pages", () => {
  after(() => setRpczEnabled(false));

  it("says how to turn rpcz on while it is off", async () => {
    const s = await echoServer((m) => m);
    const page = await get(s.port, "/rpcz", CURL);
    assert.equal(page.status, 200);
    assert.match(page.body, /rpcz is off/);
    assert.match(page.body, /ServerOptions\.rpcz/);
    assert.match(page.body, /\/rpcz\/enable/);
    const html = await get(s.port, "/rpcz", BROWSER);
    assert.match(html.body, /id="rpcz-off"/);
  });

  it("lists spans newest first with brpc's filters; builtin pages are not traced", async () => {
    const s = await echoServer(
      async (m, ctx) => {
        if (m === "slow") await sleep(60);
        if (m === "fail") ctx.setFailed(ErrorCode.EINTERNAL, "failed on purpose");
        return m;
      },
      { rpcz: true },
    );
    const c = channel(s.address).client(EchoService);
    await c.echo({ message: "a" }, { logId: 1 });
    await c.echo({ message: "slow" }, { logId: 2 });
    await assert.rejects(c.echo({ message: "fail" }, { logId: 3 }));
    await c.echo({ message: "b" }, { logId: 255 });

    const all = await get(s.port, "/rpcz", CURL);
    assert.equal(all.status, 200);
    const lines = all.body.trim().split("\n");
    assert.equal(lines.length, 4, all.body);
    assert.deepEqual(
      lines.map((l) => /log_id=(\d+)/.exec(l)?.[1]),
      ["255", "3", "2", "1"],
    );
    assert.match(
      lines[0] as string,
      / S trace=[0-9a-f]+ span=[0-9a-f]+ log_id=255 example\.EchoService\.Echo\(3\)=3 \[OK\]/,
    );
    assert.match(lines[1] as string, /\[EINTERNAL\]/);

    const byLog = await get(s.port, "/rpcz?log_id=2", CURL);
    assert.equal(byLog.body.trim().split("\n").length, 1);
    assert.match(byLog.body, /log_id=2 /);
    assert.match((await get(s.port, "/rpcz?log_id=0xff", CURL)).body, /log_id=255 /);
    const slow = await get(s.port, "/rpcz?min_latency=40000", CURL);
    assert.equal(slow.body.trim().split("\n").length, 1);
    assert.match(slow.body, /log_id=2 /);
    const errors = await get(s.port, "/rpcz?error=1", CURL);
    assert.equal(errors.body.trim().split("\n").length, 1);
    assert.match(errors.body, /log_id=3 /);
    assert.match((await get(s.port, "/rpcz?error_code=2001", CURL)).body, /log_id=3 /);
    const two = await get(s.port, "/rpcz?max_scan=2", CURL);
    assert.equal(two.body.trim().split("\n").length, 2);
    assert.equal((await get(s.port, "/rpcz?kind=client", CURL)).body.trim(), "Fail to find matched spans");
    assert.equal((await get(s.port, "/rpcz?min_latency=abc", CURL)).status, 400);
    assert.equal((await get(s.port, "/rpcz?kind=x", CURL)).status, 400);
    assert.equal(rpczSpans().length, 4, "the /rpcz requests themselves are not traced");
  });

  it("shows the tree of one trace with timings and annotations (?trace= and /rpcz/<id>)", async () => {
    const b = await echoServer((m, ctx) => {
      ctx.annotate("B works");
      return m;
    });
    const toB = channel(b.address, "h2:grpc").client(EchoService);
    const a = await echoServer(
      async (m, ctx) => {
        ctx.annotate("A calls B");
        await toB.echo({ message: m });
        ctx.annotate("A is done");
        return m;
      },
      { rpcz: true },
    );
    await channel(a.address).client(EchoService).echo({ message: "x" });
    const root = serverSpans().find((s) => s.parentSpanId === 0n) as Span;
    const trace = hexId(root.traceId);
    for (const path of [`/rpcz?trace=${trace}`, `/rpcz/${trace}`, `/rpcz?trace=d${root.traceId}`]) {
      const page = await get(a.port, path, CURL);
      assert.equal(page.status, 200, path);
      const body = page.body;
      assert.match(body, new RegExp(`trace=${trace} \\(decimal ${root.traceId}\\): 3 spans`));
      const order = [
        "Received request",
        "Enter example.EchoService.Echo",
        "A calls B",
        "Requesting example.EchoService.Echo@",
        "Requested(",
        "Received request",
        "B works",
        "Responded(",
        "Received response(",
        "A is done",
        "Leave example.EchoService.Echo",
        "Responded(",
      ];
      let at = 0;
      for (const step of order) {
        const i = body.indexOf(step, at);
        assert.ok(i >= 0, `"${step}" after position ${at} in:\n${body}`);
        at = i + step.length;
      }
      // Nesting: A's server span, its client span indented, B's server span under that.
      assert.match(body, /^\d{4}\/\d\d\/\d\d-\d\d:\d\d:\d\d\.\d{6} +\.\d{6} \[Server SPAN#/m);
      assert.match(body, /^ {2}\d\d:\d\d:\d\d\.\d{6} +\.\d{6} \[Client SPAN#/m);
      assert.match(body, /^ {4}\d\d:\d\d:\d\d\.\d{6} +\.\d{6} \[Server SPAN#/m);
    }
    const one = await get(a.port, `/rpcz?trace=${trace}&span=${hexId(root.spanId)}`, CURL);
    assert.match(one.body, /A calls B/);
    const missing = await get(a.port, "/rpcz?trace=123abc", CURL);
    assert.equal(missing.body.trim(), "Fail to find any spans");
    assert.equal((await get(a.port, "/rpcz?trace=xyz", CURL)).status, 400);
    assert.equal((await get(a.port, "/rpcz/not-an-id", CURL)).status, 404);
    const html = await get(a.port, `/rpcz?trace=${trace}`, BROWSER);
    assert.match(html.headers["content-type"] as string, /text\/html/);
    assert.match(html.body, /<pre id="rpcz-trace">/);
  });

  it("escapes method names and annotations in HTML", async () => {
    const s = await echoServer(
      (m, ctx) => {
        ctx.annotate("<script>alert('annotation')</script>");
        return m;
      },
      { rpcz: true },
    );
    const ch = channel(s.address);
    await ch.client(EchoService).echo({ message: "x" });
    await assert.rejects(ch.callRaw("example.EchoService", "<script>alert(1)</script>", Buffer.alloc(0)));
    const list = await get(s.port, "/rpcz", BROWSER);
    assert.match(list.body, /example\.EchoService\.&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.doesNotMatch(list.body, /<script>/);
    const root = serverSpans().find((sp) => sp.annotations !== undefined) as Span;
    const trace = await get(s.port, `/rpcz?trace=${hexId(root.traceId)}`, BROWSER);
    assert.match(trace.body, /&lt;script&gt;alert\(&#39;annotation&#39;\)&lt;\/script&gt;/);
    assert.doesNotMatch(trace.body, /<script>/);
    // Text for curl is verbatim.
    const text = await get(s.port, `/rpcz?trace=${hexId(root.traceId)}`, CURL);
    assert.match(text.body, /<script>alert\('annotation'\)<\/script>/);
  });

  it("/rpcz/enable and /rpcz/disable need allowFlagChanges", async () => {
    const locked = await echoServer((m) => m);
    const refused = await get(locked.port, "/rpcz/enable", CURL);
    assert.equal(refused.status, 403);
    assert.match(refused.body, /allowFlagChanges/);
    assert.equal(isRpczEnabled(), false);

    const open = await echoServer((m) => m, { allowFlagChanges: true });
    const on = await get(open.port, "/rpcz/enable", CURL);
    assert.equal(on.status, 200);
    assert.equal(on.body.trim(), "rpcz is enabled");
    assert.equal(isRpczEnabled(), true);
    await channel(open.address).client(EchoService).echo({ message: "x" });
    assert.ok(serverSpans().length >= 1);
    const listed = await get(open.port, "/rpcz", BROWSER);
    assert.match(listed.body, /href="\/rpcz\/disable"/);
    // A browser request from another site changes nothing.
    const csrf = await get(open.port, "/rpcz/disable", { ...BROWSER, "sec-fetch-site": "cross-site" });
    assert.equal(csrf.status, 403);
    assert.equal(isRpczEnabled(), true);
    const off = await get(open.port, "/rpcz/disable", CURL);
    assert.equal(off.body.trim(), "rpcz is disabled");
    assert.equal(isRpczEnabled(), false);
    clearRpczSpans();
    await channel(open.address).client(EchoService).echo({ message: "x" });
    assert.equal(rpczSpans().length, 0);
    // The flag of /flags is the same switch.
    const flag = await get(open.port, "/flags/enable_rpcz?setvalue=true", CURL);
    assert.equal(flag.status, 200, flag.body);
    assert.equal(isRpczEnabled(), true);
    const stats = await get(open.port, "/rpcz/stats", CURL);
    assert.match(stats.body, /enabled \(process-wide\): true/);
    assert.match(stats.body, /spans kept: \d+ of 10000/);
  });
});

describe("rpcz ids", () => {
  it("parse hex (as brpc's pages) and d-prefixed decimal", () => {
    assert.equal(parseSpanId("ff"), 255n);
    assert.equal(parseSpanId("0xFF"), 255n);
    assert.equal(parseSpanId("d255"), 255n);
    assert.equal(parseSpanId("ffffffffffffffff"), 0xffffffffffffffffn);
    assert.equal(parseSpanId("1ffffffffffffffff"), undefined);
    assert.equal(parseSpanId("0"), undefined);
    assert.equal(parseSpanId("zz"), undefined);
  });
});
