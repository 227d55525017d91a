/**
 * "bare-batched": 4-byte big-endian length-prefixed echo over a plain `net` socket, no RPC layer at
 * all: the ceiling for any Node.js RPC framework on this machine.
 *
 * The server writes back all complete frames of one 'data' event with a single write (the
 * echo of consecutive frames is the same consecutive bytes). The client keeps N requests
 * in flight and, for all responses of one 'data' event, sends the replacements with one
 * write. Responses arrive in request order, so start times sit in a FIFO ring.
 */
import { once } from "node:events";
import net from "node:net";
import { performance } from "node:perf_hooks";
import type { LoadContext } from "../lib/system.js";

/** Index just past the last complete frame of `buf` (0 if none). */
function completeFramesEnd(buf: Buffer): number {
  let off = 0;
  while (buf.length - off >= 4) {
    const end = off + 4 + buf.readUInt32BE(off);
    if (end > buf.length) break;
    off = end;
  }
  return off;
}

/** Start the echo server on 127.0.0.1; resolves with its port. */
export async function serve(): Promise<number> {
  const server = net.createServer({ noDelay: true }, (sock) => {
    let pending: Buffer | null = null;
    sock.on("data", (chunk: Buffer) => {
      const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      const end = completeFramesEnd(buf);
      if (end > 0) sock.write(end === buf.length ? buf : buf.subarray(0, end));
      pending = end < buf.length ? buf.subarray(end) : null;
    });
    sock.on("error", () => sock.destroy());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

/** Keep `ctx.inflight` frames in flight on one connection until `ctx.active` is false. */
export async function load(port: number, ctx: LoadContext): Promise<void> {
  const n = ctx.inflight;
  const payload = Buffer.from(ctx.message);
  const frame = Buffer.alloc(4 + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  payload.copy(frame, 4);
  const frameLen = frame.length;
  /** n request frames back to back: a batch of k requests is its first k * frameLen bytes. */
  const frames = Buffer.concat(Array.from({ length: n }, () => frame));
  const starts = new Float64Array(n); // FIFO ring of issue times
  let head = 0;
  let tail = 0;
  let outstanding = 0;

  const sock = net.connect({ port, host: "127.0.0.1", noDelay: true });
  await once(sock, "connect");

  return new Promise<void>((resolve, reject) => {
    const sendBatch = (k: number): void => {
      const t0 = performance.now();
      for (let i = 0; i < k; i++) {
        starts[tail] = t0;
        tail = tail + 1 === n ? 0 : tail + 1;
      }
      outstanding += k;
      sock.write(k === n ? frames : frames.subarray(0, k * frameLen));
    };

    let pending: Buffer | null = null;
    sock.on("data", (chunk: Buffer) => {
      const t1 = performance.now();
      const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      let off = 0;
      let k = 0;
      while (buf.length - off >= 4) {
        const len = buf.readUInt32BE(off);
        if (buf.length - off - 4 < len) break;
        if (len !== payload.length) {
          sock.destroy();
          reject(new Error(`bare: echoed frame of ${len} bytes, sent ${payload.length}`));
          return;
        }
        off += 4 + len;
        ctx.done(starts[head]!, t1);
        head = head + 1 === n ? 0 : head + 1;
        k++;
      }
      pending = off < buf.length ? buf.subarray(off) : null;
      outstanding -= k;
      if (ctx.active) {
        if (k > 0) sendBatch(k);
      } else if (outstanding === 0) {
        sock.end();
        resolve();
      }
    });
    sock.on("error", reject);
    sock.on("close", () => reject(new Error("bare: connection closed by the server")));
    sendBatch(n);
  });
}
