/**
 * Interop client: does what the brpc peer client did in the captures and prints the
 * same lines.
 *
 *   npm run interop:client -- --server 127.0.0.1:P --scenario echo|attachment|fail|timeout|missing
 *                             [--n N] [--compress 0|1|2|3]
 */
import { Channel, Controller, RpcError } from "../../src/index.js";
import { EchoService } from "../gen/peer_pb.js";
import { parseArgs } from "./args.js";

const args = parseArgs(process.argv.slice(2));
const server = args.get("server");
const scenario = args.get("scenario") ?? "echo";
const n = Number(args.get("n") ?? "3");
const compress = Number(args.get("compress") ?? "0");
const scenarios = ["echo", "attachment", "fail", "timeout", "missing"];
if (server === undefined || !scenarios.includes(scenario) || !Number.isInteger(n) || n < 0) {
  console.error(
    `usage: client --server HOST:PORT --scenario ${scenarios.join("|")} [--n N] [--compress 0|1|2|3]`,
  );
  process.exit(2);
}

// One channel, timeout 1000 ms, no retries: as the brpc peer client.
const channel = new Channel(server, { timeoutMs: 1000, maxRetry: 0 });
const echo = channel.client(EchoService);

for (let i = 0; i < n; i++) {
  const cntl = new Controller();
  const req = {
    message: `hello ${i}`,
    failCode: scenario === "fail" ? 2001 + i : undefined,
    sleepMs: scenario === "timeout" ? 300 : undefined,
  };
  const opts = {
    controller: cntl,
    logId: 1000 + i,
    compressType: compress,
    attachment: scenario === "attachment" ? `attach-${i}` : undefined,
    timeoutMs: scenario === "timeout" ? 100 : undefined,
  };
  try {
    const res = await (scenario === "missing" ? echo.missing(req, opts) : echo.echo(req, opts));
    console.log(
      `call ${i} ok: message=${res.message} attachment=${cntl.responseAttachment.toString("utf8")} latency_us=${cntl.latencyUs}`,
    );
  } catch (err) {
    const e = RpcError.from(err);
    console.log(`call ${i} failed: code=${e.code} text=${e.text}`);
  }
}
channel.close();
process.exit(0);
