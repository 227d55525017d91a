/**
 * docs/client.md "When the server dies" and docs/robustness.md: kill -9 the server
 * process with calls in flight. Every call fails exactly once with EEOF, ECONNRESET or
 * EFAILEDSOCKET; the channel reconnects lazily when the server is back.
 *
 *   npx tsc -p . && node dist/examples/docs/server-death.js
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Channel, ErrorCode, RpcError } from "../../src/index.js";
import { EchoService } from "../gen/peer_pb.js";

const serverScript = fileURLToPath(new URL("../interop/server.js", import.meta.url));

/** Start the interop server in a child process; resolves with its port. */
function startServer(port: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [serverScript, "--port", String(port)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on [^\s]*:(\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
}

const first = await startServer(0);
const channel = new Channel(`127.0.0.1:${first.port}`, { maxRetry: 0, timeoutMs: 20000 });
const echo = channel.client(EchoService);
await echo.echo({ message: "warm up" });

// 50 calls the server will never answer (it sleeps 10 s), then kill -9.
const settled = new Array<number>(50).fill(0);
const codes = new Map<string, number>();
const calls = settled.map((_, i) =>
  echo.echo({ message: `call ${i}`, sleepMs: 10000 }).then(
    () => {
      settled[i]!++;
    },
    (err: unknown) => {
      settled[i]!++;
      const e = RpcError.from(err);
      codes.set(e.codeName, (codes.get(e.codeName) ?? 0) + 1);
    },
  ),
);
await new Promise((r) => setTimeout(r, 200));
first.child.removeAllListeners("exit");
const exited = new Promise((r) => first.child.once("exit", r));
first.child.kill("SIGKILL");
await Promise.all(calls);
// The calls fail as soon as their connection drops; the listening socket goes a moment later.
await exited;
console.log(`after kill -9: ${[...codes].map(([c, n]) => `${n} x ${c}`).join(", ")}`);
assert.ok(
  settled.every((n) => n === 1),
  "every call settled exactly once",
);
for (const name of codes.keys()) assert.ok(["EEOF", "ECONNRESET", "EFAILEDSOCKET"].includes(name));

// Nothing listens now: the next call tries to connect and is refused.
try {
  await echo.echo({ message: "nobody there" });
} catch (err) {
  const e = RpcError.from(err);
  console.log(`while down: ${e.codeName} ${e.text}`);
  assert.equal(e.code, ErrorCode.ECONNREFUSED);
}

// Server back on the same port: the same channel reconnects on its next call.
const second = await startServer(first.port);
console.log(`server back on port ${second.port}: "${(await echo.echo({ message: "hello again" })).message}"`);
channel.close();
second.child.removeAllListeners("exit");
second.child.kill("SIGTERM"); // the interop server stops gracefully on SIGTERM
console.log("done");
