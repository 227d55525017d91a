/**
 * Our h2:grpc Channel calling a real @grpc/grpc-js server: unary calls, the gRPC -> brpc
 * status mapping, deadlines, gzip, metadata, cancellation, reconnection and all three
 * streaming kinds.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { EchoService } from "../examples/gen/peer_pb.js";
import { Channel, Controller, ErrorCode, GrpcStatus, grpcStatusToErrorCode, RpcError } from "../src/index.js";
import { StreamService } from "./gen/client_stream_pb.js";
import { type GrpcPeer, startGrpcPeer } from "./helpers/client-grpc-server.js";
import { eventually, failure, settle } from "./helpers/servers.js";

/** brpc's GrpcStatusToErrorCode, written out (grpc.cpp). */
const BRPC_MAPPING: Record<number, number> = {
  1: ErrorCode.ECANCELED,
  2: ErrorCode.EINTERNAL,
  3: ErrorCode.EINVAL,
  4: ErrorCode.ERPCTIMEDOUT,
  5: ErrorCode.EINTERNAL,
  6: ErrorCode.EEXIST,
  7: ErrorCode.EPERM,
  8: ErrorCode.ELIMIT,
  9: ErrorCode.EINTERNAL,
  10: ErrorCode.EINTERNAL,
  11: ErrorCode.EINTERNAL,
  12: ErrorCode.ENOMETHOD,
  13: ErrorCode.EINTERNAL,
  14: ErrorCode.EINTERNAL,
  15: ErrorCode.EINTERNAL,
  16: ErrorCode.ERPCAUTH,
};

describe("h2:grpc client -> @grpc/grpc-js server: unary", () => {
  let peer: GrpcPeer;
  let ch: Channel;
  before(async () => {
    peer = await startGrpcPeer();
    ch = new Channel(peer.address, { protocol: "h2:grpc", timeoutMs: 3000, maxRetry: 0 });
  });
  after(async () => {
    ch.close();
    await peer.close();
  });

  it("echo: the response, latency and remote side land in the controller", async () => {
    const cntl = new Controller();
    const res = await ch.client(EchoService).echo({ message: "hello 0" }, { controller: cntl });
    assert.equal(res.message, "hello 0");
    assert.equal(cntl.errorCode, 0);
    assert.equal(cntl.remoteSide, peer.address);
    assert.ok(cntl.latencyUs > 0);
    assert.equal(cntl.httpStatusCode, 200);
    assert.equal(cntl.httpResponseHeaders?.["grpc-status"], "0");
  });

  it("many concurrent calls share the channel's session", async () => {
    const echo = ch.client(EchoService);
    const res = await Promise.all(Array.from({ length: 50 }, (_, i) => echo.echo({ message: `m${i}` })));
    for (const [i, r] of res.entries()) assert.equal(r.message, `m${i}`);
  });

  it("metadata: log-id, x-request-id and user fields go out; response headers and trailers come back", async () => {
    const cntl = new Controller();
    cntl.httpRequestHeaders = { "x-user-b": "from-controller" };
    await ch
      .client(EchoService)
      .echo(
        { message: "md" },
        { controller: cntl, logId: 1234, requestId: "req-7", userFields: { "x-user-a": "va" } },
      );
    const seen = peer.seen.at(-1);
    assert.equal(seen?.metadata["log-id"], "1234");
    assert.equal(seen?.metadata["x-request-id"], "req-7");
    assert.equal(seen?.metadata["x-user-a"], "va");
    assert.equal(seen?.metadata["x-user-b"], "from-controller");
    assert.equal(seen?.metadata["user-agent"]?.startsWith("brpc/1.0 curl/7.0"), true);
    assert.equal(cntl.responseUserFields?.["echo-x-user-a"], "va");
    assert.equal(cntl.responseUserFields?.["x-trailer"], "t1");
  });

  it("a server error maps grpc-status to a brpc code and uses grpc-message as text", async () => {
    const cntl = new Controller();
    const e = await failure(
      ch.client(EchoService).echo({ message: "hello 0", failCode: 2001 }, { controller: cntl }),
    );
    assert.equal(e.code, ErrorCode.EINTERNAL);
    assert.equal(e.text, "[E2001]failed on purpose: hello 0");
    assert.equal(cntl.errorCode, ErrorCode.EINTERNAL);
    assert.equal(cntl.errorText, e.text);
    assert.equal(cntl.responseUserFields, undefined);
    assert.equal(cntl.httpResponseHeaders?.["grpc-status"], String(GrpcStatus.INTERNAL));
  });

  it("UNIMPLEMENTED -> ENOMETHOD", async () => {
    const e = await failure(ch.client(EchoService).missing({ message: "x" }));
    assert.equal(e.code, ErrorCode.ENOMETHOD);
    assert.equal(e.text, "[E1002]not implemented");
  });

  it("every gRPC status maps as brpc's GrpcStatusToErrorCode", async () => {
    const echo = ch.client(StreamService).echo;
    for (let s = 1; s <= 16; s++) {
      const e = await failure(echo({ value: s, text: `status:why ${s} ü%` }));
      assert.equal(e.code, BRPC_MAPPING[s], `grpc status ${s}`);
      assert.equal(grpcStatusToErrorCode(s), BRPC_MAPPING[s]);
      assert.equal(e.text, `[E${BRPC_MAPPING[s]}]why ${s} ü%`);
    }
  });

  it("the deadline goes out as grpc-timeout", async () => {
    await ch.client(EchoService).echo({ message: "d" }, { timeoutMs: 1500 });
    const seen = peer.seen.at(-1);
    assert.ok(seen !== undefined);
    assert.ok(seen.deadlineInMs > 0 && seen.deadlineInMs <= 1500, `deadline in ${seen.deadlineInMs}ms`);
  });

  it("no timeout: no grpc-timeout", async () => {
    await ch.client(EchoService).echo({ message: "d" }, { timeoutMs: -1 });
    assert.equal(peer.seen.at(-1)?.deadlineInMs, Number.POSITIVE_INFINITY);
  });

  it("a slow server: ERPCTIMEDOUT, and the server sees the call canceled", async () => {
    const before = peer.cancelled.length;
    const e = await failure(
      ch.client(EchoService).echo({ message: "slow", sleepMs: 2000 }, { timeoutMs: 100 }),
    );
    assert.equal(e.code, ErrorCode.ERPCTIMEDOUT);
    assert.match(e.text, /^\[E1008\]Reached timeout=100ms @127\.0\.0\.1:\d+/);
    assert.ok(await eventually(() => peer.cancelled.length > before));
  });

  it("AbortSignal: ECANCELED, and the server sees the call canceled", async () => {
    const before = peer.cancelled.length;
    const ac = new AbortController();
    const p = ch.client(EchoService).echo({ message: "slow", sleepMs: 2000 }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    const e = await failure(p);
    assert.equal(e.code, ErrorCode.ECANCELED);
    assert.ok(await eventually(() => peer.cancelled.length > before));
  });

  it("gzip requests (grpc-encoding: gzip) are understood by grpc-js", async () => {
    const big = "compress me ".repeat(2000);
    const res = await ch.client(EchoService).echo({ message: big }, { compressType: "gzip" });
    assert.equal(res.message, big);
  });

  it("compress types other than gzip are refused (EREQUEST)", async () => {
    const e = await failure(ch.client(EchoService).echo({ message: "x" }, { compressType: "snappy" }));
    assert.equal(e.code, ErrorCode.EREQUEST);
    assert.match(e.text, /does not support snappy/);
  });

  it("missing required fields: EREQUEST before anything is sent", async () => {
    const e = await failure(ch.client(EchoService).echo({} as never));
    assert.equal(e.code, ErrorCode.EREQUEST);
    assert.match(e.text, /Missing required fields in request: message/);
  });

  it("callRaw: bytes in, bytes out", async () => {
    const { toBinary, create, fromBinary } = await import("@bufbuild/protobuf");
    const { EchoRequestSchema, EchoResponseSchema } = await import("../examples/gen/peer_pb.js");
    const out = await ch.callRaw(
      "example.EchoService",
      "Echo",
      toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: "raw" })),
    );
    assert.equal(fromBinary(EchoResponseSchema, out).message, "raw");
  });
});

describe("h2:grpc client: connection failures", () => {
  it("connection refused: ECONNREFUSED after the retries", async () => {
    const ch = new Channel("127.0.0.1:1", { protocol: "h2:grpc", maxRetry: 2 });
    const cntl = new Controller();
    const e = await failure(ch.client(EchoService).echo({ message: "x" }, { controller: cntl }));
    assert.equal(e.code, ErrorCode.ECONNREFUSED);
    assert.match(e.text, /^\[E111\]Fail to connect 127\.0\.0\.1:1/);
    assert.equal(cntl.retriedCount, 2);
    ch.close();
  });

  it("a new session after the server went away", async () => {
    let peer = await startGrpcPeer();
    const port = peer.port;
    const ch = new Channel(peer.address, { protocol: "h2:grpc", timeoutMs: 3000, maxRetry: 3 });
    const echo = ch.client(EchoService);
    assert.equal((await echo.echo({ message: "a" })).message, "a");
    peer.server.forceShutdown();
    // Restart on the same port; the channel notices its session died and reconnects.
    for (let i = 0; ; i++) {
      const r = await settle(startGrpcPeer({}, port));
      if (r.ok) {
        peer = r.value;
        break;
      }
      if (i > 50) throw r.error;
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal((await echo.echo({ message: "b" })).message, "b");
    ch.close();
    await peer.close();
  });

  it("a closed channel fails calls with EINVAL", async () => {
    const ch = new Channel("127.0.0.1:1", { protocol: "h2:grpc" });
    ch.close();
    const e = await failure(ch.client(EchoService).echo({ message: "x" }));
    assert.equal(e.code, ErrorCode.EINVAL);
  });

  it("h2 protocols refuse connection types other than single", () => {
    assert.throws(
      () => new Channel("127.0.0.1:1", { protocol: "h2:grpc", connectionType: "pooled" }),
      TypeError,
    );
  });
});

describe("h2:grpc client -> grpc-js server: streaming", () => {
  let peer: GrpcPeer;
  let ch: Channel;
  before(async () => {
    peer = await startGrpcPeer();
    ch = new Channel(peer.address, { protocol: "h2:grpc", timeoutMs: 10000, maxRetry: 0 });
  });
  after(async () => {
    ch.close();
    await peer.close();
  });

  it("server streaming: every message in order, then the end", async () => {
    const got: number[] = [];
    for await (const it of ch.client(StreamService).count({ value: 5, text: "t" })) {
      assert.equal(it.text, "t");
      got.push(it.value);
    }
    assert.deepEqual(got, [0, 1, 2, 3, 4]);
  });

  it("server streaming: zero messages", async () => {
    const got = [];
    for await (const it of ch.client(StreamService).count({ value: 0 })) got.push(it);
    assert.equal(got.length, 0);
  });

  it("server streaming: a failure after some messages throws the mapped RpcError after them", async () => {
    const got: number[] = [];
    const cntl = new Controller();
    let err: unknown;
    try {
      for await (const it of ch.client(StreamService).count({ value: -3 }, { controller: cntl }))
        got.push(it.value);
    } catch (e) {
      err = e;
    }
    assert.deepEqual(got, [0, 1, 2]);
    assert.ok(err instanceof RpcError);
    assert.equal(err.code, ErrorCode.EINVAL);
    assert.equal(err.text, "[E22]stopped after 3 items");
    assert.equal(cntl.errorCode, ErrorCode.EINVAL);
  });

  it("server streaming: many large messages with a slow reader (flow control)", async () => {
    const blob = Buffer.alloc(16 * 1024, 7);
    let n = 0;
    let bytes = 0;
    for await (const it of ch.client(StreamService).count({ value: 300, blob })) {
      assert.equal(it.value, n);
      n++;
      bytes += it.blob.length;
      if (n % 50 === 0) await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(n, 300);
    assert.equal(bytes, 300 * blob.length);
  });

  it("server streaming: leaving the loop early cancels the call on the server", async () => {
    const before = peer.cancelled.length;
    const cntl = new Controller();
    const got: number[] = [];
    for await (const it of ch
      .client(StreamService)
      .count({ value: 1000, text: "slow" }, { controller: cntl })) {
      got.push(it.value);
      if (got.length === 3) break;
    }
    assert.deepEqual(got, [0, 1, 2]);
    assert.ok(await eventually(() => peer.cancelled.length > before));
    assert.ok(await eventually(() => cntl.errorCode === ErrorCode.ECANCELED));
  });

  it("server streaming: the deadline ends a long stream with ERPCTIMEDOUT", async () => {
    const got: number[] = [];
    let err: unknown;
    try {
      for await (const it of ch
        .client(StreamService)
        .count({ value: 1000, text: "slow" }, { timeoutMs: 200 }))
        got.push(it.value);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof RpcError);
    assert.equal(err.code, ErrorCode.ERPCTIMEDOUT);
    assert.ok(got.length < 1000);
  });

  it("server streaming: an AbortSignal cancels it (ECANCELED)", async () => {
    const ac = new AbortController();
    let err: unknown;
    let n = 0;
    try {
      for await (const _ of ch
        .client(StreamService)
        .count({ value: 1000, text: "slow" }, { signal: ac.signal })) {
        if (++n === 2) ac.abort();
      }
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof RpcError);
    assert.equal(err.code, ErrorCode.ECANCELED);
  });

  it("client streaming: an async generator of requests, one response", async () => {
    async function* items() {
      for (let i = 1; i <= 10; i++) {
        if (i % 3 === 0) await new Promise((r) => setTimeout(r, 1));
        yield { value: i };
      }
    }
    const cntl = new Controller();
    const total = await ch.client(StreamService).sum(items(), { controller: cntl });
    assert.equal(total.sum, 55);
    assert.equal(total.count, 10);
    assert.equal(cntl.errorCode, 0);
  });

  it("client streaming: an array, an empty array, gzip", async () => {
    const sum = ch.client(StreamService).sum;
    assert.equal((await sum([{ value: 2 }, { value: 3 }])).sum, 5);
    assert.equal((await sum([])).count, 0);
    const many = Array.from({ length: 100 }, (_, i) => ({ value: i, text: "x".repeat(1000) }));
    const t = await sum(many, { compressType: "gzip" });
    assert.equal(t.sum, 4950);
    assert.equal(t.count, 100);
  });

  it("client streaming: a request iterable that throws fails the call with EREQUEST and resets the stream", async () => {
    const before = peer.cancelled.length;
    async function* bad() {
      yield { value: 1 };
      throw new Error("producer broke");
    }
    const e = await failure(ch.client(StreamService).sum(bad()));
    assert.equal(e.code, ErrorCode.EREQUEST);
    assert.match(e.text, /producer broke/);
    assert.ok(await eventually(() => peer.cancelled.length > before));
  });

  it("client streaming: a lot of data (flow control on the request side)", async () => {
    const blob = Buffer.alloc(64 * 1024, 1);
    async function* items() {
      for (let i = 0; i < 200; i++) yield { value: 1, blob };
    }
    const t = await ch.client(StreamService).sum(items());
    assert.equal(t.count, 200);
  });

  it("bidi streaming: ping-pong, each request waits for the previous answer", async () => {
    const replies: number[] = [];
    let wake: (() => void) | undefined;
    async function* requests() {
      for (let i = 1; i <= 5; i++) {
        yield { value: i, text: `p${i}` };
        await new Promise<void>((r) => {
          wake = r;
        });
      }
    }
    for await (const r of ch.client(StreamService).chat(requests())) {
      replies.push(r.value);
      wake?.();
    }
    assert.deepEqual(replies, [10, 20, 30, 40, 50]);
  });

  it("bidi streaming: all requests up front", async () => {
    const replies: string[] = [];
    const reqs = Array.from({ length: 20 }, (_, i) => ({ value: i, text: `m${i}` }));
    for await (const r of ch.client(StreamService).chat(reqs)) replies.push(r.text);
    assert.deepEqual(
      replies,
      reqs.map((r) => r.text),
    );
  });

  it("bidi streaming: cancel() from the reader ends the call on both sides", async () => {
    const before = peer.cancelled.length;
    async function* forever() {
      for (let i = 0; ; i++) {
        yield { value: i };
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    const rs = ch.client(StreamService).chat(forever());
    let n = 0;
    for await (const _ of rs) {
      if (++n === 3) rs.cancel();
    }
    assert.equal(n, 3);
    assert.ok(await eventually(() => peer.cancelled.length > before));
  });

  it("streaming methods need h2:grpc: EREQUEST on h2 and baidu_std channels", async () => {
    const h2 = new Channel(peer.address, { protocol: "h2", maxRetry: 0 });
    const e1 = await failure(h2.client(StreamService).sum([{ value: 1 }]));
    assert.equal(e1.code, ErrorCode.EREQUEST);
    assert.match(e1.text, /need protocol h2:grpc/);
    h2.close();
    const std = new Channel(peer.address, { maxRetry: 0 });
    let err: unknown;
    try {
      for await (const _ of std.client(StreamService).count({ value: 1 }));
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof RpcError);
    assert.equal(err.code, ErrorCode.EREQUEST);
    std.close();
  });
});
