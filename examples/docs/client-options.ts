/**
 * docs/client.md: connection types, CallOptions and the Controller, timeouts, retries,
 * cancellation, request fields, compression, checksums and content types.
 *
 *   npx tsc -p . && node dist/examples/docs/client-options.js
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { Channel, ContentType, Controller, ErrorCode, RpcError, Server } from "../../src/index.js";
import { EchoService } from "../gen/peer_pb.js";

// A server that reports what each request carried.
let attempts = 0;
const server = new Server();
server.addService(EchoService, {
  async echo(req, ctx) {
    attempts++;
    if (req.sleepMs > 0) await sleep(req.sleepMs);
    if (req.failCode !== 0 && attempts === 1) ctx.setFailed(req.failCode, "first attempt fails");
    ctx.responseAttachment = ctx.requestAttachment;
    ctx.responseCompressType = ctx.requestCompressType;
    ctx.responseChecksum = true;
    const seen = {
      logId: ctx.logId?.toString(),
      requestId: ctx.requestId,
      userFields: ctx.requestUserFields,
      compress: ctx.requestCompressType,
      contentType: ctx.contentType,
      timeoutMs: ctx.timeoutMs,
    };
    return { message: JSON.stringify(seen) };
  },
});
await server.start("127.0.0.1:0");

async function failure(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RpcError);
    return err;
  }
  throw new Error("the call should have failed");
}

// --- connection types ------------------------------------------------------
for (const connectionType of ["single", "pooled", "short"] as const) {
  const ch = new Channel(server.address, { connectionType });
  const echo = ch.client(EchoService);
  const calls = Array.from({ length: 10 }, () => echo.echo({ message: "x", sleepMs: 100 }));
  await sleep(50);
  console.log(`${connectionType}: 10 concurrent calls use ${server.connections.size} connection(s)`);
  await Promise.all(calls);
  ch.close();
  await sleep(20);
}

// --- request fields, Controller results -----------------------------------
const channel = new Channel(server.address, { timeoutMs: 1000, maxRetry: 3 });
const echo = channel.client(EchoService);
const cntl = new Controller();
cntl.logId = 7n; // Controller settings are the fallback of CallOptions
const res = await echo.echo(
  { message: "hi" },
  {
    controller: cntl,
    requestId: "req-1",
    userFields: { user: "alice" },
    attachment: Buffer.from("tail bytes"),
    compressType: "snappy",
    checksum: true,
  },
);
console.log(`server saw: ${res.message}`);
console.log(
  `controller: errorCode=${cntl.errorCode} latencyUs=${cntl.latencyUs} retried=${cntl.retriedCount} ` +
    `remote=${cntl.remoteSide} local=${cntl.localSide} attachment="${cntl.responseAttachment}" ` +
    `responseCompressType=${cntl.responseCompressType}`,
);
assert.deepEqual(JSON.parse(res.message), {
  logId: "7",
  requestId: "req-1",
  userFields: { user: "alice" },
  compress: 1,
  contentType: 0,
});

// A Controller can carry settings CallOptions lack a name for, e.g. the checksum.
const ck = new Controller();
ck.requestChecksum = true;
await echo.echo({ message: "checked" }, { controller: ck });

// --- calls that fail before anything is sent ---------------------------------
const badOpts = await failure(echo.echo({ message: "x" }, { logId: 1.5 })); // rejects, never throws
console.log(`bad call options: ${badOpts.codeName} ${badOpts.text}`);
assert.equal(badOpts.code, ErrorCode.EINVAL);
assert.match(badOpts.text, /^\[E22\]Invalid call options: /);
const unset = await failure(echo.echo({} as { message: string })); // `message` is a proto2 required field
console.log(`missing required field: ${unset.codeName} ${unset.text}`);
assert.equal(unset.text, "[E1003]Missing required fields in request: message");

// --- the same call by method descriptor -------------------------------------
const viaCall = await channel.call(EchoService.method.echo, { message: "by descriptor" });
console.log(`channel.call: ${viaCall.message}`);

// --- timeouts -------------------------------------------------------------
const t = await failure(echo.echo({ message: "slow", sleepMs: 300 }, { timeoutMs: 100, controller: cntl }));
console.log(`timeout: ${t.codeName} ${t.text} (retried ${cntl.retriedCount} times)`);
assert.equal(t.code, ErrorCode.ERPCTIMEDOUT);
assert.equal(cntl.retriedCount, 0); // ERPCTIMEDOUT is never retried

// deliverTimeoutMs puts the remaining time in the request meta: the server sees a deadline.
const timed = new Channel(server.address, { timeoutMs: 800, deliverTimeoutMs: true });
console.log(
  `deliverTimeoutMs: server saw ${(await timed.client(EchoService).echo({ message: "t" })).message}`,
);
timed.close();

// --- retries --------------------------------------------------------------
// A server error in brpc's retryable set (ELIMIT) is retried on the same channel.
attempts = 0;
const r = new Controller();
await echo.echo({ message: "retry me", failCode: ErrorCode.ELIMIT }, { controller: r });
console.log(`ELIMIT on the 1st attempt: succeeded after ${r.retriedCount} retry`);
assert.equal(r.retriedCount, 1);

// A non-retryable error (EINTERNAL) fails at once, unless a retryPolicy says otherwise.
attempts = 0;
const strict = await failure(echo.echo({ message: "x", failCode: ErrorCode.EINTERNAL }));
console.log(`EINTERNAL, default policy: ${strict.text}`);
const lenient = new Channel(server.address, { retryPolicy: (code) => code === ErrorCode.EINTERNAL });
attempts = 0;
const ok = new Controller();
await lenient.client(EchoService).echo({ message: "x", failCode: ErrorCode.EINTERNAL }, { controller: ok });
console.log(`EINTERNAL, custom retryPolicy: succeeded after ${ok.retriedCount} retry`);
lenient.close();

// Connection errors are retried; texts of all attempts accumulate with [R<n>].
const probe = new Server();
await probe.start("127.0.0.1:0");
const deadAddress = probe.address;
await probe.stop();
const dead = new Channel(deadAddress, { maxRetry: 2 });
const refused = await failure(dead.client(EchoService).echo({ message: "x" }));
console.log(`refused: ${refused.codeName} ${refused.text}`);
assert.match(refused.text, /^\[E111\].* \[R1\]\[E111\].* \[R2\]\[E111\]/);
dead.close();

// --- cancellation ---------------------------------------------------------
const ac = new AbortController();
const pending = echo.echo({ message: "slow", sleepMs: 300 }, { signal: ac.signal });
setTimeout(() => ac.abort(), 50);
const c = await failure(pending);
console.log(`canceled: ${c.codeName} ${c.text}`);
assert.equal(c.code, ErrorCode.ECANCELED);

// --- close() with a call in flight ----------------------------------------------
const closing = new Channel(server.address);
const inFlight = closing.client(EchoService).echo({ message: "slow", sleepMs: 300 });
setTimeout(() => closing.close(), 50);
const closed = await failure(inFlight);
console.log(`close() with a call in flight: ${closed.codeName} ${closed.text}`);
assert.equal(closed.code, ErrorCode.EUNUSED);
const after = await failure(closing.client(EchoService).echo({ message: "x" }));
assert.equal(after.text, "[E22]Channel is closed");

// --- content types (names, or the ContentType numbers) --------------------------
for (const contentType of ["json", "proto-json", ContentType.PROTO_JSON] as const) {
  const ch = new Channel(server.address, { contentType });
  const out = await ch.client(EchoService).echo({ message: String(contentType) });
  console.log(`${contentType}: server saw ${out.message}`);
  ch.close();
}

channel.close();
await server.stop();
console.log("done");
