/**
 * docs/server.md and docs/client.md, "Authentication": a credential on the first request
 * of every connection, verified once per connection by the server (brpc `Authenticator`).
 *
 *   npx tsc -p . && node dist/examples/docs/auth.js
 */
import assert from "node:assert/strict";
import {
  type AuthContext,
  type Authenticator,
  Channel,
  ErrorCode,
  RpcError,
  Server,
} from "../../src/index.js";
import { EchoService } from "../gen/peer_pb.js";

const tokens = new Map([["token-alice", "alice"]]);
let verifications = 0;

// Server side: verifyCredential (sync or async) and, optionally, the text of rejections.
const serverAuth: Authenticator = {
  async verifyCredential(credential: Buffer, remoteSide: string): Promise<boolean | AuthContext> {
    verifications++;
    const user = tokens.get(credential.toString("utf8"));
    console.log(`  server: verifying "${credential}" from ${remoteSide}: ${user ?? "rejected"}`);
    return user === undefined ? false : { user, roles: "reader" };
  },
  unauthorizedErrorText: () => "unknown token",
};

const server = new Server({ auth: serverAuth });
server.addService(EchoService, {
  echo(req, ctx) {
    // What the authenticator returned for this connection.
    return { message: `${req.message}, ${ctx.authContext?.user} (${ctx.authContext?.roles})` };
  },
});
await server.start("127.0.0.1:0");

// Client side: generateCredential runs once per new connection.
const good = new Channel(server.address, { auth: { generateCredential: () => "token-alice" } });
const echo = good.client(EchoService);
console.log("good credential:");
const replies = await Promise.all([echo.echo({ message: "a" }), echo.echo({ message: "b" })]);
for (const r of replies) console.log(`  client: ${r.message}`);
console.log(`  calls: 2, verifications: ${verifications} (one per connection)`);
assert.equal(verifications, 1);

console.log("bad credential:");
const bad = new Channel(server.address, { auth: { generateCredential: () => "token-mallory" }, maxRetry: 0 });
try {
  await bad.client(EchoService).echo({ message: "x" });
  assert.fail("should be rejected");
} catch (err) {
  assert.ok(err instanceof RpcError && err.code === ErrorCode.ERPCAUTH);
  console.log(`  client: ${err.codeName} ${err.text}`); // then the server closes the connection
}

console.log("first request not sent:");
// The first request of a new connection fails to serialize (a required field is unset):
// the credential was not sent, so the next request on that connection carries it.
const retry = new Channel(server.address, { auth: { generateCredential: () => "token-alice" }, maxRetry: 0 });
const unsent = await retry
  .client(EchoService)
  .echo({} as { message: string })
  .catch((err: unknown) => RpcError.from(err));
assert.ok(unsent instanceof RpcError && unsent.code === ErrorCode.EREQUEST);
console.log(`  1st call: ${unsent.text}`);
console.log(`  2nd call: ${(await retry.client(EchoService).echo({ message: "c" })).message}`);
retry.close();

console.log("no credential:");
const anonymous = new Channel(server.address, { maxRetry: 0 });
try {
  await anonymous.client(EchoService).echo({ message: "x" });
  assert.fail("should be rejected");
} catch (err) {
  console.log(`  client: ${RpcError.from(err).text}`);
}

good.close();
bad.close();
anonymous.close();
await server.stop();
console.log("done");
