/**
 * docs/tls.md: TLS on the same port as the plain protocols (brpc `ssl_options`), ALPN,
 * `ctx.tls`, TLS channels for baidu_std / h2:grpc / http, https:// in httpRequest, and
 * mutual TLS. Uses the test-only certificates of test/fixtures/tls.
 *
 *   npx tsc -p . && node dist/examples/docs/tls.js
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Channel, httpRequest, RpcError, Server, setLogLevel } from "../../src/index.js";
import { EchoService } from "../gen/peer_pb.js";

/** test/fixtures/tls, from examples/docs or dist/examples/docs. */
const certDir = (() => {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, "test", "fixtures", "tls"))) d = dirname(d);
  return join(d, "test", "fixtures", "tls");
})();
const pem = (name: string) => readFileSync(join(certDir, name), "utf8");
const ca = pem("ca.crt");

// Handshake failures are logged as warnings; the refused client below makes one on purpose.
setLogLevel("error");

// One port, plain and TLS: the server looks at the first bytes of every connection.
const server = new Server({ tls: { cert: pem("server.crt"), key: pem("server.key") } });
server.addService(EchoService, {
  echo(req, ctx) {
    const tls = ctx.tls;
    const how = tls === undefined ? "plain" : `${tls.protocol}, ALPN ${tls.alpnProtocol ?? "none"}`;
    return { message: `${req.message} via ${ctx.protocol} (${how})` };
  },
});
await server.start("127.0.0.1:0");
console.log(`server on ${server.address}: plain and TLS`);

for (const protocol of ["baidu_std", "h2:grpc", "http"]) {
  const ch = new Channel(server.address, {
    protocol,
    tls: { ca }, // trust the test CA; the certificate is for 127.0.0.1 and localhost
    ...(protocol === "http" ? { connectionType: "pooled" as const } : {}),
  });
  const res = await ch.client(EchoService).echo({ message: "hi" });
  console.log(`  ${protocol.padEnd(9)} over TLS: ${res.message}`);
  assert.match(res.message, /TLSv1\.[23]/);
  ch.close();
}

const plain = new Channel(server.address);
const p = await plain.client(EchoService).echo({ message: "hi" });
console.log(`  baidu_std plain:    ${p.message}`);
assert.match(p.message, /\(plain\)$/);
plain.close();

// https:// in the plain HTTP client (the same JSON curl would send).
const r = await httpRequest(`https://127.0.0.1:${server.port}/EchoService/Echo`, {
  body: JSON.stringify({ message: "curl-like" }),
  headers: { "content-type": "application/json" },
  tls: { ca },
});
console.log(`  httpRequest https:// -> ${r.status} ${r.body.toString()}`);
assert.equal(r.status, 200);
await server.stop();

// Mutual TLS: clients must present a certificate signed by `ca`.
const mtls = new Server({
  tls: { cert: pem("server.crt"), key: pem("server.key"), ca, verifyClient: true },
});
mtls.addService(EchoService, {
  echo(req, ctx) {
    return { message: `${req.message}, ${ctx.tls?.peerCertificate?.subject.CN}` };
  },
});
await mtls.start("127.0.0.1:0");
console.log(`mutual TLS server on ${mtls.address}`);
const withCert = new Channel(mtls.address, {
  tls: { ca, cert: pem("client.crt"), key: pem("client.key") },
});
const m = await withCert.client(EchoService).echo({ message: "hello" });
console.log(`  with a client certificate: ${m.message}`);
assert.equal(m.message, "hello, brpc-ts test client");
withCert.close();

const noCert = new Channel(mtls.address, { tls: { ca }, maxRetry: 0 });
try {
  await noCert.client(EchoService).echo({ message: "hello" });
  assert.fail("a client without a certificate must be refused");
} catch (err) {
  assert.ok(err instanceof RpcError);
  console.log(`  without one: refused (${err.codeName})`);
}
noCert.close();
await mtls.stop();
console.log("done");
