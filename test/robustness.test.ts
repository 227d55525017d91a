/**
 * Field reports 2 and 3: a peer that dies or sends garbage never crashes, wedges or
 * leaks; every call completes exactly once.
 */
import assert from "node:assert/strict";
import { getEventListeners, setMaxListeners } from "node:events";
import { createServer, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { EchoRequestSchema, EchoService } from "../examples/gen/peer_pb.js";
import { Channel, ErrorCode, RpcError, type Server } from "../src/index.js";
import { timers } from "../src/io/timers.js";
import { Writer } from "../src/io/writer.js";
import { decodeRpcMeta, encodeMethodPrefix, encodeRpcMeta } from "../src/protocol/baidu-std/meta.js";
import { crc32cUpdate, maskCrc } from "../src/protocol/checksum.js";
import { splitFrames } from "./helpers/captures.js";
import { startServerProcess } from "./helpers/child.js";
import { RawClient } from "./helpers/net.js";
import { eventually, settle, startEchoServer } from "./helpers/servers.js";

const DEAD_PEER_CODES = new Set<number>([ErrorCode.EEOF, ErrorCode.EFAILEDSOCKET, ErrorCode.ECONNRESET]);

/** A baidu_std request frame for example.EchoService/Echo. */
function requestFrame(opts: {
  id: number;
  message?: string;
  body?: Uint8Array;
  attachment?: Uint8Array;
  attachmentSize?: number;
}): Buffer {
  const w = new Writer();
  w.pos = 12;
  const metaStart = w.pos;
  const att = opts.attachment ?? Buffer.alloc(0);
  encodeRpcMeta(w, { methodPrefix: encodeMethodPrefix("example.EchoService", "Echo") }, undefined, {
    compressType: 0,
    correlationId: opts.id,
    attachmentSize: opts.attachmentSize ?? att.length,
    contentType: 0,
    checksumType: 0,
  });
  const metaSize = w.pos - metaStart;
  w.raw(
    opts.body ??
      toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: opts.message ?? `m${opts.id}` })),
  );
  w.raw(att);
  const b = Buffer.from(w.buf.subarray(0, w.pos));
  b.write("PRPC", 0, "latin1");
  b.writeUInt32BE(w.pos - 12, 4);
  b.writeUInt32BE(metaSize, 8);
  return b;
}

function header(bodySize: number, metaSize: number): Buffer {
  const b = Buffer.alloc(12);
  b.write("PRPC", 0, "latin1");
  b.writeUInt32BE(bodySize, 4);
  b.writeUInt32BE(metaSize, 8);
  return b;
}

describe("kill -9 of a real server process", () => {
  it("every in-flight call rejects exactly once with EEOF/ECONNRESET/EFAILEDSOCKET; nothing leaks", async () => {
    const { child, port } = await startServerProcess();
    const ch = new Channel(`127.0.0.1:${port}`, { maxRetry: 0, timeoutMs: 20000 });
    const echo = ch.client(EchoService);
    await echo.echo({ message: "warm up" });
    const ac = new AbortController();
    setMaxListeners(200, ac.signal);
    const settled = new Array<number>(100).fill(0);
    const results: (RpcError | undefined)[] = [];
    const calls = settled.map((_, i) =>
      echo.echo({ message: `slow ${i}`, sleepMs: 10000 }, { signal: ac.signal }).then(
        () => {
          settled[i]!++;
        },
        (e: unknown) => {
          settled[i]!++;
          results[i] = e as RpcError;
        },
      ),
    );
    assert.ok(await eventually(() => (ch.source.ready()?.pending.size ?? 0) === 100));
    child.kill("SIGKILL");
    await Promise.all(calls);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(settled, new Array(100).fill(1), "each call settles exactly once");
    for (const e of results) {
      assert.ok(e instanceof RpcError);
      assert.ok(DEAD_PEER_CODES.has(e.code), `${e.code} ${e.text}`);
    }
    assert.equal(timers.size, 0, "no pending timers");
    assert.equal(getEventListeners(ac.signal, "abort").length, 0, "no abort listeners left");
    assert.equal(ch.source.ready(), undefined, "the dead connection is dropped");
    ch.close();
  });

  it("under load, killing the server mid-response completes every call once", async () => {
    const { child, port } = await startServerProcess();
    const ch = new Channel(`127.0.0.1:${port}`, { maxRetry: 0, timeoutMs: 20000 });
    const echo = ch.client(EchoService);
    const big = "y".repeat(64 * 1024);
    let settledCount = 0;
    let issued = 0;
    let stop = false;
    const codes = new Map<number, number>();
    await new Promise<void>((resolve) => {
      let inflight = 0;
      const pump = () => {
        while (!stop && inflight < 64) {
          inflight++;
          issued++;
          echo.echo({ message: big }, { attachment: big }).then(
            () => {
              settledCount++;
              inflight--;
              pump();
            },
            (e: unknown) => {
              settledCount++;
              inflight--;
              stop = true;
              const code = (e as RpcError).code;
              codes.set(code, (codes.get(code) ?? 0) + 1);
              if (inflight === 0) resolve();
            },
          );
        }
      };
      pump();
      setTimeout(() => child.kill("SIGKILL"), 300);
    });
    assert.equal(settledCount, issued);
    for (const code of codes.keys()) assert.ok(DEAD_PEER_CODES.has(code), `unexpected code ${code}`);
    assert.equal(timers.size, 0);
    ch.close();
  });
});

describe("a peer sending bad bytes", () => {
  let server: Server;
  let healthy: Channel;
  before(async () => {
    server = await startEchoServer({ maxBodySize: 64 * 1024 });
    healthy = new Channel(server.address, { maxRetry: 0 });
  });
  after(async () => {
    healthy.close();
    await server.stop(0);
  });

  async function stillServes(): Promise<void> {
    assert.equal((await healthy.client(EchoService).echo({ message: "alive" })).message, "alive");
  }

  async function expectClosed(bytes: Buffer): Promise<void> {
    const c = await RawClient.connect(server.port);
    c.write(bytes);
    assert.ok(await c.waitClosed(), "server closes the connection");
    await stillServes();
  }

  it("garbage closes the connection", () => expectClosed(Buffer.from("GARBAGE GARBAGE GARBAGE\r\n")));
  it("meta_size > body_size closes the connection", () => expectClosed(header(10, 20)));
  it("a frame over max_body_size closes the connection at once", () => expectClosed(header(1 << 30, 10)));
  it("an undecodable meta closes the connection", () =>
    expectClosed(Buffer.concat([header(4, 4), Buffer.from([0x0a, 0xff, 0xff, 0xff])])));

  it("a truncated frame followed by EOF is dropped quietly", async () => {
    const c = await RawClient.connect(server.port);
    c.write(requestFrame({ id: 1 }).subarray(0, 20));
    await new Promise((r) => setTimeout(r, 50));
    c.socket.end();
    assert.ok(await eventually(() => server.connections.size <= 1));
    await stillServes();
  });

  it("a request whose CRC32C does not match gets EREQUEST", async () => {
    const c = await RawClient.connect(server.port);
    const w = new Writer();
    w.pos = 12;
    const body = toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: "sum" }));
    const ck = encodeRpcMeta(
      w,
      { methodPrefix: encodeMethodPrefix("example.EchoService", "Echo") },
      undefined,
      { compressType: 0, correlationId: 5, attachmentSize: 0, contentType: 0, checksumType: 1 },
    );
    const metaSize = w.pos - 12;
    w.u32beAt(ck, maskCrc(crc32cUpdate(0, body)) ^ 1); // one bit off
    w.raw(body);
    const frame = Buffer.from(w.buf.subarray(0, w.pos));
    frame.write("PRPC", 0, "latin1");
    frame.writeUInt32BE(w.pos - 12, 4);
    frame.writeUInt32BE(metaSize, 8);
    c.write(frame);
    c.write(requestFrame({ id: 6, message: "plain" }));
    assert.ok(await c.waitFor(() => safeFrames(c.received).length === 2));
    const metas = safeFrames(c.received).map((f) => decodeRpcMeta(f.meta, 0, f.meta.length));
    assert.equal(metas.find((m) => m.correlationId === 5)?.errorCode, ErrorCode.EREQUEST);
    assert.match(
      metas.find((m) => m.correlationId === 5)?.errorText ?? "",
      /Fail to parse request=example.EchoRequest, ContentType=pb, CompressType=none, ChecksumType=crc32c, request_size=5$/,
    );
    assert.equal(metas.find((m) => m.correlationId === 6)?.errorCode, 0);
    c.close();
  });

  it("an undecodable body gets EREQUEST and the connection keeps working", async () => {
    const c = await RawClient.connect(server.port);
    c.write(requestFrame({ id: 7, body: Buffer.from([0x0a, 0x50, 0x01]) }));
    c.write(requestFrame({ id: 8, message: "ok" }));
    c.write(requestFrame({ id: 9, attachment: Buffer.from("ab"), attachmentSize: 99 }));
    assert.ok(await c.waitFor(() => safeFrames(c.received).length === 3));
    const metas = safeFrames(c.received).map((f) => decodeRpcMeta(f.meta, 0, f.meta.length));
    const byId = new Map(metas.map((m) => [Number(m.correlationId), m]));
    assert.equal(byId.get(7)?.errorCode, ErrorCode.EREQUEST);
    assert.equal(byId.get(8)?.errorCode, 0);
    assert.equal(byId.get(9)?.errorCode, ErrorCode.EREQUEST);
    assert.match(byId.get(9)?.errorText ?? "", /attachment_size=99 is larger than request_size=/);
    assert.equal(c.closed, false);
    c.close();
  });
});

function safeFrames(b: Buffer) {
  try {
    return splitFrames(b);
  } catch {
    return [];
  }
}

describe("EOVERCROWDED instead of unbounded buffering", () => {
  it("client: writes beyond maxUnwrittenBytes fail with EOVERCROWDED", async () => {
    const sockets: Socket[] = [];
    const sink = createServer((s) => {
      s.pause(); // never read
      sockets.push(s);
    });
    await new Promise<void>((r) => sink.listen(0, "127.0.0.1", r));
    const port = (sink.address() as { port: number }).port;
    const ch = new Channel(`127.0.0.1:${port}`, {
      maxRetry: 0,
      timeoutMs: 1000,
      maxUnwrittenBytes: 256 * 1024,
    });
    const echo = ch.client(EchoService);
    const att = Buffer.alloc(1024 * 1024);
    await settle(echo.echo({ message: "connect" }, { timeoutMs: 50 }));
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => settle(echo.echo({ message: `m${i}` }, { attachment: att }))),
    );
    const codes = results.map((r) => (r.ok ? 0 : (r.error as RpcError).code));
    assert.ok(codes.includes(ErrorCode.EOVERCROWDED), `codes: ${codes.join(",")}`);
    assert.ok(codes.every((c) => c === ErrorCode.EOVERCROWDED || c === ErrorCode.ERPCTIMEDOUT));
    ch.close();
    for (const s of sockets) s.destroy();
    sink.close();
  });

  it("server: a client that stops reading gets EOVERCROWDED, not unbounded memory", async () => {
    const server = await startEchoServer({ maxUnwrittenBytes: 1024 * 1024 });
    const c = await RawClient.connect(server.port);
    c.socket.pause();
    const att = Buffer.alloc(256 * 1024, 1);
    for (let i = 0; i < 60; i++) c.write(requestFrame({ id: i + 1, attachment: att }));
    // Wait until the server has handled every request.
    await eventually(() => server.concurrency === 0, 5000);
    await new Promise((r) => setTimeout(r, 200));
    const conn = [...server.connections][0]!;
    assert.ok(conn.unwrittenBytes < 8 * 1024 * 1024, `server buffers ${conn.unwrittenBytes} bytes`);
    c.socket.resume();
    assert.ok(await c.waitFor(() => safeFrames(c.received).length === 60, 10000));
    const codes = safeFrames(c.received).map((f) => decodeRpcMeta(f.meta, 0, f.meta.length).errorCode);
    assert.ok(codes.includes(ErrorCode.EOVERCROWDED), `codes: ${[...new Set(codes)].join(",")}`);
    c.close();
    await server.stop(0);
  });
});

void RpcError;
