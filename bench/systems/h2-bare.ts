/**
 * "h2-bare": the ceiling of any gRPC implementation built on node:http2. A node:http2
 * server (core API, `'stream'` event) echoes the request's length-prefixed message back
 * with `content-type: application/grpc` and the trailers `grpc-status: 0`; the client
 * sends the encoded EchoRequest as one gRPC message on one h2 session per call and
 * checks the bytes that come back. No protobuf decoding, no deadlines, no RPC layer.
 */
import { once } from "node:events";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { closedLoop } from "../lib/load.js";
import type { LoadContext } from "../lib/system.js";

const EMPTY = Buffer.alloc(0);

/** Start the echo server on 127.0.0.1; resolves with its port. */
export async function serve(): Promise<number> {
  const server = http2.createServer({ settings: { enablePush: false } });
  server.on("stream", (stream) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      if (stream.destroyed) return;
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    });
    stream.on("error", () => {});
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

/** Keep `ctx.inflight` calls in flight on one h2 session until `ctx.active` is false. */
export async function load(port: number, ctx: LoadContext): Promise<void> {
  const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { enablePush: false } });
  session.on("error", () => {});
  await once(session, "connect");
  // EchoRequest { message } as protobuf (field 1, length-delimited), gRPC-framed.
  const msg = Buffer.from(ctx.message);
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length + 2, 0x0a, msg.length]), msg]);
  const headers = {
    ":method": "POST",
    ":path": "/example.EchoService/Echo",
    "content-type": "application/grpc",
    te: "trailers",
  };
  try {
    await closedLoop(
      ctx,
      () =>
        new Promise<void>((resolve, reject) => {
          const stream = session.request(headers);
          let body: Buffer = EMPTY;
          let status: string | undefined;
          stream.on("data", (c: Buffer) => {
            body = body.length === 0 ? c : Buffer.concat([body, c]);
          });
          stream.on("trailers", (t) => {
            status = t["grpc-status"] as string | undefined;
          });
          stream.on("end", () => {
            if (status !== "0") reject(new Error(`h2-bare: grpc-status ${status}`));
            else if (!body.equals(frame)) reject(new Error("h2-bare: wrong echo"));
            else resolve();
          });
          stream.on("error", reject);
          stream.end(frame);
        }),
    );
  } finally {
    session.close();
  }
}
