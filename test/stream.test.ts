/**
 * Streaming RPC (brpc's STRM streams) end to end over real sockets: creation with a call,
 * delivery, flow control, segmentation, routing of frames, close/reset/failure ordering,
 * idle timeouts, and what happens when the peer process dies. brpc semantics: see
 * ../shared/docs/brpc-reference.md sections A.2 and E.
 */
import assert from "node:assert/strict";
import { afterEach, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { EchoService } from "../examples/gen/peer_pb.js";
import { Channel, ErrorCode, RpcError, type Server, Stream, type StreamOptions } from "../src/index.js";
import { timers } from "../src/io/timers.js";
import { stream as captureStream, loadCapture, splitFrames } from "./helpers/captures.js";
import { startServerProcess } from "./helpers/child.js";
import { RawClient } from "./helpers/net.js";
import { eventually, failure, settle, startEchoServer } from "./helpers/servers.js";
import {
  closePair,
  deferred,
  describeFrame,
  type EchoImpl,
  encodeStrm,
  FT,
  lifecycleRecorder,
  openPair,
  type Pair,
  type Recorded,
  RecordingProxy,
  recorder,
  runScenario,
  SCENARIOS,
  type StrmFrame,
  settledYet,
  startStreamServer,
  strmFrames,
  unwrapResponse,
} from "./helpers/streams.js";

/** A plain baidu_std Echo request (from a capture): its response tells that earlier frames were processed. */
const ECHO_REQUEST = (
  splitFrames(captureStream(loadCapture("baidu_std_echo"), 0, "c2s"))[0] as { bytes: Buffer }
).bytes;

// Everything a test opens is closed after it, even when it fails half-way, so that one
// failure does not leave timers or connections behind for the next test.
const cleanups: (() => unknown)[] = [];
function track<T>(x: T, close: (x: T) => unknown): T {
  cleanups.push(() => close(x));
  return x;
}

function channelTo(address: string, extra: ConstructorParameters<typeof Channel>[1] = {}): Channel {
  return track(new Channel(address, { maxRetry: 0, timeoutMs: 5000, ...extra }), (c) => c.close());
}

async function serverOf(echo: EchoImpl): Promise<Server> {
  return track(await startStreamServer(echo), (s) => s.stop(0));
}

async function echoServer(): Promise<Server> {
  return track(await startEchoServer(), (s) => s.stop(0));
}

async function proxyTo(port: number): Promise<RecordingProxy> {
  return track(await RecordingProxy.start(port), (p) => p.close());
}

async function pairOf(clientOptions: StreamOptions, serverOptions?: StreamOptions): Promise<Pair> {
  return track(await openPair(clientOptions, serverOptions), async (p) => {
    p.channel.close();
    await p.server.stop(0);
  });
}

/** An echo handler: every message comes back as "echo:<message>". */
function echoing(): Recorded {
  return recorder((stream, messages) => {
    for (const m of messages) stream.tryWrite(`echo:${m.toString("utf8")}`);
  });
}

/** Round trips on the channel's connection, so frames written before them were processed. */
async function roundTrips(ch: Channel, n = 2): Promise<void> {
  const echo = ch.client(EchoService);
  for (let i = 0; i < n; i++) await echo.echo({ message: `sync ${i}` });
}

const controlFrames = (frames: StrmFrame[]) =>
  frames.filter((f) => f.frameType === FT.CLOSE || f.frameType === FT.RST).map(describeFrame);

afterEach(async () => {
  for (let f = cleanups.pop(); f !== undefined; f = cleanups.pop()) await f();
  // Every waiter, idle timer and call deadline is released once the streams closed.
  assert.ok(await eventually(() => timers.size === 0, 3000), `${timers.size} timers left behind`);
});

describe("stream creation and delivery", () => {
  it("a stream created with a call is accepted by the handler and echoes messages in order", async () => {
    const srv = echoing();
    let accepted: Stream | undefined;
    let seen: { has: boolean; state: string } | undefined;
    const server = await serverOf((req, ctx) => {
      accepted = ctx.acceptStream({ handler: srv.handler });
      seen = { has: ctx.hasRemoteStream, state: accepted.state };
      return { message: req.message };
    });
    const ch = channelTo(server.address);
    const cli = recorder();
    const stream = new Stream({ handler: cli.handler });
    assert.equal(stream.state, "created");
    const res = await ch.client(EchoService).echo({ message: "hi" }, { stream });
    assert.equal(res.message, "hi");
    assert.deepEqual(seen, { has: true, state: "connecting" });
    const remote = accepted as Stream;
    assert.equal(stream.state, "open");
    assert.equal(stream.remoteStreamId, remote.id);
    assert.equal(remote.remoteStreamId, stream.id);
    assert.equal(stream.tryWrite("a"), 0);
    assert.equal(stream.tryWrite(""), 0, "an empty message is a message");
    assert.equal(stream.tryWrite(new Uint8Array([0x63])), 0);
    await stream.write("d");
    assert.ok(await eventually(() => cli.messages.length === 4));
    assert.deepEqual(srv.messages, ["a", "", "c", "d"]);
    assert.deepEqual(cli.messages, ["echo:a", "echo:", "echo:c", "echo:d"]);
    stream.close();
    await stream.closed;
    await remote.closed;
    assert.deepEqual(cli.failures, []);
    assert.equal(cli.events.at(-1), "closed");
    assert.deepEqual(srv.failures, []);
    assert.equal(srv.events.at(-1), "closed");
    ch.close();
    await server.stop(0);
  });

  it("writes made before the call returns are queued and sent in order once connected", async () => {
    const srv = recorder();
    const server = await serverOf((req, ctx) => {
      ctx.acceptStream({ handler: srv.handler });
      return { message: req.message };
    });
    const ch = channelTo(server.address);
    const stream = new Stream({ maxBufSize: 8 });
    const call = ch.client(EchoService).echo({ message: "x" }, { stream });
    assert.equal(stream.state, "created");
    assert.equal(stream.tryWrite("early1"), 0);
    assert.equal(stream.tryWrite("early2"), 0, "one message may overshoot the window");
    assert.equal(stream.tryWrite("x"), ErrorCode.EAGAIN, "the window counts queued writes");
    await new Promise((r) => setImmediate(r));
    assert.equal(stream.state, "connecting");
    await call;
    assert.equal(stream.state, "open");
    assert.ok(await eventually(() => stream.unconsumedBytes === 0));
    assert.equal(stream.tryWrite("late"), 0);
    assert.ok(await eventually(() => srv.messages.length === 3));
    assert.deepEqual(srv.messages, ["early1", "early2", "late"]);
    stream.close();
    await stream.closed;
  });

  it("a call that cannot connect fails its stream with the connection's error", async () => {
    const probe = await startEchoServer();
    const address = probe.address;
    await probe.stop(0);
    const ch = channelTo(address);
    const rec = recorder();
    const stream = new Stream({ handler: rec.handler });
    stream.tryWrite("queued");
    const e = await failure(ch.client(EchoService).echo({ message: "x" }, { stream }));
    assert.equal(e.code, ErrorCode.ECONNREFUSED);
    await stream.closed;
    assert.deepEqual(rec.events, [`failed:${ErrorCode.ECONNREFUSED}`, "closed"]);
  });

  it("async iteration (for await) on both sides", async () => {
    const serverDone = deferred<string[]>();
    const server = await serverOf((req, ctx) => {
      const s = ctx.acceptStream();
      (async () => {
        const got: string[] = [];
        for await (const m of s) {
          got.push(m.toString());
          await s.write(`echo:${m.toString()}`);
        }
        serverDone.resolve(got);
      })().catch((e: unknown) => serverDone.resolve([`error ${String(e)}`]));
      return { message: req.message };
    });
    const ch = channelTo(server.address);
    const stream = new Stream();
    await ch.client(EchoService).echo({ message: "x" }, { stream });
    const sent = ["m0", "m1", "m2", "m3", "m4"];
    for (const m of sent) assert.equal(stream.tryWrite(m), 0);
    const got: string[] = [];
    for await (const m of stream) {
      got.push(m.toString());
      if (got.length === sent.length) stream.close();
    }
    assert.deepEqual(
      got,
      sent.map((m) => `echo:${m}`),
    );
    assert.deepEqual(await serverDone.promise, sent);
    await stream.closed;
    // A stream with onReceivedMessages cannot be iterated; a stream is iterated once at a time.
    const h = new Stream({ handler: { onReceivedMessages() {} } });
    assert.throws(() => h[Symbol.asyncIterator](), TypeError);
    const i = new Stream();
    i[Symbol.asyncIterator]();
    assert.throws(() => i[Symbol.asyncIterator](), TypeError);
    h.close();
    i.close();
    ch.close();
    await server.stop(0);
  });

  it("handlers get messages in order, in batches of at most messagesInBatch", async () => {
    const N = 10;
    let total = 0;
    let first = true;
    const srv = recorder(async (s) => {
      if (!first) return;
      first = false;
      // Hold the first batch until every message has arrived: the rest is queued.
      assert.ok(await eventually(() => s.queuedBytes === total));
    });
    const server = await serverOf((req, ctx) => {
      const s = ctx.acceptStream({ messagesInBatch: 3, handler: srv.handler });
      // Written before the handler returns: sent after the response, in order.
      for (let i = 0; i < N; i++) s.tryWrite(`s${i}`);
      return { message: req.message };
    });
    const ch = channelTo(server.address);
    const cli = recorder();
    const stream = new Stream({ messagesInBatch: 4, handler: cli.handler });
    await ch.client(EchoService).echo({ message: "x" }, { stream });
    const msgs = Array.from({ length: N }, (_, i) => `m${i}`);
    total = msgs.join("").length;
    for (const m of msgs) assert.equal(stream.tryWrite(m), 0);
    assert.ok(await eventually(() => srv.messages.length === N && cli.messages.length === N));
    assert.deepEqual(srv.messages, msgs);
    const k = srv.batches[0] as number;
    assert.ok(k >= 1 && k <= 3, `first batch ${k}`);
    const rest: number[] = [];
    for (let left = N - k; left > 0; left -= 3) rest.push(Math.min(3, left));
    assert.deepEqual(srv.batches, [k, ...rest]);
    assert.deepEqual(
      cli.messages,
      msgs.map((_, i) => `s${i}`),
    );
    assert.ok(
      cli.batches.every((b) => b >= 1 && b <= 4),
      `client batches ${cli.batches.join(",")}`,
    );
    stream.close();
    await stream.closed;
    ch.close();
    await server.stop(0);
  });

  it("several streams in one call pair up by index (acceptStreams)", async () => {
    let accepted: Stream[] = [];
    const server = await serverOf((req, ctx) => {
      accepted = ctx.acceptStreams({
        handler: {
          onReceivedMessages(s, ms) {
            const i = accepted.indexOf(s);
            for (const m of ms) s.tryWrite(`${i}:${m.toString()}`);
          },
        },
      });
      return { message: req.message };
    });
    const ch = channelTo(server.address);
    const recs = [recorder(), recorder(), recorder()];
    const streams = recs.map((r) => new Stream({ handler: r.handler }));
    await ch.client(EchoService).echo({ message: "x" }, { streams });
    assert.equal(accepted.length, 3);
    for (const [i, s] of streams.entries()) {
      assert.equal(s.state, "open");
      assert.equal(s.remoteStreamId, accepted[i]?.id);
      assert.equal(accepted[i]?.remoteStreamId, s.id);
    }
    streams.forEach((s, i) => {
      assert.equal(s.tryWrite(`hello${i}`), 0);
    });
    assert.ok(await eventually(() => recs.every((r) => r.messages.length === 1)));
    assert.deepEqual(
      recs.map((r) => r.messages),
      [["0:hello0"], ["1:hello1"], ["2:hello2"]],
    );
    for (const s of streams) s.close();
    await Promise.all([...streams, ...accepted].map((s) => s.closed));
    ch.close();
    await server.stop(0);
  });

  it("writes made by the server inside the handler arrive after the response", async () => {
    const server = await serverOf(async (req, ctx) => {
      const s = ctx.acceptStream();
      assert.equal(s.tryWrite("w1"), 0);
      await s.write("w2");
      await sleep(10);
      assert.equal(s.tryWrite("w3"), 0);
      return { message: req.message };
    });
    const proxy = await proxyTo(server.port);
    const ch = channelTo(proxy.address);
    const stream = new Stream();
    const res = await ch.client(EchoService).echo({ message: "resp" }, { stream });
    assert.equal(res.message, "resp");
    const got: string[] = [];
    for await (const m of stream) {
      got.push(m.toString());
      if (got.length === 3) break;
    }
    assert.deepEqual(got, ["w1", "w2", "w3"]);
    const s2c = proxy.strm("s2c");
    assert.ok(s2c.length >= 4);
    const [resp, ...data] = s2c;
    assert.equal(resp?.frameType, FT.DATA);
    assert.equal(resp?.streamId, stream.id);
    const inner = unwrapResponse(resp as StrmFrame);
    assert.equal(inner.meta.errorCode, 0);
    assert.equal(inner.meta.streamSettings?.streamId, BigInt(stream.remoteStreamId as number));
    assert.deepEqual(
      data
        .filter((f) => f.frameType === FT.DATA)
        .slice(0, 3)
        .map((f) => f.data.toString()),
      ["w1", "w2", "w3"],
    );
    stream.close();
    await stream.closed;
    ch.close();
    await proxy.close();
    await server.stop(0);
  });

  it("a closed or already used stream cannot create a call", async () => {
    const server = await echoServer();
    const ch = channelTo(server.address);
    const echo = ch.client(EchoService);
    const closed = new Stream();
    closed.close();
    await closed.closed;
    const e1 = await failure(echo.echo({ message: "x", openStream: true }, { stream: closed }));
    assert.equal(e1.code, ErrorCode.EREQUEST);
    ch.close();
    await server.stop(0);
  });

  it("reusing a stream in a second call fails that call only: the stream and its peer are unaffected", async () => {
    const server = await echoServer();
    const ch = channelTo(server.address);
    const echo = ch.client(EchoService);
    const rec = recorder();
    const used = new Stream({ handler: rec.handler });
    await echo.echo({ message: "x", openStream: true }, { stream: used });
    const e = await failure(echo.echo({ message: "again", openStream: true }, { stream: used }));
    assert.equal(e.code, ErrorCode.EREQUEST);
    assert.deepEqual(
      rec.failures,
      [],
      "the refused call must not fail a stream that belongs to another call",
    );
    assert.equal(used.state, "open");
    assert.equal(used.tryWrite("still here"), 0);
    assert.ok(await eventually(() => rec.messages.length === 1));
    assert.deepEqual(rec.messages, ["echo:still here"]);
    used.close();
    await used.closed;
    ch.close();
    await server.stop(0);
  });

  it("reusing a stream whose call is still in flight fails the second call only: the first completes", async () => {
    const entered = deferred();
    const release = deferred();
    let accepted: Stream | undefined;
    const server = await serverOf(async (req, ctx) => {
      if (req.message === "first") {
        accepted = ctx.acceptStream();
        entered.resolve();
        await release.promise;
      }
      return { message: req.message };
    });
    const ch = channelTo(server.address);
    const echo = ch.client(EchoService);
    const rec = recorder();
    const stream = new Stream({ handler: rec.handler });
    const first = settle(echo.echo({ message: "first" }, { stream, timeoutMs: 1000 }));
    await entered.promise;
    const e = await failure(echo.echo({ message: "second" }, { stream }));
    assert.equal(e.code, ErrorCode.EREQUEST);
    release.resolve();
    const r = await first;
    assert.ok(r.ok, `the first call failed: ${r.ok ? "" : String(r.error)}`);
    assert.equal(stream.state, "open");
    assert.deepEqual(rec.failures, []);
    stream.close();
    await Promise.all([stream.closed, (accepted as Stream).closed]);
  });

  it("large messages (beyond 64 KiB, segmented or not) arrive intact", async () => {
    const server = await serverOf((req, ctx) => {
      ctx.acceptStream({
        handler: {
          onReceivedMessages(s, ms) {
            for (const m of ms) s.tryWrite(m);
          },
        },
      });
      return { message: req.message };
    });
    const ch = channelTo(server.address);
    const got: Buffer[] = [];
    const stream = new Stream({
      maxSegmentSize: 300_000,
      handler: {
        onReceivedMessages(_s, ms) {
          got.push(...ms);
        },
      },
    });
    await ch.client(EchoService).echo({ message: "x" }, { stream });
    const big = Buffer.alloc(1_000_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    const mid = big.subarray(123, 200_123);
    assert.equal(stream.tryWrite(big), 0);
    assert.equal(stream.tryWrite(mid), 0);
    assert.equal(stream.tryWrite("small"), 0);
    assert.ok(await eventually(() => got.length === 3, 5000));
    assert.ok(got[0]?.equals(big), "1 MB message (4 segments)");
    assert.ok(got[1]?.equals(mid), "200 KB message");
    assert.equal(got[2]?.toString(), "small");
    stream.close();
    await stream.closed;
  });

  it("streams and unary calls interleave on one connection, each stream in order", async () => {
    const server = await echoServer();
    const ch = channelTo(server.address);
    const echo = ch.client(EchoService);
    const recs = [recorder(), recorder(), recorder()];
    const streams = recs.map((r) => new Stream({ handler: r.handler }));
    await Promise.all(
      streams.map((stream, k) => echo.echo({ message: `s${k}`, openStream: true }, { stream })),
    );
    const N = 200;
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) {
      streams.forEach((s, k) => {
        assert.equal(s.tryWrite(`s${k}-${i}`), 0);
      });
      if (i % 4 === 0) calls.push(echo.echo({ message: `call ${i}` }));
    }
    const answers = (await Promise.all(calls)) as { message: string }[];
    assert.deepEqual(
      answers.map((a) => a.message),
      Array.from({ length: N / 4 }, (_, j) => `call ${j * 4}`),
    );
    assert.ok(await eventually(() => recs.every((r) => r.messages.length === N), 5000));
    recs.forEach((r, k) => {
      assert.deepEqual(
        r.messages,
        Array.from({ length: N }, (_, i) => `echo:s${k}-${i}`),
      );
    });
    assert.equal(server.connections.size, 1);
    for (const s of streams) s.close();
    await Promise.all(streams.map((s) => s.closed));
  });

  for (const connectionType of ["short", "pooled"] as const) {
    it(`${connectionType} connections stay open while a stream uses them`, async () => {
      const server = await echoServer();
      const ch = channelTo(server.address, { connectionType });
      const rec = recorder();
      const stream = new Stream({ handler: rec.handler });
      await ch.client(EchoService).echo({ message: "x", openStream: true }, { stream });
      // Another call meanwhile must not take (or close) the stream's connection.
      await ch.client(EchoService).echo({ message: "other" });
      assert.equal(stream.tryWrite("a"), 0);
      assert.ok(await eventually(() => rec.messages.length === 1));
      assert.deepEqual(rec.messages, ["echo:a"]);
      assert.equal(stream.state, "open");
      stream.close();
      await stream.closed;
      if (connectionType === "short") assert.ok(await eventually(() => server.connections.size === 0));
      ch.close();
      await server.stop(0);
    });
  }
});

describe("flow control", () => {
  it("tryWrite returns EAGAIN while the window is full and 0 again after the peer consumed", async () => {
    const p = await pairOf({ maxBufSize: 10 });
    assert.equal(p.client.tryWrite("12345"), 0);
    // Checked before appending: one message may overshoot the window (brpc).
    assert.equal(p.client.tryWrite("123456789"), 0);
    assert.equal(p.client.unconsumedBytes, 14);
    assert.equal(p.client.tryWrite("x"), ErrorCode.EAGAIN);
    assert.equal(p.client.tryWrite(""), ErrorCode.EAGAIN);
    assert.ok(await eventually(() => p.remote.queuedBytes === 14));
    assert.equal(p.client.tryWrite("x"), ErrorCode.EAGAIN, "nothing consumed yet");
    assert.equal((await p.pull()).value?.toString(), "12345");
    assert.ok(await eventually(() => p.client.unconsumedBytes === 9), "FEEDBACK moved the window");
    assert.equal(p.client.tryWrite("x"), 0);
    assert.equal(p.client.state, "open");
    await closePair(p);
  });

  it("maxBufSize <= 0 is unlimited: need_feedback=false and no FEEDBACK is sent", async () => {
    assert.equal(new Stream({ maxBufSize: -1 }).settings().needFeedback, false);
    assert.equal(new Stream({ maxBufSize: 0 }).settings().needFeedback, false);
    assert.equal(new Stream({ maxBufSize: 1 }).settings().needFeedback, true);
    let remote: Stream | undefined;
    const server = await serverOf((req, ctx) => {
      remote = ctx.acceptStream();
      return { message: req.message };
    });
    const proxy = await proxyTo(server.port);
    const ch = channelTo(proxy.address);
    const stream = new Stream({ maxBufSize: 0 });
    await ch.client(EchoService).echo({ message: "x" }, { stream });
    const chunk = "x".repeat(1000);
    for (let i = 0; i < 100; i++) assert.equal(stream.tryWrite(chunk), 0, `write ${i}`);
    const r = remote as Stream;
    assert.ok(await eventually(() => r.queuedBytes === 100_000));
    const it = r[Symbol.asyncIterator]();
    for (let i = 0; i < 100; i++) await it.next();
    await roundTrips(ch);
    const req = proxy.frames("c2s").find((f) => f.kind === "PRPC");
    assert.equal(req?.kind === "PRPC" && req.meta.streamSettings?.needFeedback, false);
    assert.deepEqual(
      proxy.strm("s2c").filter((f) => f.frameType === FT.FEEDBACK),
      [],
    );
    stream.close();
    await Promise.all([stream.closed, r.closed]);
    ch.close();
    await proxy.close();
    await server.stop(0);
  });

  it("FEEDBACK carries the cumulative consumed size, only to a writer that asked for it", async () => {
    // The client has a window (asks for feedback), the server has none (does not).
    const srv = recorder(async (s, ms) => {
      await new Promise((r) => setImmediate(r));
      for (const m of ms) s.tryWrite(`echo:${m.toString()}`);
    });
    let remote: Stream | undefined;
    const server = await serverOf((req, ctx) => {
      remote = ctx.acceptStream({ maxBufSize: 0, messagesInBatch: 1, handler: srv.handler });
      return { message: req.message };
    });
    const proxy = await proxyTo(server.port);
    const ch = channelTo(proxy.address);
    const cli = recorder();
    const stream = new Stream({ handler: cli.handler });
    await ch.client(EchoService).echo({ message: "x" }, { stream });
    for (const m of ["aa", "bbb", "cccc"]) assert.equal(stream.tryWrite(m), 0);
    assert.ok(await eventually(() => cli.messages.length === 3));
    await roundTrips(ch);
    const resp = unwrapResponse(proxy.strm("s2c")[0] as StrmFrame);
    assert.equal(resp.meta.streamSettings?.needFeedback, false);
    const fromServer = proxy.strm("s2c").filter((f) => f.frameType === FT.FEEDBACK);
    assert.ok(fromServer.length >= 1);
    for (const f of fromServer) {
      assert.equal(f.streamId, stream.id);
      assert.equal(f.sourceStreamId, (remote as Stream).id);
      assert.ok([2, 5, 9].includes(f.consumedSize as number), describeFrame(f));
    }
    const sizes = fromServer.map((f) => f.consumedSize as number);
    assert.deepEqual(
      sizes,
      [...sizes].sort((a, b) => a - b),
      "cumulative",
    );
    assert.equal(sizes.at(-1), 9);
    assert.equal(stream.unconsumedBytes, 0);
    assert.deepEqual(
      proxy.strm("c2s").filter((f) => f.frameType === FT.FEEDBACK),
      [],
      "the server did not ask for feedback",
    );
    stream.close();
    await Promise.all([stream.closed, (remote as Stream).closed]);
    ch.close();
    await proxy.close();
    await server.stop(0);
  });

  it("writing to a peer stream that is not readable fails with EBADF", async () => {
    const events: string[] = [];
    const server = await serverOf((req, ctx) => {
      if (req.message === "server-not-readable") {
        ctx.acceptStream({ readable: false });
      } else {
        ctx.acceptStream({
          handler: {
            onReceivedMessages(s) {
              events.push(`rc=${s.tryWrite("back")}`);
            },
          },
        });
      }
      return { message: req.message };
    });
    const ch = channelTo(server.address);
    const echo = ch.client(EchoService);
    // The server's stream announced writable=false.
    const a = new Stream();
    await echo.echo({ message: "server-not-readable" }, { stream: a });
    assert.equal(a.tryWrite("x"), ErrorCode.EBADF);
    const e = await settle(a.write("x"));
    assert.ok(!e.ok && e.error instanceof RpcError && e.error.code === ErrorCode.EBADF, String(e));
    assert.equal(a.state, "open", "EBADF does not break the stream");
    // The client's stream announced writable=false: the server's writes fail.
    const b = new Stream({ readable: false });
    await echo.echo({ message: "client-not-readable" }, { stream: b });
    assert.equal(b.settings().writable, false);
    assert.equal(b.tryWrite("go"), 0);
    assert.ok(await eventually(() => events.length === 1));
    assert.deepEqual(events, [`rc=${ErrorCode.EBADF}`]);
    a.close();
    b.close();
    await Promise.all([a.closed, b.closed]);
    ch.close();
    await server.stop(0);
  });

  it("messages larger than maxSegmentSize travel as continuation segments and arrive whole", async () => {
    const srv = echoing();
    const server = await serverOf((req, ctx) => {
      ctx.acceptStream({ maxSegmentSize: 3, handler: srv.handler });
      return { message: req.message };
    });
    const proxy = await proxyTo(server.port);
    const ch = channelTo(proxy.address);
    const cli = recorder();
    const stream = new Stream({ maxSegmentSize: 4, handler: cli.handler });
    await ch.client(EchoService).echo({ message: "x" }, { stream });
    assert.equal(stream.tryWrite("0123456789"), 0);
    assert.equal(stream.tryWrite("abcd"), 0);
    assert.ok(await eventually(() => cli.messages.length === 2));
    assert.deepEqual(srv.messages, ["0123456789", "abcd"]);
    assert.deepEqual(cli.messages, ["echo:0123456789", "echo:abcd"]);
    await roundTrips(ch);
    const sent = proxy
      .strm("c2s")
      .filter((f) => f.frameType === FT.DATA)
      .map((f) => `${f.data.toString()}${f.hasContinuation ? "+" : ""}`);
    assert.deepEqual(sent, ["0123+", "4567+", "89", "abcd"]);
    const back = proxy
      .strm("s2c")
      .slice(1) // the response
      .filter((f) => f.frameType === FT.DATA)
      .map((f) => `${f.data.toString()}${f.hasContinuation ? "+" : ""}`);
    assert.deepEqual(back, ["ech+", "o:0+", "123+", "456+", "789", "ech+", "o:a+", "bcd"]);
    // Consumption counts whole messages.
    const fb = proxy.strm("s2c").filter((f) => f.frameType === FT.FEEDBACK);
    assert.equal(fb.at(-1)?.consumedSize, 14);
    stream.close();
    await stream.closed;
    ch.close();
    await proxy.close();
    await server.stop(0);
  });
});

describe("routing of STRM frames", () => {
  it("a frame for an unknown stream gets an RST to its source; FEEDBACK and RST get nothing", async () => {
    const server = await echoServer();
    const raw = await RawClient.connect(server.port);
    try {
      raw.write(
        Buffer.concat([
          encodeStrm({
            streamId: 12345,
            sourceStreamId: 77,
            frameType: FT.DATA,
            hasContinuation: false,
            data: "x",
          }),
          encodeStrm({ streamId: 12345, sourceStreamId: 78, frameType: FT.CLOSE }),
          encodeStrm({ streamId: 12345, sourceStreamId: 79, frameType: FT.FEEDBACK, consumedSize: 5 }),
          encodeStrm({ streamId: 12345, frameType: FT.RST }),
          encodeStrm({ streamId: 12345, sourceStreamId: 80, frameType: FT.RST }),
          encodeStrm({
            streamId: 12345,
            sourceStreamId: 81,
            frameType: FT.DATA,
            hasContinuation: true,
            data: "y",
          }),
          ECHO_REQUEST,
        ]),
      );
      assert.ok(
        await raw.waitFor(() => raw.received.includes("PRPC")),
        "the connection keeps serving requests",
      );
      await raw.waitFor(() => {
        try {
          return strmFrames(raw.received).length >= 3;
        } catch {
          return false;
        }
      });
      const prefix = raw.received.subarray(0, raw.received.indexOf("PRPC"));
      assert.deepEqual(strmFrames(prefix).map(describeFrame), ["RST 77", "RST 78", "RST 81"]);
      assert.equal(raw.closed, false);
    } finally {
      raw.close();
      await server.stop(0);
    }
  });

  it("a stream cannot be reached from another connection", async () => {
    const srv = recorder();
    let accepted: Stream | undefined;
    const server = await serverOf((req, ctx) => {
      accepted = ctx.acceptStream({ handler: srv.handler });
      return { message: req.message };
    });
    const ch = channelTo(server.address);
    const stream = new Stream();
    await ch.client(EchoService).echo({ message: "x" }, { stream });
    const target = stream.remoteStreamId as number;
    assert.equal(target, (accepted as Stream).id);
    const raw = await RawClient.connect(server.port);
    try {
      raw.write(
        Buffer.concat([
          encodeStrm({
            streamId: target,
            sourceStreamId: 5,
            frameType: FT.DATA,
            hasContinuation: false,
            data: "evil",
          }),
          encodeStrm({ streamId: target, sourceStreamId: 6, frameType: FT.FEEDBACK, consumedSize: 1 << 20 }),
          encodeStrm({ streamId: target, frameType: FT.RST }),
          encodeStrm({ streamId: target, sourceStreamId: 7, frameType: FT.CLOSE }),
          ECHO_REQUEST,
        ]),
      );
      assert.ok(await raw.waitFor(() => raw.received.includes("PRPC")));
      const prefix = raw.received.subarray(0, raw.received.indexOf("PRPC"));
      assert.deepEqual(strmFrames(prefix).map(describeFrame), ["RST 5", "RST 7"]);
    } finally {
      raw.close();
    }
    assert.equal(stream.tryWrite("good"), 0);
    assert.ok(await eventually(() => srv.messages.length === 1));
    assert.deepEqual(srv.messages, ["good"]);
    assert.deepEqual(srv.events, ["msg:good"], "not reset, closed or fed by the other connection");
    assert.equal((accepted as Stream).state, "open");
    stream.close();
    await Promise.all([stream.closed, (accepted as Stream).closed]);
    ch.close();
    await server.stop(0);
  });
});

describe("accepting streams and the RPC's outcome", () => {
  it("ctx.acceptStream() throws without a stream or with several; acceptStreams() only once", async () => {
    const errors: { tag: string; code: number; text: string }[] = [];
    const record = (tag: string, f: () => unknown) => {
      try {
        f();
        errors.push({ tag, code: 0, text: "" });
      } catch (e) {
        assert.ok(e instanceof RpcError, String(e));
        errors.push({ tag, code: e.code, text: e.text });
      }
    };
    const server = await serverOf((req, ctx) => {
      if (req.message === "none") {
        errors.push({ tag: "has", code: ctx.hasRemoteStream ? 1 : 0, text: "" });
        record("none", () => ctx.acceptStream());
      } else {
        record("single of several", () => ctx.acceptStream());
        record("all", () => ctx.acceptStreams());
        record("again", () => ctx.acceptStreams());
      }
      return { message: req.message };
    });
    const ch = channelTo(server.address);
    const echo = ch.client(EchoService);
    await echo.echo({ message: "none" });
    const streams = [new Stream(), new Stream()];
    await echo.echo({ message: "several" }, { streams });
    assert.deepEqual(
      errors.map((e) => [e.tag, e.code]),
      [
        ["has", 0],
        ["none", ErrorCode.EINVAL],
        ["single of several", ErrorCode.EINVAL],
        ["all", 0],
        ["again", ErrorCode.EINVAL],
      ],
    );
    assert.match(errors[1]?.text ?? "", /No stream/);
    for (const s of streams) assert.equal(s.state, "open");
    for (const s of streams) s.close();
    await Promise.all(streams.map((s) => s.closed));
    ch.close();
    await server.stop(0);
  });

  it("a server that does not accept the stream: the call fails with EREQUEST and the stream fails", async () => {
    const server = await echoServer();
    const ch = channelTo(server.address);
    const rec = recorder();
    const stream = new Stream({ handler: rec.handler });
    const e = await failure(ch.client(EchoService).echo({ message: "x", openStream: false }, { stream }));
    assert.equal(e.code, ErrorCode.EREQUEST);
    assert.match(e.text, /The server didn't accept the stream/);
    await stream.closed;
    assert.equal(stream.state, "failed");
    assert.equal(stream.errorCode, ErrorCode.EREQUEST);
    assert.deepEqual(rec.events, [`failed:${ErrorCode.EREQUEST}`, "closed"]);
    assert.notEqual(stream.tryWrite("x"), 0);
    // The connection is still fine.
    assert.equal((await ch.client(EchoService).echo({ message: "after" })).message, "after");
    ch.close();
    await server.stop(0);
  });

  it("a failed call (fail_code) fails its streams with the RPC's error and resets the server's stream", async () => {
    const srv = recorder();
    let accepted: Stream | undefined;
    const server = await serverOf((req, ctx) => {
      accepted = ctx.acceptStream({ handler: srv.handler });
      ctx.setFailed(2001 + 5, "failed on purpose");
      return { message: req.message };
    });
    const ch = channelTo(server.address);
    const cli = recorder();
    const stream = new Stream({ handler: cli.handler });
    const e = await failure(ch.client(EchoService).echo({ message: "x" }, { stream }));
    assert.equal(e.code, 2006);
    await stream.closed;
    assert.deepEqual(cli.events, ["failed:2006", "closed"]);
    assert.equal(cli.failures[0]?.code, e.code);
    await (accepted as Stream).closed;
    assert.deepEqual(srv.events, [`failed:${ErrorCode.ECONNRESET}`, "closed"], "the server's stream got RST");
    ch.close();
    await server.stop(0);
  });

  it("a call to a missing method (ENOMETHOD) fails its stream with ENOMETHOD", async () => {
    const server = await echoServer(); // Missing fails with ENOMETHOD, without accepting
    const proxy = await proxyTo(server.port);
    const ch = channelTo(proxy.address);
    const rec = recorder();
    const stream = new Stream({ handler: rec.handler });
    const e = await failure(ch.client(EchoService).missing({ message: "x" }, { stream }));
    assert.equal(e.code, ErrorCode.ENOMETHOD);
    await stream.closed;
    assert.deepEqual(rec.events, [`failed:${ErrorCode.ENOMETHOD}`, "closed"]);
    // brpc wraps even this response in STRM DATA, from INVALID_STREAM_ID (-1).
    const [wrapped] = proxy.strm("s2c");
    assert.equal(wrapped?.frameType, FT.DATA);
    assert.equal(wrapped?.streamId, stream.id);
    assert.equal(wrapped?.sourceStreamId, -1n);
    assert.equal(unwrapResponse(wrapped as StrmFrame).meta.errorCode, ErrorCode.ENOMETHOD);
    ch.close();
    await proxy.close();
    await server.stop(0);
  });

  for (const how of ["times out", "is canceled"] as const) {
    it(`a call that ${how} fails its stream; the stream announced by the late response is reset`, async () => {
      const entered = deferred();
      const release = deferred();
      const srv = recorder();
      let accepted: Stream | undefined;
      const server = await serverOf(async (req, ctx) => {
        accepted = ctx.acceptStream({ handler: srv.handler });
        entered.resolve();
        await release.promise;
        return { message: req.message };
      });
      const ch = channelTo(server.address);
      const cli = recorder();
      const stream = new Stream({ handler: cli.handler });
      const ac = new AbortController();
      const call = ch
        .client(EchoService)
        .echo(
          { message: "x" },
          how === "times out" ? { stream, timeoutMs: 50 } : { stream, signal: ac.signal },
        );
      await entered.promise;
      if (how === "is canceled") ac.abort();
      const e = await failure(call);
      const code = how === "times out" ? ErrorCode.ERPCTIMEDOUT : ErrorCode.ECANCELED;
      assert.equal(e.code, code);
      await stream.closed;
      assert.deepEqual(cli.events, [`failed:${code}`, "closed"]);
      release.resolve();
      await (accepted as Stream).closed;
      assert.deepEqual(srv.events, [`failed:${ErrorCode.ECONNRESET}`, "closed"]);
      // The connection is still usable.
      assert.equal((await ch.client(EchoService).echo({ message: "sync after" })).message, "sync after");
    });
  }

  it("the client closes its stream before the RPC returns: the call completes, then the peer gets CLOSE", async () => {
    const entered = deferred();
    const release = deferred();
    const srv = recorder();
    let accepted: Stream | undefined;
    const server = await serverOf(async (req, ctx) => {
      accepted = ctx.acceptStream({ handler: srv.handler });
      entered.resolve();
      await release.promise;
      return { message: req.message };
    });
    const ch = channelTo(server.address);
    const cli = recorder();
    const stream = new Stream({ handler: cli.handler });
    const call = ch.client(EchoService).echo({ message: "x" }, { stream });
    await entered.promise;
    stream.close();
    assert.equal(stream.tryWrite("late"), ErrorCode.EINVAL);
    release.resolve();
    const res = await call;
    assert.equal(res.message, "x");
    await stream.closed;
    assert.deepEqual(cli.events, ["closed"]);
    await (accepted as Stream).closed;
    assert.deepEqual(srv.events, ["closed"], "closed normally by the client's CLOSE");
    ch.close();
    await server.stop(0);
  });

  it("the client disconnects before the handler accepts: the accepted stream fails, the server goes on", async () => {
    const entered = deferred();
    const release = deferred();
    const srv = recorder();
    let accepted: Stream | undefined;
    const server = await serverOf(async (req, ctx) => {
      if (req.message === "slow") {
        entered.resolve();
        await release.promise;
        accepted = ctx.acceptStream({ handler: srv.handler });
        accepted.tryWrite("into the void");
      }
      return { message: req.message };
    });
    const ch = channelTo(server.address);
    const cli = recorder();
    const stream = new Stream({ handler: cli.handler });
    const call = settle(ch.client(EchoService).echo({ message: "slow" }, { stream }));
    await entered.promise;
    ch.close();
    assert.equal((await call).ok, false);
    await stream.closed;
    assert.equal(cli.events.at(-1), "closed");
    assert.ok(await eventually(() => server.connections.size === 0));
    release.resolve();
    assert.ok(await eventually(() => accepted !== undefined));
    await (accepted as Stream).closed;
    assert.equal(srv.events.length, 2, srv.events.join());
    assert.match(srv.events[0] ?? "", /^failed:\d+$/);
    assert.equal(srv.events[1], "closed");
    const ch2 = channelTo(server.address);
    assert.equal((await ch2.client(EchoService).echo({ message: "still up" })).message, "still up");
    ch2.close();
    await server.stop(0);
  });
});

describe("close, reset and failure", () => {
  it("close(): onClosed once on each side after every received message; CLOSE answered without ping-pong", async () => {
    const srv = recorder(async () => {
      // A slow consumer: the CLOSE arrives while messages are still queued.
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
    });
    let accepted: Stream | undefined;
    const server = await serverOf((req, ctx) => {
      accepted = ctx.acceptStream({ messagesInBatch: 1, handler: srv.handler });
      return { message: req.message };
    });
    const proxy = await proxyTo(server.port);
    const ch = channelTo(proxy.address);
    const cli = recorder();
    const stream = new Stream({ handler: cli.handler });
    await ch.client(EchoService).echo({ message: "x" }, { stream });
    const remote = accepted as Stream;
    for (let i = 0; i < 5; i++) assert.equal(stream.tryWrite(`m${i}`), 0);
    stream.close();
    stream.close();
    stream.reset();
    assert.equal(stream.tryWrite("x"), ErrorCode.EINVAL);
    const w = await settle(stream.write("x"));
    assert.ok(!w.ok && w.error instanceof RpcError && w.error.code === ErrorCode.EINVAL);
    await Promise.all([stream.closed, remote.closed]);
    assert.deepEqual(srv.events, ["msg:m0", "msg:m1", "msg:m2", "msg:m3", "msg:m4", "closed"]);
    assert.deepEqual(cli.events, ["closed"]);
    assert.equal(stream.state, "closed");
    assert.equal(remote.state, "closed");
    await roundTrips(ch, 3);
    const cid = stream.id;
    const sid = remote.id;
    assert.deepEqual(controlFrames(proxy.strm("c2s")), [`CLOSE ${sid}<-${cid}`, `RST ${sid}`]);
    assert.deepEqual(controlFrames(proxy.strm("s2c")), [`CLOSE ${cid}<-${sid}`]);
    assert.deepEqual(srv.events.at(-1), "closed");
    assert.deepEqual(cli.events, ["closed"]);
    ch.close();
    await proxy.close();
    await server.stop(0);
  });

  it("iteration: the peer's CLOSE ends the stream only after the reader took every message received before it", async () => {
    const life = lifecycleRecorder();
    const p = await pairOf({}, { handler: life.handler });
    for (const m of ["a", "b", "c"]) assert.equal(p.client.tryWrite(m), 0);
    p.client.close();
    await p.client.closed;
    // The CLOSE arrived after a, b and c, none of which was taken by the reader yet.
    assert.ok(await eventually(() => p.remote.state !== "open"));
    assert.equal(p.remote.queuedBytes, 3);
    assert.deepEqual(life.events, [], "onClosed must wait for the messages still queued for the reader");
    assert.equal(await settledYet(p.remote.closed), false, "`closed` too");
    assert.equal(p.remote.state, "closing");
    const got: string[] = [];
    for (let r = await p.pull(); !r.done; r = await p.pull()) got.push(r.value.toString());
    assert.deepEqual(got, ["a", "b", "c"]);
    await p.remote.closed;
    assert.deepEqual(life.events, ["closed"]);
  });

  it("both sides close at once: each gets onClosed once and no onFailed", async () => {
    const srv = recorder();
    let accepted: Stream | undefined;
    const server = await serverOf((req, ctx) => {
      accepted = ctx.acceptStream({ handler: srv.handler });
      return { message: req.message };
    });
    const proxy = await proxyTo(server.port);
    const ch = channelTo(proxy.address);
    const cli = recorder();
    const stream = new Stream({ handler: cli.handler });
    await ch.client(EchoService).echo({ message: "x" }, { stream });
    const remote = accepted as Stream;
    stream.close();
    remote.close();
    await Promise.all([stream.closed, remote.closed]);
    await roundTrips(ch, 3);
    assert.deepEqual(cli.events, ["closed"]);
    assert.deepEqual(srv.events, ["closed"]);
    // Each CLOSE hits a closed stream and is answered by one RST; nothing answers an RST.
    const c2s = controlFrames(proxy.strm("c2s"));
    const s2c = controlFrames(proxy.strm("s2c"));
    assert.ok(c2s.length <= 2 && s2c.length <= 2, `${c2s.join()} / ${s2c.join()}`);
    assert.equal(c2s.filter((f) => f.startsWith("CLOSE")).length, 1);
    assert.equal(s2c.filter((f) => f.startsWith("CLOSE")).length, 1);
    ch.close();
    await proxy.close();
    await server.stop(0);
  });

  it("reset(): the peer sees onFailed(ECONNRESET) then onClosed, after the messages it already had", async () => {
    const srv = recorder(async () => {
      await new Promise((r) => setImmediate(r));
    });
    let accepted: Stream | undefined;
    const server = await serverOf((req, ctx) => {
      accepted = ctx.acceptStream({ messagesInBatch: 1, handler: srv.handler });
      return { message: req.message };
    });
    const ch = channelTo(server.address);
    const cli = recorder();
    const stream = new Stream({ handler: cli.handler });
    await ch.client(EchoService).echo({ message: "x" }, { stream });
    for (const m of ["a", "b", "c"]) stream.tryWrite(m);
    stream.reset();
    await Promise.all([stream.closed, (accepted as Stream).closed]);
    assert.deepEqual(cli.events, [`failed:${ErrorCode.ECONNRESET}`, "closed"]);
    assert.deepEqual(srv.events, ["msg:a", "msg:b", "msg:c", `failed:${ErrorCode.ECONNRESET}`, "closed"]);
    assert.equal(stream.state, "failed");
    assert.equal((accepted as Stream).state, "failed");
    assert.equal((accepted as Stream).errorCode, ErrorCode.ECONNRESET);
    // And from the server side.
    const cli2 = recorder();
    const s2 = new Stream({ handler: cli2.handler });
    await ch.client(EchoService).echo({ message: "x" }, { stream: s2 });
    (accepted as Stream).reset();
    await s2.closed;
    assert.deepEqual(cli2.events, [`failed:${ErrorCode.ECONNRESET}`, "closed"]);
    await (accepted as Stream).closed;
    ch.close();
    await server.stop(0);
  });

  it("onFailed runs at most once and before onClosed, whatever fails afterwards", async () => {
    const srv = recorder();
    let accepted: Stream | undefined;
    const server = await serverOf((req, ctx) => {
      accepted = ctx.acceptStream({ handler: srv.handler });
      return { message: req.message };
    });
    const ch = channelTo(server.address);
    const cli = recorder();
    const stream = new Stream({ handler: cli.handler });
    await ch.client(EchoService).echo({ message: "x" }, { stream });
    const remote = accepted as Stream;
    remote.reset(); // client: RST → ECONNRESET
    await stream.closed;
    stream.reset();
    stream.close();
    stream.fail(ErrorCode.EINTERNAL, "again");
    remote.close();
    ch.close(); // the connection fails too
    await remote.closed;
    await sleep(20);
    assert.deepEqual(cli.events, [`failed:${ErrorCode.ECONNRESET}`, "closed"]);
    assert.deepEqual(srv.events, [`failed:${ErrorCode.ECONNRESET}`, "closed"]);
    assert.equal(cli.failures.length, 1);
    await server.stop(0);
  });

  it("maxQueuedBytes: a peer flooding a stream whose reader never pulls gets EOVERCROWDED and RST", async () => {
    const srvLife = lifecycleRecorder();
    const p = await pairOf({ maxBufSize: 0 }, { maxQueuedBytes: 100, handler: srvLife.handler });
    // openPair's client has no handler: watch it through its state and `closed`.
    for (let i = 0; i < 20; i++) {
      const rc = p.client.tryWrite("0123456789");
      if (rc !== 0) break;
    }
    await p.remote.closed;
    assert.equal(p.remote.state, "failed");
    assert.equal(p.remote.errorCode, ErrorCode.EOVERCROWDED);
    assert.deepEqual(srvLife.events, [`failed:${ErrorCode.EOVERCROWDED}`, "closed"]);
    await p.client.closed;
    assert.equal(p.client.state, "failed");
    assert.equal(p.client.errorCode, ErrorCode.ECONNRESET, "the writer got RST");
    p.channel.close();
    await p.server.stop(0);
  });

  it("server process killed (kill -9): the stream fails with onFailed then onClosed, later writes fail", async () => {
    const proc = await startServerProcess();
    const exited = new Promise((r) => proc.child.once("exit", r));
    track(proc, (p) => p.child.kill("SIGKILL"));
    try {
      const ch = channelTo(`127.0.0.1:${proc.port}`);
      const rec = recorder();
      const stream = new Stream({ handler: rec.handler });
      await ch.client(EchoService).echo({ message: "x", openStream: true }, { stream });
      const iterated = new Stream();
      await ch.client(EchoService).echo({ message: "y", openStream: true }, { stream: iterated });
      const reading = settle(
        (async () => {
          for await (const _ of iterated) {
            // nothing arrives
          }
        })(),
      );
      assert.equal(stream.tryWrite("a"), 0);
      assert.ok(await eventually(() => rec.messages.length === 1));
      proc.child.kill("SIGKILL");
      await stream.closed;
      await iterated.closed;
      assert.equal(rec.events.length, 3, rec.events.join());
      assert.equal(rec.events[0], "msg:echo:a");
      assert.match(rec.events[1] ?? "", new RegExp(`^failed:(${ErrorCode.EEOF}|${ErrorCode.ECONNRESET})$`));
      assert.equal(rec.events[2], "closed");
      assert.equal(stream.state, "failed");
      assert.notEqual(stream.tryWrite("b"), 0);
      const w = await settle(stream.write("b"));
      assert.equal(w.ok, false);
      const r = await reading;
      assert.ok(!r.ok && r.error instanceof RpcError, "the iteration ends with the failure");
      ch.close();
    } finally {
      proc.child.kill("SIGKILL");
      await exited;
    }
  });
});

describe("idle timeout", () => {
  const P = 100;
  for (const mode of ["handler", "iteration"] as const) {
    it(`onIdleTimeout fires repeatedly while idle and not while data flows (${mode})`, async () => {
      // Two streams with the same idleTimeoutMs: "clock" stays idle and ticks every period,
      // "data" carries a ping-pong until the clock has ticked 3 times.
      const ticks = { clock: 0, data: 0 };
      let accepted: Stream[] = [];
      const server = await serverOf((req, ctx) => {
        accepted = ctx.acceptStreams({
          idleTimeoutMs: P,
          handler: {
            onIdleTimeout(s) {
              if (s === accepted[0]) ticks.data++;
              else ticks.clock++;
            },
            ...(mode === "handler"
              ? {
                  onReceivedMessages(s: Stream, ms: Buffer[]) {
                    for (const m of ms) s.tryWrite(m);
                  },
                }
              : {}),
          },
        });
        if (mode === "iteration") {
          const d = accepted[0] as Stream;
          (async () => {
            for await (const m of d) d.tryWrite(m);
          })().catch(() => {});
        }
        return { message: req.message };
      });
      const ch = channelTo(server.address);
      let flowing = true;
      let pongs = 0;
      const data = new Stream({
        handler: {
          onReceivedMessages(s, ms) {
            pongs += ms.length;
            if (flowing) s.tryWrite("ping");
          },
        },
      });
      const clock = new Stream();
      await ch.client(EchoService).echo({ message: "x" }, { streams: [data, clock] });
      data.tryWrite("ping");
      assert.ok(await eventually(() => ticks.clock >= 3, 5000), "the idle stream ticks repeatedly");
      const during = ticks.data;
      flowing = false;
      assert.ok(pongs > 10, `${pongs} round trips`);
      assert.equal(during, 0, `onIdleTimeout fired ${during} times while data flowed`);
      assert.ok(await eventually(() => ticks.data >= 2, 5000), "and fires repeatedly once idle");
      data.close();
      clock.close();
      await Promise.all([data.closed, clock.closed, ...accepted.map((s) => s.closed)]);
      const after = { ...ticks };
      await sleep(P * 2);
      assert.deepEqual(ticks, after, "no idle callbacks after close");
      ch.close();
      await server.stop(0);
    });
  }
});

describe("waiting writes (each scenario in a child process: a hang fails instead of blocking the runner)", () => {
  const results = new Map<string, Promise<Record<string, unknown>>>();
  const result = (name: string) => {
    let r = results.get(name);
    if (r === undefined) {
      r = runScenario(name);
      results.set(name, r);
    }
    return r;
  };
  // Start them all at once (after the in-process tests): a hung child costs its timeout
  // once, not once per test.
  before(() => {
    for (const name of SCENARIOS) result(name).catch(() => {});
  });

  it("write() waits while the window is full and resolves once the peer consumed", async () => {
    const r = await result("write-waits");
    assert.equal(r.first, 0);
    assert.equal(r.eagain, ErrorCode.EAGAIN);
    assert.equal(r.settledBeforeConsume, false);
    assert.equal(r.got1, "12345");
    assert.deepEqual(r.res, { ok: true });
    assert.equal(r.got2, "abcde");
    assert.deepEqual(r.waitResolved, { ok: true });
    assert.equal(r.timers, 0);
  });

  it("awaited writes through a small window reach a slow consumer in order, never overshooting by more than a message", async () => {
    const r = await result("write-flow");
    assert.equal(r.received, 300);
    assert.equal(r.inOrder, true);
    // A write is accepted while unconsumed < window (64): at most 63 + one 10-byte message.
    assert.ok((r.maxUnconsumed as number) <= 73, `unconsumed reached ${r.maxUnconsumed}`);
    assert.equal(r.unconsumedAtEnd, 0, "the last FEEDBACK acknowledged everything");
    assert.equal(r.timers, 0);
  });

  it("write() refused for a full connection backlog (EOVERCROWDED) resolves once the backlog is flushed", async () => {
    const r = await result("write-overcrowded");
    assert.equal(r.rc1, 0);
    assert.equal(r.rc2, ErrorCode.EOVERCROWDED, "1000-byte backlog limit, 2000 bytes not yet flushed");
    assert.deepEqual(
      r.waited,
      { ok: true },
      "the backlog drained right away: the write must not wait for its deadline",
    );
    assert.deepEqual(r.received, [2000, 2000]);
    assert.equal(r.rc3, 0);
    assert.equal(r.timers, 0);
  });

  it("write() and wait() reject with ETIMEDOUT after timeoutMs when the peer never consumes", async () => {
    const r = await result("write-timeout");
    assert.equal((r.explicit as { code: number }).code, ErrorCode.ETIMEDOUT);
    assert.equal((r.byOption as { code: number }).code, ErrorCode.ETIMEDOUT, "writeTimeoutMs");
    assert.equal((r.waited as { code: number }).code, ErrorCode.ETIMEDOUT);
    assert.equal(r.stillOpen, "open");
    assert.equal(r.timersWhileOpen, 0, "no waiter timer left behind");
    assert.equal(r.timers, 0);
  });

  it("write() rejects with ECANCELED when its AbortSignal fires (or had fired)", async () => {
    const r = await result("write-abort");
    assert.equal((r.aborted as { code: number }).code, ErrorCode.ECANCELED);
    assert.equal((r.pre as { code: number }).code, ErrorCode.ECANCELED);
    assert.equal(r.stillOpen, "open");
    assert.equal(r.timers, 0);
  });

  it("waiting writes reject with ECONNRESET when the stream is closed or reset", async () => {
    const r = await result("write-closed");
    assert.equal((r.localClose as { code: number }).code, ErrorCode.ECONNRESET);
    assert.equal((r.peerReset as { code: number }).code, ErrorCode.ECONNRESET);
    assert.equal(r.timers, 0);
  });

  it("server killed while a write waits: the write rejects, the stream fails, no timers remain", async () => {
    const r = await result("server-killed-pending-write");
    assert.equal((r.pending as { code: number }).code, ErrorCode.ECONNRESET, "waiters wake with ECONNRESET");
    assert.equal((r.later as { ok: boolean }).ok, false);
    const events = r.events as string[];
    assert.equal(events.length, 2, events.join());
    // The host connection's error: EOF, or a reset (EPIPE if our write hit the dead socket first).
    assert.match(
      events[0] ?? "",
      new RegExp(`^failed:(${ErrorCode.EEOF}|${ErrorCode.ECONNRESET}|${ErrorCode.EPIPE})$`),
    );
    assert.equal(events[1], "closed");
    assert.equal(r.state, "failed");
    assert.equal(r.timers, 0);
  });
});
