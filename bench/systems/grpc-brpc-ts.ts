/**
 * "grpc-brpc-ts": gRPC unary echo between this project's ends: a `Channel` with protocol
 * "h2:grpc" (one h2 session) calling example.EchoService/Echo of proto/peer.proto on a
 * brpc-ts `Server` (gRPC on the server's port). `serve` is also the server of
 * "grpc-js-to-brpc-ts".
 */
import { EchoService } from "../../examples/gen/peer_pb.js";
import { Channel, Server } from "../../src/index.js";
import { closedLoop } from "../lib/load.js";
import type { LoadContext } from "../lib/system.js";

/** Start the echo server on 127.0.0.1; resolves with its port. */
export async function serve(): Promise<number> {
  const server = new Server();
  server.addService(EchoService, {
    echo: async (req) => ({ message: req.message }),
  });
  await server.start("127.0.0.1:0");
  return server.port;
}

/** Keep `ctx.inflight` gRPC calls in flight on one h2:grpc channel until `ctx.active` is false. */
export async function load(port: number, ctx: LoadContext): Promise<void> {
  const channel = new Channel(`127.0.0.1:${port}`, { protocol: "h2:grpc", timeoutMs: 5000, maxRetry: 0 });
  const echo = channel.client(EchoService);
  const msg = ctx.message;
  try {
    await closedLoop(ctx, async () => {
      const res = await echo.echo({ message: msg });
      if (res.message !== msg) throw new Error(`grpc-brpc-ts: echoed "${res.message}"`);
    });
  } finally {
    channel.close();
  }
}
