/**
 * docs/robustness.md: a peer sending bad bytes loses its own connection, logged once,
 * and nothing else; a peer that stops reading gets EOVERCROWDED instead of unbounded
 * buffering; a handler learns through ctx.signal that its client went away.
 *
 *   npx tsc -p . && node dist/examples/docs/robustness.js
 */
import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Channel, type LogLevel, RpcError, Server, setLogSink } from "../../src/index.js";
import { EchoService } from "../gen/peer_pb.js";
import { peerService } from "../interop/peer-service.js";

// Count what brpc-ts logs instead of printing it.
const logged: string[] = [];
setLogSink((level: LogLevel, message: string) => logged.push(`${level}: ${message}`));

const server = new Server({ maxBodySize: 64 * 1024 });
server.addService(EchoService, peerService);
await server.start("127.0.0.1:0");
const healthy = new Channel(server.address, { maxRetry: 0 });

function header(bodySize: number, metaSize: number): Buffer {
  const b = Buffer.alloc(12);
  b.write("PRPC", 0, "latin1");
  b.writeUInt32BE(bodySize, 4);
  b.writeUInt32BE(metaSize, 8);
  return b;
}

/** Send `bytes` on a fresh connection; resolves true when the server closes it. */
function sendAndWaitClose(bytes: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port: server.port }, () => s.write(bytes));
    s.on("error", () => {});
    s.on("data", () => {});
    s.on("close", () => resolve(true));
    setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 2000).unref();
  });
}

// What each case logs: the connection is failed with EINVAL ("Close <peer>...") as brpc
// does, except an undecodable RpcMeta, which closes it after the frame was cut.
const bad: [string, Buffer, RegExp][] = [
  [
    "garbage",
    Buffer.from("GARBAGE GARBAGE GARBAGE\r\n"),
    /^warn: Close 127\.0\.0\.1:\d+ due to unknown message \(first bytes 47415242/,
  ],
  ["meta_size > body_size", header(10, 20), /^warn: Close 127\.0\.0\.1:\d+: malformed baidu_std /],
  [
    "a 1 GiB frame header",
    header(1 << 30, 10),
    /^error: Close 127\.0\.0\.1:\d+: a frame is larger than max_body_size=65536$/,
  ],
  [
    "an undecodable meta",
    Buffer.concat([header(4, 4), Buffer.from([0x0a, 0xff, 0xff, 0xff])]),
    /^warn: Fail to parse RpcMeta from /,
  ],
];
for (const [what, bytes, line] of bad) {
  logged.length = 0;
  const closed = await sendAndWaitClose(bytes);
  const alive = (await healthy.client(EchoService).echo({ message: "alive" })).message;
  console.log(`${what}: connection closed=${closed}, log lines=${logged.length}, others: ${alive}`);
  console.log(`  ${logged[0]}`);
  assert.ok(closed);
  assert.equal(logged.length, 1);
  assert.match(logged[0] as string, line);
}

// A client connection to a peer that never reads: writes stop at maxUnwrittenBytes.
const sockets: Socket[] = [];
const sink = createServer((s) => {
  s.pause();
  sockets.push(s);
});
await new Promise<void>((r) => sink.listen(0, "127.0.0.1", r));
const port = (sink.address() as { port: number }).port;
const ch = new Channel(`127.0.0.1:${port}`, { maxRetry: 0, timeoutMs: 500, maxUnwrittenBytes: 256 * 1024 });
const echo = ch.client(EchoService);
await echo.echo({ message: "connect" }, { timeoutMs: 50 }).catch(() => {});
const attachment = Buffer.alloc(1024 * 1024);
const results = await Promise.allSettled(
  Array.from({ length: 10 }, () => echo.echo({ message: "m" }, { attachment })),
);
const names = results.map((r) => (r.status === "fulfilled" ? "ok" : RpcError.from(r.reason).codeName));
console.log(`10 x 1 MiB to a peer that never reads: ${names.join(" ")}`);
assert.ok(names.includes("EOVERCROWDED"));
ch.close();
for (const s of sockets) s.destroy();
sink.close();

// ctx.signal: aborted when the client's connection breaks.
const watcher = new Server();
let abortedWith = "";
watcher.addService(EchoService, {
  echo(_req, ctx) {
    return new Promise((resolve) => {
      ctx.signal.addEventListener("abort", () => {
        abortedWith = RpcError.from(ctx.signal.reason).codeName;
        resolve({ message: "nobody will read this" });
      });
    });
  },
});
await watcher.start("127.0.0.1:0");
const leaving = new Channel(watcher.address, { maxRetry: 0 });
const call = leaving
  .client(EchoService)
  .echo({ message: "x" })
  .catch(() => {});
await sleep(50);
leaving.close();
await call;
await sleep(50);
console.log(`handler's ctx.signal aborted with: ${abortedWith}`);
assert.notEqual(abortedWith, "");
await watcher.stop();

healthy.close();
await server.stop();
setLogSink(undefined);
console.log("done");
