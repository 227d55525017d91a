/**
 * A stream peer run as a real child process by the stream tests (compiled to
 * dist/test/helpers/stream-peer.js and started with `process.execPath`):
 *
 *   server --host H [--port P]   serve example.EchoService on H:P (default port 0) and print
 *                                "listening on H:P". A request with open_stream accepts the
 *                                stream and consumes what arrives; sleep_ms delays the answer.
 *   client --address A           open a stream to A with {message: "stream-to-me"}, read what
 *                                the server writes, print "stream open"; then start a call
 *                                {message: "hang"} that the server never answers, print
 *                                "hang sent", and stay alive until killed.
 *
 * The tests SIGSTOP this process (a peer that stops reading) or drop its packets, so it
 * logs to stderr only and never exits on its own.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { EchoService } from "../../examples/gen/peer_pb.js";
import { parseArgs } from "../../examples/interop/args.js";
import { Channel, Server, Stream } from "../../src/index.js";

const [mode, ...rest] = process.argv.slice(2);
const args = parseArgs(rest);

if (mode === "server") {
  const host = args.get("host") ?? "127.0.0.1";
  const port = Number(args.get("port") ?? "0");
  const server = new Server({});
  server.addService(EchoService, {
    async echo(req, ctx) {
      if (req.openStream && ctx.hasRemoteStream) {
        ctx.acceptStream({
          handler: {
            onReceivedMessages() {},
          },
        });
      }
      if (req.sleepMs > 0) await sleep(req.sleepMs);
      return { message: req.message };
    },
  });
  await server.start(`${host}:${port}`);
  console.log(`stream-peer listening on ${server.address}`);
} else if (mode === "client") {
  const address = args.get("address");
  if (address === undefined) throw new Error("client mode needs --address");
  const channel = new Channel(address, { maxRetry: 0, timeoutMs: 10_000, connectTimeoutMs: 5000 });
  const echo = channel.client(EchoService);
  let received = 0;
  const stream = new Stream({
    handler: {
      onReceivedMessages(_s, messages) {
        received += messages.length;
      },
      onFailed(_s, code, text) {
        console.error(`stream-peer client: stream failed ${code} ${text} after ${received} messages`);
      },
    },
  });
  await echo.echo({ message: "stream-to-me", openStream: true }, { stream });
  console.log("stream open");
  echo.echo({ message: "hang" }, { timeoutMs: -1 }).catch((e: unknown) => {
    console.error(`stream-peer client: hang call ended: ${String(e)}`);
  });
  // Let the request reach the socket before announcing it.
  await new Promise((r) => setImmediate(r));
  console.log("hang sent");
  setInterval(() => {}, 1 << 30);
} else {
  console.error(`usage: stream-peer.js server --host H [--port P] | client --address A (got ${mode})`);
  process.exit(2);
}
