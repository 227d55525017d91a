/**
 * "bare": 4-byte big-endian length-prefixed echo over a plain `net` socket, no RPC layer,
 * one `socket.write` per message on both sides, as a hand-written Node TCP protocol does.
 * This is the baseline the brpc-ts/bare targets refer to (see docs/benchmarks.md);
 * "bare-batched" coalesces writes and is the absolute ceiling.
 */
import { once } from "node:events";
import net from "node:net";
import { performance } from "node:perf_hooks";
import type { LoadContext } from "../lib/system.js";

/** Start the echo server on 127.0.0.1; resolves with its port. */
export async function serve(): Promise<number> {
  const server = net.createServer({ noDelay: true }, (sock) => {
    let pending: Buffer | null = null;
    sock.on("data", (chunk: Buffer) => {
      const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      let off = 0;
      while (buf.length - off >= 4) {
        const end = off + 4 + buf.readUInt32BE(off);
        if (end > buf.length) break;
        sock.write(buf.subarray(off, end));
        off = end;
      }
      pending = off < buf.length ? buf.subarray(off) : null;
    });
    sock.on("error", () => sock.destroy());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

/** Keep `ctx.inflight` frames in flight, one write per request, until `ctx.active` is false. */
export async function load(port: number, ctx: LoadContext): Promise<void> {
  const n = ctx.inflight;
  const payload = Buffer.from(ctx.message);
  const starts = new Float64Array(n);
  let head = 0;
  let tail = 0;
  let outstanding = 0;
  const sock = net.connect({ port, host: "127.0.0.1", noDelay: true });
  await once(sock, "connect");
  return new Promise<void>((resolve, reject) => {
    const send = (): void => {
      const frame = Buffer.allocUnsafe(4 + payload.length);
      frame.writeUInt32BE(payload.length, 0);
      payload.copy(frame, 4);
      starts[tail] = performance.now();
      tail = tail + 1 === n ? 0 : tail + 1;
      outstanding++;
      sock.write(frame);
    };
    let pending: Buffer | null = null;
    sock.on("data", (chunk: Buffer) => {
      const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      let off = 0;
      while (buf.length - off >= 4) {
        const len = buf.readUInt32BE(off);
        if (buf.length - off - 4 < len) break;
        if (len !== payload.length) {
          sock.destroy();
          reject(new Error(`bare: echoed frame of ${len} bytes, sent ${payload.length}`));
          return;
        }
        off += 4 + len;
        outstanding--;
        ctx.done(starts[head]!);
        head = head + 1 === n ? 0 : head + 1;
        if (ctx.active) send();
      }
      pending = off < buf.length ? buf.subarray(off) : null;
      if (!ctx.active && outstanding === 0) {
        sock.end();
        resolve();
      }
    });
    sock.on("error", reject);
    sock.on("close", () => {
      if (outstanding > 0) reject(new Error("bare: connection closed by the server"));
    });
    for (let i = 0; i < n; i++) send();
  });
}
