/**
 * "brpc-ts": this project's Server and Channel, example.EchoService/Echo of
 * proto/peer.proto over baidu_std on one connection (connection type "single").
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

/** Keep `ctx.inflight` calls in flight on one channel until `ctx.active` is false. */
export async function load(port: number, ctx: LoadContext): Promise<void> {
  const channel = new Channel(`127.0.0.1:${port}`, { timeoutMs: 5000, maxRetry: 0 });
  const echo = channel.client(EchoService);
  const msg = ctx.message;
  await closedLoop(ctx, async () => {
    const res = await echo.echo({ message: msg });
    if (res.message !== msg) throw new Error(`brpc-ts: echoed "${res.message}"`);
  });
  channel.close();
}
