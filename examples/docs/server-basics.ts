/**
 * docs/server.md: a typed service and a raw service, every way of failing a call, the
 * ServerContext, a unix socket, port 0 and a graceful stop.
 *
 *   npx tsc -p . && node dist/examples/docs/server-basics.js
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { create, toBinary } from "@bufbuild/protobuf";
// In an application: import { ... } from "brpc-ts";
import {
  Channel,
  Controller,
  ErrorCode,
  RpcError,
  Server,
  type ServerContext,
  type ServiceImpl,
} from "../../src/index.js";
import { EchoRequestSchema, EchoService } from "../gen/peer_pb.js";

// Handlers are keyed by the method's local name ("echo") or proto name ("Echo").
// `Missing` has no handler: calling it fails with EINTERNAL, like brpc's generated base class.
const impl: ServiceImpl<typeof EchoService> = {
  async echo(req, ctx: ServerContext) {
    switch (req.message) {
      case "set-failed":
        ctx.setFailed(ErrorCode.EINTERNAL, "failed with setFailed");
        return {}; // ignored: a failed call sends the error only
      case "throw-rpc":
        throw new RpcError(ErrorCode.EPERM, "not allowed");
      case "throw":
        throw new Error("a bug in the handler"); // -> EINTERNAL, logged by brpc-ts
      case "slow":
        await sleep(req.sleepMs);
        break;
      case "context":
        // Everything the request carried, and what the response will carry.
        ctx.responseAttachment = ctx.requestAttachment;
        ctx.responseUserFields = { seen: `${ctx.fullMethodName} log_id=${ctx.logId}` };
        ctx.responseCompressType = ctx.requestCompressType;
        return {
          message: [
            ctx.protocol,
            ctx.serviceName,
            ctx.methodName,
            ctx.requestId,
            ctx.requestUserFields?.tenant,
            ctx.remoteSide === "" ? "no peer" : "peer known",
          ].join(" "),
        };
    }
    return { message: req.message };
  },
};

const server = new Server({ stopGraceMs: 2000 });
server.addService(EchoService, impl);
// Raw service: bytes in, bytes (or a string) out; registered by full service name.
server.addRawService("demo.BytesService", {
  Reverse: (req: Buffer) => Buffer.from(req).reverse(),
  Hello: (_req, ctx) => `hello from ${ctx.fullMethodName}`,
});
await server.start("127.0.0.1:0"); // port 0: the OS picks a free port
console.log(`listening on ${server.address} (port ${server.port})`);

const channel = new Channel(server.address, { maxRetry: 0 });
const echo = channel.client(EchoService);

async function expectError(p: Promise<unknown>, code: number): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RpcError);
    assert.equal(err.code, code, err.text);
    console.log(`  ${err.codeName}: ${err.text}`);
    return err;
  }
  throw new Error("the call should have failed");
}

console.log("the context:");
const cntl = new Controller();
const res = await echo.echo(
  { message: "context" },
  {
    controller: cntl,
    logId: 42n,
    requestId: "req-7",
    attachment: "raw bytes",
    userFields: { tenant: "acme" },
    compressType: "gzip",
  },
);
console.log(`  message="${res.message}" attachment="${cntl.responseAttachment}"`);
console.log(`  response user_fields=${JSON.stringify(cntl.responseUserFields)}`);
assert.equal(res.message, "baidu_std example.EchoService Echo req-7 acme peer known");
assert.equal(cntl.responseCompressType, 2);

console.log("failing a call:");
const a = server.address;
assert.equal(
  (await expectError(echo.echo({ message: "set-failed" }), ErrorCode.EINTERNAL)).text,
  `[E2001][${a}][E2001]failed with setFailed`,
);
await expectError(echo.echo({ message: "throw-rpc" }), ErrorCode.EPERM);
await expectError(echo.echo({ message: "throw" }), ErrorCode.EINTERNAL);
await expectError(echo.missing({ message: "x" }), ErrorCode.EINTERNAL);

console.log("routing and parsing errors (brpc 1.17's texts):");
const body = toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: "x" }));
const noService = await expectError(channel.callRaw("NoSuchService", "Echo", body), ErrorCode.ENOSERVICE);
assert.equal(noService.text, `[E1001][${a}][E1001]Fail to find service=NoSuchService`);
await expectError(channel.callRaw("example.EchoService", "NoSuchMethod", body), ErrorCode.ENOMETHOD);
const badBody = await expectError(
  channel.callRaw("example.EchoService", "Echo", Buffer.from([0x0a, 0x7f])),
  ErrorCode.EREQUEST,
);
assert.equal(
  badBody.text,
  `[E1003][${a}][E1003]Fail to parse request=example.EchoRequest, ContentType=pb, CompressType=none, ChecksumType=none, request_size=2`,
);

console.log("raw service:");
const reversed = await channel.callRaw("demo.BytesService", "Reverse", Buffer.from("abc"));
const hello = await channel.callRaw("BytesService", "Hello", new Uint8Array()); // short name works too
console.log(`  Reverse("abc") = "${reversed}", Hello = "${hello}"`);
assert.equal(reversed.toString(), "cba");

console.log("graceful stop:");
const inflight = echo.echo({ message: "slow", sleepMs: 300 });
await sleep(50);
const stopped = server.stop(); // waits up to stopGraceMs for in-flight calls
await sleep(20);
await expectError(echo.echo({ message: "late" }), ErrorCode.ELOGOFF);
console.log(`  in-flight call finished: "${(await inflight).message}"`);
await stopped;
assert.equal(server.running, false);
channel.close();

console.log("unix socket:");
const dir = mkdtempSync(join(tmpdir(), "brpc-ts-doc-"));
await server.start(`unix:${join(dir, "echo.sock")}`); // a stopped server can start again
const uds = new Channel(server.address, { maxRetry: 0 });
console.log(
  `  ${server.address} -> "${(await uds.client(EchoService).echo({ message: "over uds" })).message}"`,
);
uds.close();
await server.stop(); // also removes the socket file
rmSync(dir, { recursive: true, force: true });
console.log("done");
