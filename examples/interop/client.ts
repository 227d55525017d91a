/**
 * Interop client: does what the brpc peer client did in the captures and prints the
 * same lines.
 *
 *   npm run interop:client -- --server 127.0.0.1:P --scenario echo|attachment|fail|timeout|missing|stream
 *                             [--n N] [--compress 0|1|2|3] [--protocol baidu_std|http|h2|h2:grpc|...]
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Channel, Controller, RpcError, Stream } from "../../src/index.js";
import { EchoService } from "../gen/peer_pb.js";
import { parseArgs } from "./args.js";

const args = parseArgs(process.argv.slice(2));
const server = args.get("server");
const scenario = args.get("scenario") ?? "echo";
const n = Number(args.get("n") ?? "3");
const compress = Number(args.get("compress") ?? "0");
const protocol = args.get("protocol") ?? "baidu_std";
const scenarios = ["echo", "attachment", "fail", "timeout", "missing", "stream"];
function usage(): never {
  console.error(
    `usage: client --server HOST:PORT --scenario ${scenarios.join("|")} [--n N] [--compress 0|1|2|3]` +
      " [--protocol baidu_std|http|http:json|http:proto|h2|h2:json|h2:grpc|h2:grpc+json]",
  );
  process.exit(2);
}
if (server === undefined || !scenarios.includes(scenario) || !Number.isInteger(n) || n < 0) usage();

// One channel, timeout 1000 ms, no retries: as the brpc peer client.
let channel: Channel;
try {
  channel = new Channel(server as string, { protocol, timeoutMs: 1000, maxRetry: 0 });
} catch (err) {
  console.error(String(err));
  usage();
}
const echo = channel.client(EchoService);

for (let i = 0; i < n; i++) {
  const cntl = new Controller();
  // stream: one stream with a handler printing what it receives.
  const stream =
    scenario === "stream"
      ? new Stream({
          handler: {
            onReceivedMessages(_s, messages) {
              for (const m of messages) console.log(`stream-recv ${m.toString("utf8")}`);
            },
            onClosed() {
              console.log("stream-closed");
            },
          },
        })
      : undefined;
  const req = {
    message: `hello ${i}`,
    failCode: scenario === "fail" ? 2001 + i : undefined,
    sleepMs: scenario === "timeout" ? 300 : undefined,
    openStream: scenario === "stream" ? true : undefined,
  };
  const opts = {
    controller: cntl,
    logId: 1000 + i,
    compressType: compress,
    attachment: scenario === "attachment" ? `attach-${i}` : undefined,
    timeoutMs: scenario === "timeout" ? 100 : undefined,
    stream,
  };
  let ok = false;
  try {
    const res = await (scenario === "missing" ? echo.missing(req, opts) : echo.echo(req, opts));
    ok = true;
    console.log(
      `call ${i} ok: message=${res.message} attachment=${cntl.responseAttachment.toString("utf8")} latency_us=${cntl.latencyUs}`,
    );
  } catch (err) {
    const e = RpcError.from(err);
    console.log(`call ${i} failed: code=${e.code} text=${e.text}`);
  }
  if (stream !== undefined && ok) {
    for (let k = 0; k < 3; k++) console.log(`stream-write ${k} rc=${stream.tryWrite(`msg-${k}`)}`);
    await sleep(300);
    stream.tryWrite("close");
    await sleep(300);
    stream.close();
    await sleep(100);
  }
}
channel.close();
process.exit(0);
