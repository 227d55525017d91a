/**
 * The builtin HTTP/2 client engine (ChannelOptions.h2Engine "builtin"): many calls on one
 * session, MAX_CONCURRENT_STREAMS, flow control against a peer that stops reading,
 * GOAWAY in the middle of calls, peers that break the protocol or vanish mid-response,
 * and 10 MiB through a bidi stream against @grpc/grpc-js.
 */
import assert from "node:assert/strict";
import { constants as h2c, type ServerHttp2Stream } from "node:http2";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EchoRequestSchema, EchoResponseSchema, EchoService } from "../examples/gen/peer_pb.js";
import { Channel, ErrorCode } from "../src/index.js";
import { ItemSchema, StreamService } from "./gen/client_stream_pb.js";
import { type GrpcPeer, startGrpcPeer } from "./helpers/client-grpc-server.js";
import {
  grpcFrame,
  grpcMessages,
  grpcRespond,
  type H2Peer,
  type H2Request,
  startH2Peer,
} from "./helpers/client-h2-server.js";
import { eventually, failure } from "./helpers/servers.js";

const reply = (message: string) => toBinary(EchoResponseSchema, create(EchoResponseSchema, { message }));

function echoGrpc(r: H2Request): void {
  const [m] = grpcMessages(r.body);
  const req = fromBinary(EchoRequestSchema, m?.data ?? Buffer.alloc(0));
  grpcRespond(r.stream, grpcFrame(reply(req.message)), { "grpc-status": "0" });
}

/** A raw TCP peer: `onConn` gets every accepted socket. */
async function rawPeer(
  onConn: (s: Socket) => void,
): Promise<{ server: Server; address: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    onConn(s);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    server,
    address,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** These tests are about the builtin engine, whatever the default. */
const BUILTIN = { h2Engine: "builtin" } as const;

/** An empty SETTINGS frame. */
const SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

describe("builtin h2 client engine", () => {
  let peer: H2Peer;
  let sessions = 0;
  before(async () => {
    peer = await startH2Peer(echoGrpc);
    peer.server.on("session", () => sessions++);
  });
  after(async () => {
    await peer.close();
  });

  it("is the default (unless BRPC_TS_H2_ENGINE=node); h2Engine 'node' still works", async () => {
    const d = new Channel(peer.address, { protocol: "h2:grpc", maxRetry: 0 });
    assert.equal(
      (d.source as unknown as { builtin: boolean }).builtin,
      process.env.BRPC_TS_H2_ENGINE !== "node",
    );
    d.close();
    const a = new Channel(peer.address, { ...BUILTIN, protocol: "h2:grpc", maxRetry: 0 });
    const b = new Channel(peer.address, { protocol: "h2:grpc", maxRetry: 0, h2Engine: "node" });
    try {
      assert.equal((a.source as unknown as { builtin: boolean }).builtin, true);
      assert.equal((b.source as unknown as { builtin: boolean }).builtin, false);
      assert.equal((await a.client(EchoService).echo({ message: "a" })).message, "a");
      assert.equal((await b.client(EchoService).echo({ message: "b" })).message, "b");
    } finally {
      a.close();
      b.close();
    }
  });

  it("1000 concurrent calls share one session and all get their own answer", async () => {
    peer.handle(echoGrpc);
    const before = sessions;
    const ch = new Channel(peer.address, { ...BUILTIN, protocol: "h2:grpc", maxRetry: 0, timeoutMs: 10000 });
    try {
      const echo = ch.client(EchoService).echo;
      const res = await Promise.all(Array.from({ length: 1000 }, (_, i) => echo({ message: `m${i}` })));
      for (const [i, r] of res.entries()) assert.equal(r.message, `m${i}`);
      assert.equal(sessions - before, 1);
    } finally {
      ch.close();
    }
  });

  it("MAX_CONCURRENT_STREAMS of the server is respected: calls wait for a free stream", async () => {
    const p = await startH2Peer();
    p.server.updateSettings({ maxConcurrentStreams: 2 });
    let open = 0;
    let most = 0;
    p.server.on("stream", (s: ServerHttp2Stream) => {
      open++;
      most = Math.max(most, open);
      s.on("close", () => open--);
    });
    p.handle((r) => setTimeout(() => echoGrpc(r), 5));
    const ch = new Channel(p.address, { ...BUILTIN, protocol: "h2:grpc", maxRetry: 0, timeoutMs: 5000 });
    try {
      // Let the SETTINGS arrive first (the limit applies from then on).
      await ch.client(EchoService).echo({ message: "warm" });
      const echo = ch.client(EchoService).echo;
      const res = await Promise.all(Array.from({ length: 20 }, (_, i) => echo({ message: `c${i}` })));
      for (const [i, r] of res.entries()) assert.equal(r.message, `c${i}`);
      assert.ok(most <= 2, `at most 2 streams at once, saw ${most}`);
    } finally {
      ch.close();
      await p.close();
    }
  });

  it("a server that stops reading: flow control stops the request stream, the deadline ends the call", async () => {
    // Sends its SETTINGS, then never reads: the client may send 64 KiB (default windows).
    const raw = await rawPeer((s) => {
      s.write(SETTINGS);
      s.pause();
    });
    const ch = new Channel(raw.address, { ...BUILTIN, protocol: "h2:grpc", maxRetry: 0, timeoutMs: 300 });
    let pulled = 0;
    async function* items() {
      for (let i = 0; i < 10000; i++) {
        pulled++;
        yield { value: i, blob: new Uint8Array(16 * 1024) };
      }
    }
    try {
      const t0 = Date.now();
      const e = await failure(ch.client(StreamService).sum(items()));
      assert.equal(e.code, ErrorCode.ERPCTIMEDOUT, e.text);
      assert.ok(Date.now() - t0 < 2000);
      // 64 KiB of window = 4 messages of 16 KiB; a few more may be pulled before the pump waits.
      assert.ok(pulled < 10, `the request stream was paused (pulled ${pulled})`);
      // A unary call on the stalled peer times out too.
      const e2 = await failure(ch.client(EchoService).echo({ message: "x" }));
      assert.equal(e2.code, ErrorCode.ERPCTIMEDOUT, e2.text);
    } finally {
      ch.close();
      await raw.close();
    }
  });

  it("GOAWAY in the middle of calls: streams above lastStreamId are retried on a new session", async () => {
    const p = await startH2Peer();
    let sessionsSeen = 0;
    p.server.on("session", () => sessionsSeen++);
    const held: H2Request[] = [];
    let first = true;
    p.handle((r) => {
      if (!first) {
        echoGrpc(r);
        return;
      }
      held.push(r);
      if (held.length < 5) return;
      first = false;
      const ids = held.map((h) => h.stream.id as number).sort((a, b) => a - b);
      const last = ids[1] as number;
      held[0]?.stream.session?.goaway(h2c.NGHTTP2_NO_ERROR, last);
      for (const h of held) if ((h.stream.id as number) <= last) echoGrpc(h);
    });
    const ch = new Channel(p.address, { ...BUILTIN, protocol: "h2:grpc", maxRetry: 3, timeoutMs: 5000 });
    try {
      const echo = ch.client(EchoService).echo;
      const res = await Promise.all(Array.from({ length: 5 }, (_, i) => echo({ message: `g${i}` })));
      for (const [i, r] of res.entries()) assert.equal(r.message, `g${i}`);
      assert.equal(sessionsSeen, 2);
      // Later calls use the new session.
      assert.equal((await echo({ message: "after" })).message, "after");
      assert.equal(sessionsSeen, 2);
    } finally {
      ch.close();
      await p.close();
    }
  });

  it("a peer sending garbage: the call fails once (connection error), the next call reconnects", async () => {
    let conns = 0;
    const raw = await rawPeer((s) => {
      conns++;
      s.write(SETTINGS);
      s.once("data", () => s.write(Buffer.from("HTTP/1.1 400 Bad Request\r\n\r\n")));
    });
    const ch = new Channel(raw.address, { ...BUILTIN, protocol: "h2:grpc", maxRetry: 0, timeoutMs: 1000 });
    try {
      const e = await failure(ch.client(EchoService).echo({ message: "x" }));
      assert.equal(e.code, ErrorCode.EFAILEDSOCKET, e.text);
      const e2 = await failure(ch.client(EchoService).echo({ message: "y" }));
      assert.equal(e2.code, ErrorCode.EFAILEDSOCKET, e2.text);
      assert.equal(conns, 2);
    } finally {
      ch.close();
      await raw.close();
    }
  });

  it("a peer closing mid-response: every call in flight fails once, none succeeds with a short body", async () => {
    const p = await startH2Peer();
    const held: H2Request[] = [];
    p.handle((r) => {
      held.push(r);
      if (held.length < 3) return;
      for (const h of held) {
        h.stream.respond({ ":status": 200, "content-type": "application/grpc" });
        // Half a message, then the connection goes away.
        h.stream.write(grpcFrame(reply("partial")).subarray(0, 4));
      }
      setTimeout(() => held[0]?.stream.session?.destroy(), 20);
    });
    const ch = new Channel(p.address, { ...BUILTIN, protocol: "h2:grpc", maxRetry: 0, timeoutMs: 3000 });
    try {
      const echo = ch.client(EchoService).echo;
      const out = await Promise.allSettled(Array.from({ length: 3 }, (_, i) => echo({ message: `p${i}` })));
      for (const o of out) {
        assert.equal(o.status, "rejected");
        const code = (o as PromiseRejectedResult).reason.code;
        assert.ok(code === ErrorCode.EFAILEDSOCKET || code === ErrorCode.ECONNRESET, String(code));
      }
    } finally {
      ch.close();
      await p.close();
    }
  });

  it("a response stream nobody reads: WINDOW_UPDATEs are held back, the server stops", async () => {
    let flushed = 0;
    const total = 128;
    const p = await startH2Peer((r) => {
      r.stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      r.stream.on("wantTrailers", () => r.stream.sendTrailers({ "grpc-status": "0" }));
      let i = 0;
      const next = () => {
        while (i < total) {
          const f = grpcFrame(
            toBinary(ItemSchema, create(ItemSchema, { value: i, blob: new Uint8Array(65536) })),
          );
          i++;
          if (!r.stream.write(f, () => (flushed += f.length))) {
            r.stream.once("drain", next);
            return;
          }
        }
        r.stream.end();
      };
      next();
    });
    const ch = new Channel(p.address, { ...BUILTIN, protocol: "h2:grpc", maxRetry: 0, timeoutMs: 10000 });
    try {
      let n = 0;
      let duringPause = 0;
      for await (const it of ch.client(StreamService).count({ value: 1 })) {
        assert.equal(it.value, n);
        if (n++ === 0) {
          await new Promise((resolve) => setTimeout(resolve, 300));
          duringPause = flushed;
        }
      }
      assert.equal(n, total);
      // 8 MiB offered; the client takes 32 queued messages + its 256 KiB stream window.
      assert.ok(duringPause < 4 * 1024 * 1024, `the server sent ${duringPause} bytes to a paused reader`);
    } finally {
      ch.close();
      await p.close();
    }
  });

  it("a deadline cancels the stream with RST_STREAM CANCEL", async () => {
    const p = await startH2Peer();
    let rst = -1;
    p.server.on("stream", (s: ServerHttp2Stream) => s.on("close", () => (rst = s.rstCode ?? -1)));
    p.handle(() => {});
    const ch = new Channel(p.address, { ...BUILTIN, protocol: "h2:grpc", maxRetry: 0, timeoutMs: 100 });
    try {
      const e = await failure(ch.client(EchoService).echo({ message: "x" }));
      assert.equal(e.code, ErrorCode.ERPCTIMEDOUT);
      assert.ok(await eventually(() => rst === h2c.NGHTTP2_CANCEL), `rst ${rst}`);
    } finally {
      ch.close();
      await p.close();
    }
  });
});

describe("builtin h2 client engine -> @grpc/grpc-js", () => {
  let peer: GrpcPeer;
  let ch: Channel;
  before(async () => {
    peer = await startGrpcPeer();
    ch = new Channel(peer.address, { ...BUILTIN, protocol: "h2:grpc", maxRetry: 0, timeoutMs: 20000 });
  });
  after(async () => {
    ch.close();
    await peer.close();
  });

  it("10 MiB through a bidi stream, in order", async () => {
    const n = 160;
    const size = 64 * 1024;
    async function* items() {
      for (let i = 0; i < n; i++) {
        const blob = new Uint8Array(size);
        blob.fill(i & 0xff);
        yield { value: i, text: `i${i}`, blob };
      }
    }
    let count = 0;
    let bytes = 0;
    for await (const it of ch.client(StreamService).chat(items())) {
      assert.equal(it.value, count * 10);
      assert.equal(it.blob.length, size);
      assert.equal(it.blob[size - 1], count & 0xff);
      bytes += it.blob.length;
      count++;
    }
    assert.equal(count, n);
    assert.equal(bytes, n * size);
  });

  it("a slow reader of a server stream applies backpressure and still gets everything", async () => {
    const blob = new Uint8Array(32 * 1024);
    let count = 0;
    for await (const it of ch.client(StreamService).count({ value: 200, blob })) {
      assert.equal(it.value, count);
      count++;
      if (count % 50 === 0) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(count, 200);
  });
});
