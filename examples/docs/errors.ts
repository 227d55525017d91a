/**
 * docs/errors.md: error codes, RpcError, and the error texts on both sides.
 *
 *   npx tsc -p . && node dist/examples/docs/errors.js
 */
import assert from "node:assert/strict";
import {
  Channel,
  describeError,
  ErrorCode,
  errorName,
  RETRYABLE_BY_DEFAULT,
  RpcError,
  Server,
} from "../../src/index.js";
import { EchoService } from "../gen/peer_pb.js";

// The table.
console.log(`ERPCTIMEDOUT = ${ErrorCode.ERPCTIMEDOUT}, name ${errorName(1008)}: ${describeError(1008)}`);
console.log(`user code 12345: name ${errorName(12345)}, ${describeError(12345)}`);
console.log(`retried by default: ${[...RETRYABLE_BY_DEFAULT].map(errorName).join(" ")}`);

// RpcError: code, codeName, text (= message).
const e = new RpcError(ErrorCode.ELIMIT);
console.log(`new RpcError(ELIMIT): code=${e.code} codeName=${e.codeName} text="${e.text}" name=${e.name}`);
const wrapped = RpcError.from(new TypeError("oops"));
console.log(`RpcError.from(TypeError): ${wrapped.codeName} "${wrapped.text}"`);

async function textOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    assert.ok(err instanceof RpcError);
    return `${err.codeName} ${err.text}`;
  }
}

// Server-side texts: "[ip:port][E<code>]text", repeated setFailed calls are joined;
// the client prefixes "[E<code>]" (and "[R<n>]" for retries).
for (const hideAddressInErrors of [false, true]) {
  const server = new Server({ hideAddressInErrors });
  server.addService(EchoService, {
    echo(_req, ctx) {
      ctx.setFailed(ErrorCode.EINTERNAL, "first problem");
      ctx.setFailed(ErrorCode.ERESPONSE, "second problem"); // the last code wins
      return {};
    },
  });
  await server.start("127.0.0.1:0");
  const ch = new Channel(server.address, { maxRetry: 0 });
  console.log(
    `hideAddressInErrors=${hideAddressInErrors}: ${await textOf(ch.client(EchoService).echo({ message: "x" }))}`,
  );
  ch.close();
  await server.stop();
}

// Client-side failures: connect errors are mapped from Node's socket errors.
const missing = new Channel("unix:/nonexistent/brpc-ts.sock", { maxRetry: 0 });
console.log(`unix socket missing: ${await textOf(missing.client(EchoService).echo({ message: "x" }))}`);
const badOptions = await textOf(missing.client(EchoService).echo({ message: "x" }, { compressType: "lzma" }));
console.log(`bad call options: ${badOptions}`);
assert.match(badOptions, /^EINVAL \[E22\]Invalid call options: unknown compressor "lzma"/);
missing.close();
const closed = new Channel("127.0.0.1:1", { maxRetry: 0 });
closed.close();
console.log(`closed channel: ${await textOf(closed.client(EchoService).echo({ message: "x" }))}`);
console.log("done");
