/**
 * docs/server.md: server and per-method concurrency limits (ELIMIT), stop() abandoning
 * slow handlers, max body size and the idle timeout.
 *
 *   npx tsc -p . && node dist/examples/docs/server-limits.js
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { Channel, RpcError, Server } from "../../src/index.js";
import { EchoService } from "../gen/peer_pb.js";
import { peerService } from "../interop/peer-service.js";

/** The code and text a call fails with ("ok" if it succeeds). */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    const e = RpcError.from(err);
    return `${e.codeName} ${e.text}`;
  }
}

// 1. Server-wide limit (brpc ServerOptions.max_concurrency).
{
  const server = new Server({ maxConcurrency: 2 });
  server.addService(EchoService, peerService);
  await server.start("127.0.0.1:0");
  const ch = new Channel(server.address, { maxRetry: 0, timeoutMs: 2000 });
  const echo = ch.client(EchoService);
  const slow = [echo.echo({ message: "a", sleepMs: 200 }), echo.echo({ message: "b", sleepMs: 200 })];
  await sleep(50);
  console.log(`server concurrency now: ${server.concurrency}`);
  const third = await outcome(echo.echo({ message: "c" }));
  console.log(`3rd call: ${third}`);
  assert.match(third, /^ELIMIT .*Reached server's max_concurrency=2$/);
  await Promise.all(slow);
  // ELIMIT is retryable by default: with retries the call may get through later.

  // stop() gives up on handlers that outlive the grace period: they are abandoned and
  // the counts restart from zero, so the restarted server has its full capacity.
  const stuck = [echo.echo({ message: "d", sleepMs: 1000 }), echo.echo({ message: "e", sleepMs: 1000 })];
  await sleep(50);
  await server.stop(100);
  console.log(`stop(100) with 2 slow handlers: ${(await Promise.all(stuck.map(outcome))).join(", ")}`);
  await server.start("127.0.0.1:0");
  assert.equal(server.concurrency, 0);
  const ch2 = new Channel(server.address, { maxRetry: 0, timeoutMs: 2000 });
  const again = await Promise.all(
    [1, 2].map((i) => outcome(ch2.client(EchoService).echo({ message: `${i}` }))),
  );
  console.log(`after a restart, 2 concurrent calls: ${again.join(", ")}`);
  assert.deepEqual(again, ["ok", "ok"]);
  await sleep(1000); // the abandoned handlers finish now: the count stays right
  assert.equal(server.concurrency, 0);
  ch.close();
  ch2.close();
  await server.stop();
}

// 2. Per-method limits (brpc MaxConcurrencyOf("pkg.Svc.Method")).
{
  const server = new Server({ methodMaxConcurrency: 0 }); // default of every method: unlimited
  server.addService(EchoService, peerService, { maxConcurrency: { Echo: 1 } });
  // Keys must name methods of the service.
  assert.throws(
    () => new Server().addService(EchoService, peerService, { maxConcurrency: { Nope: 1 } }),
    /has no method "Nope"/,
  );
  // Same thing by full method name; also allowed while the server runs.
  server.setMethodMaxConcurrency("example.EchoService.Echo", 1);
  await server.start("127.0.0.1:0");
  const ch = new Channel(server.address, { maxRetry: 0, timeoutMs: 2000 });
  const echo = ch.client(EchoService);
  const slow = echo.echo({ message: "a", sleepMs: 200 });
  await sleep(50);
  const second = await outcome(echo.echo({ message: "b" }));
  console.log(`2nd Echo: ${second}`);
  assert.match(second, /^ELIMIT .*Rejected by example.EchoService.Echo's ConcurrencyLimiter, concurrency=1$/);
  // Other methods are not limited by Echo's limit.
  console.log(`Missing meanwhile: ${await outcome(echo.missing({ message: "m" }))}`);
  await slow;
  ch.close();
  await server.stop();
}

// 3. max_body_size: a bigger frame closes that connection (brpc -max_body_size).
{
  const server = new Server({ maxBodySize: 1024 });
  server.addService(EchoService, peerService);
  await server.start("127.0.0.1:0");
  const ch = new Channel(server.address, { maxRetry: 0 });
  const echo = ch.client(EchoService);
  const big = await outcome(echo.echo({ message: "big" }, { attachment: Buffer.alloc(4096) }));
  console.log(`4 KiB request: ${big}`);
  assert.match(big, /^EEOF /);
  // The channel reconnects for the next call.
  console.log(`small request afterwards: ${await outcome(echo.echo({ message: "small" }))}`);
  ch.close();
  await server.stop();
}

// 4. idle_timeout_sec: connections without traffic for that long are closed.
{
  const server = new Server({ idleTimeoutSec: 1 });
  server.addService(EchoService, peerService);
  await server.start("127.0.0.1:0");
  const ch = new Channel(server.address, { maxRetry: 0, timeoutMs: 5000 });
  // A connection with a request in flight is never idle, however slow the handler.
  const slow = await outcome(ch.client(EchoService).echo({ message: "slow", sleepMs: 2500 }));
  console.log(`a 2.5 s call on a server with idleTimeoutSec=1: ${slow}`);
  assert.equal(slow, "ok");
  console.log(`connections after the call: ${server.connections.size}`);
  await sleep(3200); // checked every second: closed 1 to 2 s after the last byte
  console.log(`connections after 3.2 s idle: ${server.connections.size}`);
  assert.equal(server.connections.size, 0);
  // The client notices the close and reconnects on its next call.
  console.log(`next call: ${await outcome(ch.client(EchoService).echo({ message: "y" }))}`);
  ch.close();
  await server.stop();
}
console.log("done");
