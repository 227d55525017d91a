/**
 * "brpc-ts-nometrics": the "brpc-ts" system (baidu_std echo on one connection) with every
 * automatic metric off (`ServerOptions.metrics` and `ChannelOptions.metrics` false): the
 * baseline of the metrics part's overhead ratio.
 */
import { EchoService } from "../../examples/gen/peer_pb.js";
import { Channel, Server } from "../../src/index.js";
import { closedLoop } from "../lib/load.js";
import type { LoadContext } from "../lib/system.js";

/** Start the echo server on 127.0.0.1 without metrics; resolves with its port. */
export async function serve(): Promise<number> {
  const server = new Server({ metrics: false });
  server.addService(EchoService, {
    echo: async (req) => ({ message: req.message }),
  });
  await server.start("127.0.0.1:0");
  return server.port;
}

/** Keep `ctx.inflight` calls in flight on one channel without metrics until `ctx.active` is false. */
export async function load(port: number, ctx: LoadContext): Promise<void> {
  const channel = new Channel(`127.0.0.1:${port}`, { timeoutMs: 5000, maxRetry: 0, metrics: false });
  const echo = channel.client(EchoService);
  const msg = ctx.message;
  await closedLoop(ctx, async () => {
    const res = await echo.echo({ message: msg });
    if (res.message !== msg) throw new Error(`brpc-ts-nometrics: echoed "${res.message}"`);
  });
  channel.close();
}
