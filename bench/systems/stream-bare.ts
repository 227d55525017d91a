/**
 * Stream throughput baselines: a bare Node `net` socket, no RPC layer. The client (reader)
 * connects and sends the message size as a uint32 BE; the server then writes frames of a
 * 4-byte big-endian length prefix + the message until the client disconnects, waiting for
 * 'drain' whenever `write` returns false (Node's default 16 KiB high-water mark), and
 * yielding to the event loop (setImmediate) after every {@link YIELD_BYTES} written without
 * a wait, as a writer sharing its process must (while the kernel accepts every write at
 * once, `write` never returns false). The client parses the frames out of its 'data'
 * chunks (messages split across chunks included) and verifies each one, like the brpc-ts
 * reader.
 *
 * Variants (`ctx.variant`, sent to the server after the size as a uint32 BE 0 or 1):
 * - "" ("bare"): ONE `socket.write` per frame, prefix and message in one fresh buffer;
 * - "batched" ("bare-batched"): frames are built back to back in 64 KiB buffers, one
 *   `socket.write` per buffer (a frame larger than that is written alone): the ceiling of
 *   a Node socket, with no per-message cost beyond filling the bytes.
 */
import { once } from "node:events";
import net from "node:net";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { fillMessage, type StreamReadContext } from "../lib/stream.js";

/** Bytes written without waiting for 'drain' after which the writer yields to the event loop. */
const YIELD_BYTES = 256 * 1024;
/** Buffer size of the batched writer. */
const BATCH_BYTES = 64 * 1024;

/** Write frames of `size`-byte messages on `sock` until it closes. */
async function writeLoop(sock: net.Socket, size: number, batched: boolean): Promise<void> {
  let wake: (() => void) | null = null;
  const wakeUp = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  sock.on("drain", wakeUp);
  sock.on("close", wakeUp);
  let seq = 0;
  let sinceYield = 0;
  const perWrite = batched ? Math.max(1, Math.floor(BATCH_BYTES / (4 + size))) : 1;
  while (!sock.destroyed && sock.writable) {
    const buf = Buffer.allocUnsafe(perWrite * (4 + size));
    for (let off = 0; off < buf.length; off += 4 + size) {
      buf.writeUInt32BE(size, off);
      fillMessage(buf, off + 4, size, seq);
      seq = (seq + 1) >>> 0;
    }
    sinceYield += buf.length;
    if (!sock.write(buf)) {
      sinceYield = 0;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    } else if (sinceYield >= YIELD_BYTES) {
      sinceYield = 0;
      await yieldToLoop();
    }
  }
}

/** Start the server; each connection gets a writer once it sent the message size. */
export async function serve(): Promise<number> {
  const server = net.createServer({ noDelay: true }, (sock) => {
    sock.on("error", () => sock.destroy());
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      if (head.length < 8) return;
      sock.off("data", onData);
      void writeLoop(sock, head.readUInt32BE(0), head.readUInt32BE(4) === 1);
    };
    sock.on("data", onData);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

/** Ask for `ctx.size`-byte messages, parse and verify frames until the window closed. */
export async function read(port: number, ctx: StreamReadContext): Promise<void> {
  const sock = net.connect({ port, host: "127.0.0.1", noDelay: true });
  await once(sock, "connect");
  const req = Buffer.alloc(8);
  req.writeUInt32BE(ctx.size, 0);
  req.writeUInt32BE(ctx.variant === "batched" ? 1 : 0, 4);
  sock.write(req);

  const hdr = Buffer.alloc(4);
  let hdrGot = 0; // bytes of a split length prefix received so far
  let bodyLeft = 0; // bytes of a split message still to come
  sock.on("data", (chunk: Buffer) => {
    const end = chunk.length;
    let off = 0;
    while (off < end) {
      if (bodyLeft === 0) {
        let len: number;
        if (hdrGot === 0 && end - off >= 4) {
          len = chunk.readUInt32BE(off);
          off += 4;
          if (end - off >= len) {
            // Fast path: the whole frame is in this chunk.
            ctx.messageAt(chunk, off, len);
            off += len;
            continue;
          }
        } else {
          while (hdrGot < 4 && off < end) hdr[hdrGot++] = chunk[off++]!;
          if (hdrGot < 4) break;
          hdrGot = 0;
          len = hdr.readUInt32BE(0);
        }
        ctx.begin(len);
        bodyLeft = len;
        if (len === 0) {
          ctx.end();
          continue;
        }
      }
      const n = Math.min(bodyLeft, end - off);
      ctx.part(chunk, off, off + n);
      off += n;
      bodyLeft -= n;
      if (bodyLeft === 0) ctx.end();
    }
  });
  sock.on("error", (err) => ctx.fail(err));
  sock.on("close", () => ctx.fail(new Error("bare: connection closed by the writer")));
  await ctx.stopped;
  sock.destroy();
}
