/**
 * "http-brpc-ts": this project's Server answering `POST /EchoService/Echo` with JSON
 * (example.EchoService/Echo of proto/peer.proto, json2pb mapping), HTTP/1.1 on the
 * server's port; loaded by the shared HTTP load generator (bench/lib/http-load.ts). The
 * handler returns its response directly, as the node:http baseline's handler answers
 * synchronously; "http-brpc-ts-async" is the same with an `async` handler.
 */
import { EchoService } from "../../examples/gen/peer_pb.js";
import { Server } from "../../src/index.js";
import { httpLoad, jsonEcho } from "../lib/http-load.js";
import type { LoadContext } from "../lib/system.js";

/** Start the echo server on 127.0.0.1; resolves with its port. */
export function serve(): Promise<number> {
  return serveEcho(false);
}

/** The echo server with an `async` handler (`async`) or one returning the response. */
export async function serveEcho(async: boolean): Promise<number> {
  const server = new Server();
  server.addService(EchoService, {
    echo: async ? async (req) => ({ message: req.message }) : (req) => ({ message: req.message }),
  });
  await server.start("127.0.0.1:0");
  return server.port;
}

/** Keep `ctx.inflight` JSON echo requests in flight until `ctx.active` is false. */
export function load(port: number, ctx: LoadContext): Promise<void> {
  return httpLoad(port, ctx, jsonEcho(ctx, "/EchoService/Echo"));
}
