/**
 * Micro-benchmark of the HTTP/2 core (src/protocol/h2): HPACK encode+decode of a typical
 * gRPC request header block, and a full unary gRPC-shaped exchange between a client-role
 * and a server-role H2Session in memory (no sockets): request HEADERS + DATA, response
 * HEADERS + DATA + trailers, WINDOW_UPDATEs as they fall due.
 *
 * With BENCH_H2_LOOPBACK=1 it also runs the same echo over a loopback socket, client and
 * server in this process, against the same echo on node:http2 (calls/s and CPU per call,
 * both sides together), with 1 and 32 calls in flight.
 *
 * Run: `npx tsc -p . && node dist/bench/h2-core.js` (BENCH_H2_MS sets the time per case).
 */

import { once } from "node:events";
import http2 from "node:http2";
import net from "node:net";
import { Writer } from "../src/io/writer.js";
import { HpackDecoder, HpackEncoder } from "../src/protocol/h2/hpack.js";
import { type H2Handler, H2Session } from "../src/protocol/h2/session.js";
import { nsPerOp as microNsPerOp } from "./lib/micro.js";

const MS = Number(process.env.BENCH_H2_MS ?? 600);

let sink = 0;

function nsPerOp(fn: () => void): number {
  return microNsPerOp(fn, MS, 2_000);
}

const REQUEST = [
  ":method",
  "POST",
  ":scheme",
  "http",
  ":path",
  "/example.EchoService/Echo",
  ":authority",
  "127.0.0.1:8002",
  "content-type",
  "application/grpc",
  "te",
  "trailers",
  "grpc-accept-encoding",
  "identity,deflate,gzip",
  "grpc-timeout",
  "1000m",
  "user-agent",
  "grpc-node-js/1.14.7",
];
const RESPONSE = [":status", "200", "content-type", "application/grpc"];
const TRAILERS = ["grpc-status", "0", "grpc-message", ""];

function benchHpack(): void {
  const enc = new HpackEncoder();
  const dec = new HpackDecoder();
  const w = new Writer(64 * 1024);
  const out: string[] = [];
  const blockLen = (): number => {
    enc.encode(REQUEST, w);
    const b = w.take();
    out.length = 0;
    dec.decode(b, 0, b.length, out);
    return b.length;
  };
  const first = blockLen();
  const steady = blockLen();
  const ns = nsPerOp(() => {
    enc.encode(REQUEST, w);
    const b = w.take();
    out.length = 0;
    dec.decode(b, 0, b.length, out);
    sink += out.length;
  });
  const encNs = nsPerOp(() => {
    enc.encode(REQUEST, w);
    sink += w.take().length;
  });
  enc.encode(REQUEST, w);
  const block = Buffer.from(w.take());
  const decNs = nsPerOp(() => {
    out.length = 0;
    dec.decode(block, 0, block.length, out);
    sink += out.length;
  });
  console.log(`hpack gRPC request block (${REQUEST.length / 2} fields, ${first} B first, ${steady} B after)`);
  console.log(
    `  encode+decode ${ns.toFixed(0)} ns   encode ${encNs.toFixed(0)} ns   decode ${decNs.toFixed(0)} ns`,
  );

  // Cold: a fresh encoder/decoder pair each time (first request on a connection, Huffman).
  const coldNs = nsPerOp(() => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    e.encode(REQUEST, w);
    const b = w.take();
    out.length = 0;
    d.decode(b, 0, b.length, out);
    sink += out.length;
  });
  console.log(`  cold (new tables, Huffman literals) encode+decode ${coldNs.toFixed(0)} ns`);
}

function benchExchange(): void {
  const msg = Buffer.alloc(5 + 32, 7);
  msg[0] = 0;
  msg.writeUInt32BE(32, 1);
  const toServer: Buffer[] = [];
  const toClient: Buffer[] = [];
  let done = 0;
  let serverSession!: H2Session;
  let clientSession!: H2Session;
  const serverHandler: H2Handler = {
    onHeaders() {},
    onData(id, data, endStream) {
      serverSession.consumed(id, data.length);
      if (endStream) {
        serverSession.respond(id, RESPONSE, false);
        serverSession.sendData(id, msg, false);
        serverSession.sendTrailers(id, TRAILERS);
      }
    },
    onReset() {},
    onGoaway() {},
    onError(e) {
      throw e;
    },
  };
  const clientHandler: H2Handler = {
    onHeaders(_id, _h, endStream) {
      if (endStream) done++;
    },
    onData(id, data) {
      clientSession.consumed(id, data.length);
    },
    onReset() {},
    onGoaway() {},
    onError(e) {
      throw e;
    },
  };
  serverSession = new H2Session({
    role: "server",
    handler: serverHandler,
    write: (bufs) => {
      for (const b of bufs) toClient.push(b);
    },
  });
  clientSession = new H2Session({
    role: "client",
    handler: clientHandler,
    write: (bufs) => {
      for (const b of bufs) toServer.push(b);
    },
    maxConcurrentStreams: 100,
  });
  const pump = (): void => {
    while (toServer.length > 0 || toClient.length > 0) {
      while (toServer.length > 0) serverSession.receive(toServer.shift()!);
      while (toClient.length > 0) clientSession.receive(toClient.shift()!);
    }
  };
  serverSession.start();
  clientSession.start();
  serverSession.flush();
  clientSession.flush();
  pump();
  let bytes = 0;
  const one = (): void => {
    const id = clientSession.request(REQUEST, false);
    clientSession.sendData(id, msg, true);
    clientSession.flush();
    bytes += toServer.reduce((n, b) => n + b.length, 0);
    pump();
  };
  const before = done;
  one();
  if (done !== before + 1) throw new Error("exchange did not complete");
  bytes = 0;
  let calls = 0;
  const ns = nsPerOp(() => {
    one();
    calls++;
  });
  console.log(
    `unary exchange client<->server in memory (32 B message): ${ns.toFixed(0)} ns/call (both sides), ` +
      `${(bytes / calls).toFixed(0)} B request on the wire`,
  );
  if (done < calls) throw new Error(`only ${done} of ${calls} exchanges completed`);
  // Stream ids run out after 2^30 calls; not a concern at these counts.
}

// ---- loopback -----------------------------------------------------------------------

const LOOP_MS = Number(process.env.BENCH_H2_LOOP_MS ?? 2000);
const GRPC_MSG = Buffer.concat([Buffer.from([0, 0, 0, 0, 14, 0x0a, 12]), Buffer.from("hello world!")]);

function socketWriter(socket: net.Socket): (bufs: Buffer[]) => void {
  return (bufs) => {
    if (bufs.length === 1) socket.write(bufs[0]!);
    else {
      socket.cork();
      for (const b of bufs) socket.write(b);
      socket.uncork();
    }
  };
}

/** Run `issue` `inflight` times, re-issuing on completion, for LOOP_MS; calls/s and us CPU per call. */
async function closedLoop(
  inflight: number,
  start: (onDone: () => void) => () => void,
): Promise<{ rate: number; cpuUs: number }> {
  let done = 0;
  let active = true;
  let issue: () => void = () => {};
  issue = start(() => {
    done++;
    if (active) issue();
  });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < inflight; i++) issue();
  await new Promise((r) => setTimeout(r, LOOP_MS));
  active = false;
  const el = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { rate: (done / el) * 1000, cpuUs: (cpu.user + cpu.system) / done };
}

async function loopOurs(inflight: number): Promise<{ rate: number; cpuUs: number }> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on("error", () => {});
    const s: H2Session = new H2Session({
      role: "server",
      write: socketWriter(socket),
      handler: {
        onHeaders() {},
        onData(id, d, end) {
          s.consumed(id, d.length);
          if (end) {
            s.respond(id, RESPONSE, false);
            s.sendData(id, Buffer.from(d), false);
            s.sendTrailers(id, TRAILERS);
          }
        },
        onReset() {},
        onGoaway() {},
        onError() {},
      },
    });
    socket.on("data", (b: Buffer) => s.receive(b));
    s.start();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const socket = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  await once(socket, "connect");
  socket.setNoDelay(true);
  const r = await closedLoop(inflight, (onDone) => {
    const c: H2Session = new H2Session({
      role: "client",
      write: socketWriter(socket),
      handler: {
        onHeaders(_id, _h, end) {
          if (end) onDone();
        },
        onData(id, d) {
          if (!d.equals(GRPC_MSG)) throw new Error("wrong echo");
          c.consumed(id, d.length);
        },
        onReset() {},
        onGoaway() {},
        onError(e) {
          throw e;
        },
      },
    });
    socket.on("data", (b: Buffer) => c.receive(b));
    c.start();
    return () => {
      const id = c.request(REQUEST, false);
      c.sendData(id, GRPC_MSG, true);
    };
  });
  socket.destroy();
  server.close();
  return r;
}

async function loopNode(inflight: number): Promise<{ rate: number; cpuUs: number }> {
  const server = http2.createServer();
  server.on("stream", (stream) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(Buffer.concat(chunks));
    });
    stream.on("error", () => {});
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const session = http2.connect(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  await once(session, "connect");
  const headers = {
    ":method": "POST",
    ":path": "/example.EchoService/Echo",
    "content-type": "application/grpc",
    te: "trailers",
  };
  const r = await closedLoop(inflight, (onDone) => () => {
    const st = session.request(headers);
    st.on("data", () => {});
    st.on("end", onDone);
    st.end(GRPC_MSG);
  });
  session.destroy();
  server.close();
  return r;
}

benchHpack();
benchExchange();
if (process.env.BENCH_H2_LOOPBACK === "1") {
  for (const inflight of [1, 32]) {
    const a = await loopOurs(inflight);
    const b = await loopNode(inflight);
    console.log(
      `loopback echo, ${inflight} in flight, client+server in one process: ` +
        `H2Session ${a.rate.toFixed(0)} calls/s ${a.cpuUs.toFixed(2)} us CPU/call; ` +
        `node:http2 ${b.rate.toFixed(0)} calls/s ${b.cpuUs.toFixed(2)} us CPU/call (x${(a.rate / b.rate).toFixed(1)})`,
    );
  }
}
if (sink === -1) console.log(sink);
