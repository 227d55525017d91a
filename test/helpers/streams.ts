/**
 * Helpers for streaming-RPC tests: STRM frames encoded and decoded independently of the
 * code under test, a recording TCP proxy (to see what goes over the wire between a
 * Channel and a Server), stream handlers that record what they see, and scenarios run
 * in a child process (`node dist/test/helpers/streams.js <scenario>`), for behaviour
 * that must fail a test instead of hanging the test runner if it regresses.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type Server as NetServer, connect as netConnect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { EchoRequest } from "../../examples/gen/peer_pb.js";
import { EchoService } from "../../examples/gen/peer_pb.js";
import {
  Channel,
  RpcError,
  Server,
  type ServerContext,
  Stream,
  type StreamHandler,
  type StreamOptions,
} from "../../src/index.js";
import { timers } from "../../src/io/timers.js";
import { decodeRpcMeta, type RpcMeta } from "../../src/protocol/baidu-std/meta.js";
import { decodeStreamFrameMeta, StreamFrameMeta } from "../../src/protocol/streaming-rpc/meta.js";
import { startServerProcess } from "./child.js";

// ---- frames ---------------------------------------------------------------------

/** brpc FrameType values. */
export const FT = { UNKNOWN: 0, RST: 1, CLOSE: 2, DATA: 3, FEEDBACK: 4 } as const;
const TYPE_NAMES = ["UNKNOWN", "RST", "CLOSE", "DATA", "FEEDBACK"];

/** Name of a frame type, e.g. "DATA". */
export function typeName(t: number): string {
  return TYPE_NAMES[t] ?? `TYPE${t}`;
}

/** A decoded STRM frame (a copy: nothing is shared with the decoder). */
export interface StrmFrame {
  kind: "STRM";
  streamId: number | bigint;
  sourceStreamId: number | bigint | undefined;
  frameType: number;
  hasContinuation: boolean;
  consumedSize: number | undefined;
  data: Buffer;
}

/** A decoded PRPC frame. */
export interface PrpcFrame {
  kind: "PRPC";
  meta: RpcMeta;
  /** Message and attachment. */
  body: Buffer;
}

export type WireFrame = StrmFrame | PrpcFrame;

/** Decode one STRM frame's meta and data. */
export function decodeStrm(meta: Buffer, data: Buffer): StrmFrame {
  const m = new StreamFrameMeta();
  decodeStreamFrameMeta(meta, 0, meta.length, m);
  return {
    kind: "STRM",
    streamId: m.streamId,
    sourceStreamId: m.sourceStreamId,
    frameType: m.frameType,
    hasContinuation: m.hasContinuation,
    consumedSize: m.consumedSize,
    data: Buffer.from(data),
  };
}

/**
 * The complete PRPC/STRM frames at the start of `buf` (a trailing partial frame is left
 * out). Throws on bytes that are neither.
 */
export function completeFrames(buf: Buffer): WireFrame[] {
  const out: WireFrame[] = [];
  let off = 0;
  while (off + 12 <= buf.length) {
    const magic = buf.toString("latin1", off, off + 4);
    if (magic !== "PRPC" && magic !== "STRM") throw new Error(`unexpected bytes at ${off}: ${magic}`);
    const bodySize = buf.readUInt32BE(off + 4);
    const metaSize = buf.readUInt32BE(off + 8);
    if (off + 12 + bodySize > buf.length) break;
    const meta = buf.subarray(off + 12, off + 12 + metaSize);
    const body = buf.subarray(off + 12 + metaSize, off + 12 + bodySize);
    if (magic === "STRM") out.push(decodeStrm(meta, body));
    else
      out.push({
        kind: "PRPC",
        meta: decodeRpcMeta(Buffer.from(meta), 0, meta.length),
        body: Buffer.from(body),
      });
    off += 12 + bodySize;
  }
  return out;
}

/** The STRM frames of `buf`. */
export function strmFrames(buf: Buffer): StrmFrame[] {
  return completeFrames(buf).filter((f): f is StrmFrame => f.kind === "STRM");
}

/** The PRPC response wrapped in a STRM DATA frame (brpc's streamed RPC response). */
export function unwrapResponse(f: StrmFrame): { meta: RpcMeta; body: Buffer } {
  const inner = completeFrames(f.data);
  const first = inner[0];
  if (inner.length !== 1 || first === undefined || first.kind !== "PRPC")
    throw new Error("the DATA frame does not wrap exactly one PRPC frame");
  return { meta: first.meta, body: first.body };
}

function pushVarint(out: number[], v: number | bigint): void {
  let u = BigInt.asUintN(64, BigInt(v));
  while (u > 0x7fn) {
    out.push(Number(u & 0x7fn) | 0x80);
    u >>= 7n;
  }
  out.push(Number(u));
}

/** Fields of a STRM frame to encode. */
export interface StrmInit {
  streamId: number | bigint;
  sourceStreamId?: number | bigint | undefined;
  frameType: number;
  hasContinuation?: boolean;
  consumedSize?: number;
  data?: Uint8Array | string;
}

/** Encode a STRM frame (hand-written protobuf, independent of src/). */
export function encodeStrm(f: StrmInit): Buffer {
  const meta: number[] = [0x08];
  pushVarint(meta, f.streamId);
  if (f.sourceStreamId !== undefined) {
    meta.push(0x10);
    pushVarint(meta, f.sourceStreamId);
  }
  meta.push(0x18);
  pushVarint(meta, f.frameType);
  if (f.hasContinuation !== undefined) meta.push(0x20, f.hasContinuation ? 1 : 0);
  if (f.consumedSize !== undefined) {
    const fb: number[] = [0x08];
    pushVarint(fb, f.consumedSize);
    meta.push(0x2a, fb.length, ...fb);
  }
  const data = typeof f.data === "string" ? Buffer.from(f.data) : Buffer.from(f.data ?? []);
  const head = Buffer.alloc(12);
  head.write("STRM", 0, "latin1");
  head.writeUInt32BE(meta.length + data.length, 4);
  head.writeUInt32BE(meta.length, 8);
  return Buffer.concat([head, Buffer.from(meta), data]);
}

/** A compact description of a STRM frame for assertions, e.g. "DATA 0<-7 cont=false 'x'". */
export function describeFrame(f: StrmFrame): string {
  const src = f.sourceStreamId === undefined ? "" : `<-${f.sourceStreamId}`;
  const extra =
    f.frameType === FT.FEEDBACK
      ? ` consumed=${f.consumedSize}`
      : f.frameType === FT.DATA
        ? ` cont=${f.hasContinuation} '${f.data.toString("latin1")}'`
        : "";
  return `${typeName(f.frameType)} ${f.streamId}${src}${extra}`;
}

// ---- a recording proxy --------------------------------------------------------------

/** One proxied connection: the bytes in each direction. */
export interface ProxiedConnection {
  c2s: Buffer;
  s2c: Buffer;
}

/** A TCP proxy on 127.0.0.1:0 in front of `targetPort` that records both directions. */
export class RecordingProxy {
  readonly connections: ProxiedConnection[] = [];
  readonly #server: NetServer;
  readonly #sockets = new Set<Socket>();

  private constructor(server: NetServer) {
    this.#server = server;
  }

  static async start(targetPort: number): Promise<RecordingProxy> {
    const server = createServer();
    const proxy = new RecordingProxy(server);
    server.on("connection", (inbound) => {
      const rec: ProxiedConnection = { c2s: Buffer.alloc(0), s2c: Buffer.alloc(0) };
      proxy.connections.push(rec);
      const outbound = netConnect({ host: "127.0.0.1", port: targetPort });
      proxy.#sockets.add(inbound);
      proxy.#sockets.add(outbound);
      inbound.setNoDelay(true);
      outbound.setNoDelay(true);
      inbound.on("data", (d: Buffer) => {
        rec.c2s = Buffer.concat([rec.c2s, d]);
        outbound.write(d);
      });
      outbound.on("data", (d: Buffer) => {
        rec.s2c = Buffer.concat([rec.s2c, d]);
        inbound.write(d);
      });
      const end = () => {
        inbound.destroy();
        outbound.destroy();
      };
      for (const s of [inbound, outbound]) {
        s.on("error", end);
        s.on("close", () => {
          end();
          proxy.#sockets.delete(s);
        });
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get port(): number {
    const a = this.#server.address();
    return typeof a === "object" && a !== null ? a.port : 0;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** STRM frames recorded on connection `i` in direction `dir`. */
  strm(dir: "c2s" | "s2c", i = 0): StrmFrame[] {
    const c = this.connections[i];
    return c === undefined ? [] : strmFrames(c[dir]);
  }

  /** All frames recorded on connection `i` in direction `dir`. */
  frames(dir: "c2s" | "s2c", i = 0): WireFrame[] {
    const c = this.connections[i];
    return c === undefined ? [] : completeFrames(c[dir]);
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

// ---- recording handlers and servers -------------------------------------------------

/** What a recording handler saw, in order. */
export interface Recorded {
  handler: StreamHandler;
  /** Messages as UTF-8 strings. */
  messages: string[];
  /** Sizes of the batches given to onReceivedMessages. */
  batches: number[];
  /** "msg:<text>", "idle", "failed:<code>", "closed". */
  events: string[];
  failures: { code: number; text: string }[];
}

/**
 * A handler recording every callback. `onBatch` may return a promise, which delays the
 * next batch (and the feedback) as a slow consumer does.
 */
export function recorder(onBatch?: (stream: Stream, messages: Buffer[]) => void | Promise<void>): Recorded {
  const r: Recorded = {
    messages: [],
    batches: [],
    events: [],
    failures: [],
    handler: {
      onReceivedMessages(stream, messages) {
        r.batches.push(messages.length);
        for (const m of messages) {
          r.messages.push(m.toString("utf8"));
          r.events.push(`msg:${m.toString("utf8")}`);
        }
        return onBatch?.(stream, messages);
      },
      onIdleTimeout() {
        r.events.push("idle");
      },
      onFailed(_stream, code, text) {
        r.failures.push({ code, text });
        r.events.push(`failed:${code}`);
      },
      onClosed() {
        r.events.push("closed");
      },
    },
  };
  return r;
}

/** Only the lifecycle callbacks (failed/closed), so that the stream is read by iteration. */
export function lifecycleRecorder(): Recorded {
  const r = recorder();
  r.handler = {
    onFailed: r.handler.onFailed as NonNullable<StreamHandler["onFailed"]>,
    onClosed: r.handler.onClosed as NonNullable<StreamHandler["onClosed"]>,
  };
  return r;
}

/** The echo handler of a test server. */
export type EchoImpl = (
  req: EchoRequest,
  ctx: ServerContext,
) => { message: string } | Promise<{ message: string }>;

/**
 * A server on 127.0.0.1:0 whose example.EchoService.Echo is `echo` (Missing is not
 * implemented). Requests whose message starts with "sync " are echoed without calling
 * `echo` (round trips that order frames on a connection).
 */
export async function startStreamServer(echo: EchoImpl): Promise<Server> {
  const server = new Server();
  server.addService(EchoService, {
    echo: (req, ctx) => (req.message.startsWith("sync ") ? { message: req.message } : echo(req, ctx)),
  });
  await server.start("127.0.0.1:0");
  return server;
}

/** A promise with its resolve function outside. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Whether `p` settled by the time the event loop turned a few times (without waiting for it). */
export async function settledYet(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  return settled;
}

async function until(pred: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

function errorOf(e: unknown): { code: number; text: string } {
  return e instanceof RpcError ? { code: e.code, text: e.text } : { code: -1, text: String(e) };
}

async function outcome(
  p: Promise<unknown>,
): Promise<{ ok: true } | { ok: false; code: number; text: string }> {
  try {
    await p;
    return { ok: true };
  } catch (e) {
    return { ok: false, ...errorOf(e) };
  }
}

// ---- scenarios run in a child process -------------------------------------------------

/** A stream accepted by a server whose reader pulls only when told to. */
export interface Pair {
  server: Server;
  channel: Channel;
  client: Stream;
  remote: Stream;
  pull: () => Promise<IteratorResult<Buffer>>;
}

/** A server accepting one stream per call (read by iteration, pulled on demand) and a client stream. */
export async function openPair(clientOptions: StreamOptions, serverOptions?: StreamOptions): Promise<Pair> {
  let remote: Stream | undefined;
  const server = await startStreamServer((req, ctx) => {
    remote = ctx.acceptStream(serverOptions);
    return { message: req.message };
  });
  const channel = new Channel(server.address, { timeoutMs: 5000, maxRetry: 0 });
  const client = new Stream(clientOptions);
  await channel.client(EchoService).echo({ message: "open" }, { stream: client });
  const r = remote as unknown as Stream;
  const it = r[Symbol.asyncIterator]();
  return { server, channel, client, remote: r, pull: () => it.next() };
}

/** Close both ends, the channel and the server. */
export async function closePair(p: Pair): Promise<void> {
  p.client.close();
  await p.client.closed;
  // A reader that stops reading lets go of its stream by closing it (messages it did not
  // take are dropped); otherwise the close would wait for them to be read.
  p.remote.close();
  await p.remote.closed;
  p.channel.close();
  await p.server.stop(0);
}

const scenarios: Record<string, () => Promise<unknown>> = {
  /** write() waits while the window is full and resolves once the peer consumed. */
  async "write-waits"() {
    const p = await openPair({ maxBufSize: 5 });
    const first = p.client.tryWrite("12345");
    const eagain = p.client.tryWrite("x");
    const w = p.client.write("abcde");
    await until(() => p.remote.queuedBytes === 5);
    const settledBeforeConsume = await settledYet(w);
    const got1 = (await p.pull()).value?.toString();
    const res = await outcome(w);
    const got2 = (await p.pull()).value?.toString();
    const waitResolved = await outcome(p.client.wait({ timeoutMs: 5000 }));
    await closePair(p);
    return { first, eagain, settledBeforeConsume, got1, res, got2, waitResolved, timers: timers.size };
  },
  /** Many awaited writes through a small window to a slow consumer: all arrive, in order, within the window. */
  async "write-flow"() {
    const got: string[] = [];
    const server = await startStreamServer((req, ctx) => {
      ctx.acceptStream({
        messagesInBatch: 4,
        handler: {
          async onReceivedMessages(_s, ms) {
            await new Promise((r) => setImmediate(r));
            for (const m of ms) got.push(m.toString());
          },
        },
      });
      return { message: req.message };
    });
    const channel = new Channel(server.address, { timeoutMs: 5000, maxRetry: 0 });
    const stream = new Stream({ maxBufSize: 64 });
    await channel.client(EchoService).echo({ message: "open" }, { stream });
    const N = 300;
    const sent: string[] = [];
    let maxUnconsumed = 0;
    for (let i = 0; i < N; i++) {
      const m = `m${i}`.padEnd(10, ".");
      await stream.write(m);
      sent.push(m);
      maxUnconsumed = Math.max(maxUnconsumed, stream.unconsumedBytes);
    }
    await until(() => got.length === N);
    const inOrder = got.length === N && got.every((m, i) => m === sent[i]);
    await until(() => stream.unconsumedBytes === 0);
    const unconsumedAtEnd = stream.unconsumedBytes;
    stream.close();
    await stream.closed;
    channel.close();
    await server.stop(0);
    return { received: got.length, inOrder, maxUnconsumed, unconsumedAtEnd, timers: timers.size };
  },
  /**
   * write() refused for a full connection backlog (EOVERCROWDED: maxUnwrittenBytes=1000)
   * waits until the backlog is flushed, then writes.
   */
  async "write-overcrowded"() {
    const got: number[] = [];
    const server = await startStreamServer((req, ctx) => {
      ctx.acceptStream({
        handler: {
          onReceivedMessages(_s, ms) {
            for (const m of ms) got.push(m.length);
          },
        },
      });
      return { message: req.message };
    });
    const channel = new Channel(server.address, { timeoutMs: 5000, maxRetry: 0, maxUnwrittenBytes: 1000 });
    const stream = new Stream({ maxBufSize: 0 });
    await channel.client(EchoService).echo({ message: "open" }, { stream });
    const big = Buffer.alloc(2000, 1);
    const rc1 = stream.tryWrite(big);
    const rc2 = stream.tryWrite(big);
    const waited = await outcome(stream.write(big, { timeoutMs: 3000 }));
    await until(() => got.length >= 2, 1000);
    const received = [...got];
    const rc3 = stream.tryWrite("after");
    stream.close();
    await stream.closed;
    channel.close();
    await server.stop(0);
    return { rc1, rc2, waited, received, rc3, timers: timers.size };
  },
  /** A peer that never consumes: write() and wait() give up with ETIMEDOUT. */
  async "write-timeout"() {
    const p = await openPair({ maxBufSize: 5, writeTimeoutMs: 60 });
    p.client.tryWrite("12345");
    const explicit = await outcome(p.client.write("x", { timeoutMs: 50 }));
    const byOption = await outcome(p.client.write("x"));
    const waited = await outcome(p.client.wait({ timeoutMs: 50 }));
    const stillOpen = p.client.state;
    const timersWhileOpen = timers.size;
    await closePair(p);
    return { explicit, byOption, waited, stillOpen, timersWhileOpen, timers: timers.size };
  },
  /** An AbortSignal cancels a waiting write (ECANCELED); an aborted one cancels at once. */
  async "write-abort"() {
    const p = await openPair({ maxBufSize: 5 });
    p.client.tryWrite("12345");
    const ac = new AbortController();
    const w = p.client.write("x", { signal: ac.signal, timeoutMs: 5000 });
    await sleep(20);
    ac.abort();
    const aborted = await outcome(w);
    const pre = await outcome(p.client.write("x", { signal: AbortSignal.abort(), timeoutMs: 5000 }));
    const stillOpen = p.client.state;
    await closePair(p);
    return { aborted, pre, stillOpen, timers: timers.size };
  },
  /** Waiting writes reject with ECONNRESET when the stream is closed locally or reset by the peer. */
  async "write-closed"() {
    const a = await openPair({ maxBufSize: 5 });
    a.client.tryWrite("12345");
    const w1 = a.client.write("x", { timeoutMs: 5000 });
    await sleep(20);
    a.client.close();
    const localClose = await outcome(w1);
    await closePair(a);
    const b = await openPair({ maxBufSize: 5 });
    b.client.tryWrite("12345");
    const w2 = b.client.write("x", { timeoutMs: 5000 });
    await sleep(20);
    b.remote.reset();
    const peerReset = await outcome(w2);
    await closePair(b);
    return { localClose, peerReset, timers: timers.size };
  },
  /** kill -9 of the server process while a write waits for room. */
  async "server-killed-pending-write"() {
    const proc = await startServerProcess();
    const events: string[] = [];
    const channel = new Channel(`127.0.0.1:${proc.port}`, { timeoutMs: 5000, maxRetry: 0 });
    const stream = new Stream({
      maxBufSize: 5,
      handler: {
        onReceivedMessages(_s, ms) {
          for (const m of ms) events.push(`msg:${m.toString()}`);
        },
        onFailed(_s, code) {
          events.push(`failed:${code}`);
        },
        onClosed() {
          events.push("closed");
        },
      },
    });
    await channel.client(EchoService).echo({ message: "x", openStream: true }, { stream });
    // The window is full before anything is flushed (flushes happen on the next tick) and
    // the server dies before it could read, let alone consume, a byte: the write waits.
    stream.tryWrite("12345");
    const w = stream.write("abc", { timeoutMs: 5000 });
    proc.child.kill("SIGKILL");
    const pending = await outcome(w);
    await stream.closed;
    const later = await outcome(stream.write("x"));
    channel.close();
    return { events, pending, later, state: stream.state, timers: timers.size };
  },
};

/** Names of the child-process scenarios. */
export const SCENARIOS = Object.keys(scenarios);

/**
 * Run a scenario in a child process; resolves with what it printed (JSON), or rejects
 * when the child hangs (killed after `timeoutMs`) or crashes.
 */
export function runScenario(name: string, timeoutMs = 8000): Promise<Record<string, unknown>> {
  const script = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [script, name], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `scenario ${name} hung for ${timeoutMs}ms (killed; an event-loop livelock?)\nstdout: ${out}\nstderr: ${err}`,
        ),
      );
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(t);
      const line = out.split("\n").find((l) => l.startsWith("RESULT "));
      if (code !== 0 || line === undefined) {
        reject(new Error(`scenario ${name} exited with ${code}\nstdout: ${out}\nstderr: ${err}`));
        return;
      }
      resolve(JSON.parse(line.slice(7)) as Record<string, unknown>);
    });
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const name = process.argv[2] ?? "";
  const run = scenarios[name];
  if (run === undefined) {
    console.error(`unknown scenario ${name}; one of ${SCENARIOS.join(", ")}`);
    process.exit(2);
  }
  run().then(
    (r) => {
      console.log(`RESULT ${JSON.stringify(r)}`);
      process.exit(0);
    },
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
