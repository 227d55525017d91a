/**
 * TLS on the server port (brpc `ssl_options`, detected next to the plain protocols) and
 * TLS channels, with real peers: curl, node:https, node:http2, @grpc/grpc-js with SSL
 * credentials, brpc-ts channels (baidu_std, streaming RPC, http, h2, h2:grpc) and raw
 * sockets for broken handshakes. Certificates: test/fixtures/tls (test-only keys).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect as h2connect } from "node:http2";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { connect as tlsConnect } from "node:tls";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EchoRequestSchema, EchoResponseSchema, EchoService } from "../examples/gen/peer_pb.js";
import { peerService } from "../examples/interop/peer-service.js";
import {
  Channel,
  type ChannelOptions,
  Controller,
  httpRequest,
  type LogLevel,
  RpcError,
  Server,
  type ServerContext,
  type ServerOptions,
  type ServerTlsOptions,
  Stream,
  setLogSink,
} from "../src/index.js";
import { grpc, ROOT } from "./helpers/grpc-services.js";
import { curl, curlHasHttp2, curlMissing } from "./helpers/http-tools.js";
import { RawClient } from "./helpers/net.js";
import { eventually, settle, startEchoServer } from "./helpers/servers.js";

const DIR = join(ROOT, "test/fixtures/tls");
const pem = (name: string) => readFileSync(join(DIR, name), "utf8");
const CA = pem("ca.crt");
const SERVER_TLS: ServerTlsOptions = { cert: pem("server.crt"), key: pem("server.key") };
const CLIENT_CERT = { cert: pem("client.crt"), key: pem("client.key") };
const UNTRUSTED_CERT = { cert: pem("other.crt"), key: pem("other.key") };

/** Resources that must not outlive the servers and clients of this file. */
const baseline = countResources();

function countResources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}

/** What the handlers saw. */
interface Seen {
  ctx: ServerContext | undefined;
}

/** A server with the peer EchoService recording the last context; `tls` defaults to the fixture cert. */
async function startTlsServer(options: ServerOptions = {}): Promise<{ server: Server; seen: Seen }> {
  const seen: Seen = { ctx: undefined };
  const server = new Server({ tls: SERVER_TLS, ...options });
  server.addService(EchoService, {
    ...peerService,
    echo(req, ctx) {
      seen.ctx = ctx;
      return peerService.echo!(req, ctx);
    },
  });
  await server.start("127.0.0.1:0");
  return { server, seen };
}

function channel(port: number, options: ChannelOptions = {}): Channel {
  return new Channel(`127.0.0.1:${port}`, { timeoutMs: 5000, connectTimeoutMs: 3000, ...options });
}

/** Log lines, captured for the whole file. */
const lines: { level: LogLevel; message: string }[] = [];
const linesMatching = (re: RegExp) => lines.filter((l) => re.test(l.message));

before(() => setLogSink((level, message) => lines.push({ level, message })));
after(() => setLogSink(undefined));

describe("TLS on the server port", () => {
  let server: Server;
  let seen: Seen;
  let port: number;
  before(async () => {
    ({ server, seen } = await startTlsServer());
    port = server.port;
  });
  after(async () => {
    await server.stop(0);
  });

  for (const protocol of ["baidu_std", "http", "h2", "h2:grpc"]) {
    it(`serves a Channel with protocol ${protocol} over TLS`, async () => {
      const ch = channel(port, {
        protocol,
        tls: { ca: CA },
        ...(protocol === "http" ? { connectionType: "pooled" as const } : {}),
      });
      try {
        const cntl = new Controller();
        const res = await ch.client(EchoService).echo({ message: `hi ${protocol}` }, { controller: cntl });
        assert.equal(res.message, `hi ${protocol}`);
        const tls = seen.ctx?.tls;
        assert.ok(tls !== undefined, "ctx.tls is set on TLS connections");
        assert.match(tls.protocol, /^TLSv1\.[23]$/);
        assert.ok(tls.cipher.length > 0);
        assert.equal(
          tls.alpnProtocol,
          protocol === "baidu_std" ? undefined : protocol.startsWith("h2") ? "h2" : "http/1.1",
        );
        assert.equal(tls.peerCertificate, undefined);
        // The connection's sides are the TCP ones.
        assert.equal(seen.ctx?.localSide, `127.0.0.1:${port}`);
        assert.match(seen.ctx?.remoteSide ?? "", /^127\.0\.0\.1:\d+$/);
        if (cntl.localSide !== "") assert.equal(seen.ctx?.remoteSide, cntl.localSide);
      } finally {
        ch.close();
      }
    });
  }

  it("runs streaming RPC over TLS (no ALPN: detection on the decrypted bytes)", async () => {
    const ch = channel(port, { tls: { ca: CA } });
    try {
      const stream = new Stream();
      await ch.client(EchoService).echo({ message: "s", openStream: true }, { stream });
      const sent = ["a", "b", "c"];
      for (const m of sent) assert.equal(stream.tryWrite(m), 0);
      const got: string[] = [];
      for await (const m of stream) {
        got.push(m.toString());
        if (got.length === sent.length) stream.close();
      }
      assert.deepEqual(
        got,
        sent.map((m) => `echo:${m}`),
      );
      assert.equal(seen.ctx?.tls?.alpnProtocol, undefined);
    } finally {
      ch.close();
    }
  });

  it("serves plain baidu_std and plain HTTP on the same port at the same time", async () => {
    const tlsCh = channel(port, { tls: { ca: CA } });
    const plainCh = channel(port);
    const plainHttp = channel(port, { protocol: "http" });
    const h2Tls = channel(port, { protocol: "h2:grpc", tls: { ca: CA } });
    try {
      const calls = [];
      for (let i = 0; i < 10; i++) {
        calls.push(tlsCh.client(EchoService).echo({ message: `t${i}` }));
        calls.push(plainCh.client(EchoService).echo({ message: `p${i}` }));
        calls.push(plainHttp.client(EchoService).echo({ message: `h${i}` }));
        calls.push(h2Tls.client(EchoService).echo({ message: `g${i}` }));
      }
      const res = await Promise.all(calls);
      assert.deepEqual(
        res.map((r) => r.message).sort(),
        calls.map((_, j) => `${"tphg"[j % 4]}${Math.floor(j / 4)}`).sort(),
      );
      await plainCh.client(EchoService).echo({ message: "plain" });
      assert.equal(seen.ctx?.tls, undefined, "ctx.tls is undefined on plain connections");
    } finally {
      for (const c of [tlsCh, plainCh, plainHttp, h2Tls]) c.close();
    }
  });

  it("answers curl -k over HTTP/1.1 and HTTP/2 (JSON)", async (t) => {
    if (curlMissing !== undefined) {
      t.skip(curlMissing);
      return;
    }
    const url = `https://127.0.0.1:${port}/EchoService/Echo`;
    const body = JSON.stringify({ message: "from curl" });
    const h1 = await curl(["-k", "--http1.1", "-H", "content-type: application/json", "-d", body, url]);
    assert.equal(h1.status, 200);
    assert.match(h1.statusLine, /^HTTP\/1\.1 200/);
    assert.deepEqual(JSON.parse(h1.body.toString()), { message: "from curl" });
    assert.equal(seen.ctx?.tls?.alpnProtocol, "http/1.1");
    if (!curlHasHttp2) {
      t.diagnostic("curl without HTTP/2: --http2 not tested");
      return;
    }
    const h2 = await curl([
      "--cacert",
      join(DIR, "ca.crt"),
      "--http2",
      "-H",
      "content-type: application/json",
      "-d",
      body,
      url,
    ]);
    assert.equal(h2.status, 200);
    assert.match(h2.statusLine, /^HTTP\/2 200/);
    assert.deepEqual(JSON.parse(h2.body.toString()), { message: "from curl" });
    assert.equal(seen.ctx?.tls?.alpnProtocol, "h2");
  });

  it("answers node:https (no ALPN) and node:http2", async () => {
    const body = JSON.stringify({ message: "https" });
    const got = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: "127.0.0.1",
          port,
          path: "/EchoService/Echo",
          method: "POST",
          ca: CA,
          agent: false,
          headers: { "content-type": "application/json" },
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on("data", (d: Buffer) => parts.push(d));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString() }),
          );
        },
      );
      req.on("error", reject);
      req.end(body);
    });
    assert.equal(got.status, 200);
    assert.deepEqual(JSON.parse(got.text), { message: "https" });
    assert.equal(seen.ctx?.tls?.alpnProtocol, undefined);

    const session = h2connect(`https://127.0.0.1:${port}`, { ca: CA });
    try {
      const out = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const s = session.request({
          ":method": "POST",
          ":path": "/EchoService/Echo",
          "content-type": "application/json",
        });
        let status = 0;
        const parts: Buffer[] = [];
        s.on("response", (h) => {
          status = Number(h[":status"]);
        });
        s.on("data", (d: Buffer) => parts.push(d));
        s.on("end", () => resolve({ status, text: Buffer.concat(parts).toString() }));
        s.on("error", reject);
        s.end(JSON.stringify({ message: "h2" }));
      });
      assert.equal(out.status, 200);
      assert.deepEqual(JSON.parse(out.text), { message: "h2" });
      assert.equal(seen.ctx?.tls?.alpnProtocol, "h2");
    } finally {
      session.close();
    }
  });

  it("detects the h2 preface on TLS without ALPN (as brpc does)", async () => {
    const session = h2connect(`https://127.0.0.1:${port}`, {
      createConnection: () => tlsConnect({ host: "127.0.0.1", port, ca: CA }),
    });
    try {
      const out = await new Promise<string>((resolve, reject) => {
        const s = session.request({
          ":method": "POST",
          ":path": "/EchoService/Echo",
          "content-type": "application/json",
        });
        const parts: Buffer[] = [];
        s.on("data", (d: Buffer) => parts.push(d));
        s.on("end", () => resolve(Buffer.concat(parts).toString()));
        s.on("error", reject);
        s.end(JSON.stringify({ message: "no alpn" }));
      });
      assert.deepEqual(JSON.parse(out), { message: "no alpn" });
      assert.equal(seen.ctx?.http?.httpVersion, "2.0");
      assert.equal(seen.ctx?.tls?.alpnProtocol, undefined);
    } finally {
      session.close();
    }
  });

  it("answers the plain HTTP client (httpRequest) on https:// URLs", async () => {
    const tls = { ca: CA };
    for (let i = 0; i < 2; i++) {
      const res = await httpRequest(`https://127.0.0.1:${port}/EchoService/Echo`, {
        body: JSON.stringify({ message: `r${i}` }),
        headers: { "content-type": "application/json" },
        tls,
        timeoutMs: 5000,
      });
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.body.toString()), { message: `r${i}` });
    }
    // Without the CA, the self-signed chain is refused.
    const bad = await settle(
      httpRequest(`https://127.0.0.1:${port}/EchoService/Echo`, { timeoutMs: 5000, maxRetry: 0 }),
    );
    assert.equal(bad.ok, false);
  });

  it("serves @grpc/grpc-js with SSL credentials (unary)", async () => {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(CA)), {
      "grpc.ssl_target_name_override": "localhost",
      "grpc.default_authority": "localhost",
    });
    try {
      const req = Buffer.from(toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: "grpc-js" })));
      const out = await new Promise<Buffer>((resolve, reject) => {
        client.makeUnaryRequest(
          "/example.EchoService/Echo",
          (b: Buffer) => b,
          (b: Buffer) => b,
          req,
          (err, v) => (err ? reject(err) : resolve(v as Buffer)),
        );
      });
      assert.equal(fromBinary(EchoResponseSchema, out).message, "grpc-js");
      assert.equal(seen.ctx?.tls?.alpnProtocol, "h2");
      assert.equal(seen.ctx?.tls?.serverName, "localhost");
    } finally {
      client.close();
    }
  });

  it("checks the server's name and chain on the client side", async () => {
    // Unknown CA: refused with ESSL.
    const noCa = channel(port, { tls: true, maxRetry: 0 });
    const r1 = await settle(noCa.client(EchoService).echo({ message: "x" }));
    noCa.close();
    assert.equal(r1.ok, false);
    assert.equal((r1 as { error: RpcError }).error.code, 1016, String((r1 as { error: unknown }).error));
    // Wrong SNI name: refused too.
    const wrongName = channel(port, { tls: { ca: CA, sniName: "example.com" }, maxRetry: 0 });
    const r2 = await settle(wrongName.client(EchoService).echo({ message: "x" }));
    wrongName.close();
    assert.equal(r2.ok, false);
    assert.match(String((r2 as { error: unknown }).error), /example\.com/);
    // brpc's default (no verification) with rejectUnauthorized: false.
    const insecure = channel(port, { tls: { rejectUnauthorized: false, sniName: "anything" } });
    assert.equal((await insecure.client(EchoService).echo({ message: "ok" })).message, "ok");
    assert.equal(seen.ctx?.tls?.serverName, "anything");
    insecure.close();
  });
});

describe("broken TLS peers", () => {
  let server: Server;
  let port: number;
  before(async () => {
    ({ server } = await startTlsServer({ tls: { ...SERVER_TLS, handshakeTimeoutMs: 300 } }));
    port = server.port;
  });
  after(async () => {
    await server.stop(0);
  });

  async function stillServes(): Promise<void> {
    const ch = channel(port, { tls: { ca: CA } });
    const plain = channel(port);
    try {
      assert.equal((await ch.client(EchoService).echo({ message: "alive" })).message, "alive");
      assert.equal((await plain.client(EchoService).echo({ message: "alive" })).message, "alive");
    } finally {
      ch.close();
      plain.close();
    }
  }

  it("closes a connection sending a garbage handshake, logged once", async () => {
    const before = linesMatching(/TLS handshake/).length;
    const other = await RawClient.connect(port);
    const c = await RawClient.connect(port);
    c.write(Buffer.from("16030100050102030405", "hex"));
    c.write(Buffer.alloc(64, 0x42));
    assert.ok(await c.waitClosed(3000), "the garbage connection is closed");
    assert.ok(await eventually(() => linesMatching(/TLS handshake failed/).length === before + 1));
    await sleep(50);
    assert.equal(linesMatching(/TLS handshake/).length, before + 1);
    assert.equal(other.closed, false, "other connections stay open");
    other.socket.destroy();
    await stillServes();
  });

  it("closes a stalled partial ClientHello after the handshake timeout", async () => {
    const before = linesMatching(/TLS handshake timed out/).length;
    const t0 = Date.now();
    const c = await RawClient.connect(port);
    c.write(Buffer.from("160301", "hex"));
    const other = await RawClient.connect(port);
    assert.ok(await c.waitClosed(5000), "the stalled connection is closed");
    const took = Date.now() - t0;
    assert.ok(took >= 250 && took < 4000, `closed after ${took}ms`);
    assert.equal(linesMatching(/TLS handshake timed out/).length, before + 1);
    assert.equal(other.closed, false);
    other.socket.destroy();
    await stillServes();
    assert.ok(
      await eventually(() => server.connections.size === 0),
      `${server.connections.size} connections`,
    );
  });

  it("closes a single 0x16 byte that never goes on", async () => {
    const c = await RawClient.connect(port);
    c.write(Buffer.from([0x16]));
    assert.ok(await c.waitClosed(5000));
  });

  it("refuses a client offering only unknown ALPN protocols, serving others", async () => {
    const err = await new Promise<Error | undefined>((resolve) => {
      const s = tlsConnect({ host: "127.0.0.1", port, ca: CA, ALPNProtocols: ["nope/1"] }, () => {
        s.destroy();
        resolve(undefined);
      });
      s.on("error", (e) => resolve(e));
    });
    assert.ok(err !== undefined, "handshake refused");
    await stillServes();
  });

  it("treats a TLS record as an unknown protocol on a server without tls", async () => {
    const plain = await startEchoServer();
    try {
      const before = linesMatching(/unknown message \(first bytes 1603/).length;
      await new Promise<void>((resolve) => {
        const s = tlsConnect({ host: "127.0.0.1", port: plain.port, rejectUnauthorized: false });
        s.on("error", () => resolve());
        s.on("close", () => resolve());
      });
      assert.ok(
        await eventually(() => linesMatching(/unknown message \(first bytes 1603/).length === before + 1),
      );
    } finally {
      await plain.stop(0);
    }
  });
});

describe("mutual TLS", () => {
  let server: Server;
  let seen: Seen;
  let port: number;
  before(async () => {
    ({ server, seen } = await startTlsServer({ tls: { ...SERVER_TLS, ca: CA, verifyClient: true } }));
    port = server.port;
  });
  after(async () => {
    await server.stop(0);
  });

  for (const protocol of ["baidu_std", "h2:grpc", "http"]) {
    it(`accepts a client certificate signed by the CA (${protocol})`, async () => {
      const ch = channel(port, {
        protocol,
        tls: { ca: CA, ...CLIENT_CERT },
        ...(protocol === "http" ? { connectionType: "pooled" as const } : {}),
      });
      try {
        assert.equal((await ch.client(EchoService).echo({ message: "mtls" })).message, "mtls");
        const tls = seen.ctx?.tls;
        assert.equal(tls?.authorized, true);
        assert.equal(tls?.peerCertificate?.subject.CN, "brpc-ts test client");
        assert.equal(tls?.authorizationError, undefined);
      } finally {
        ch.close();
      }
    });
  }

  it("refuses clients without a certificate or with an untrusted one", async () => {
    seen.ctx = undefined;
    for (const extra of [{}, UNTRUSTED_CERT]) {
      const before = linesMatching(/TLS handshake failed/).length;
      const ch = channel(port, { tls: { ca: CA, ...extra }, maxRetry: 0, timeoutMs: 3000 });
      const r = await settle(ch.client(EchoService).echo({ message: "nope" }));
      ch.close();
      assert.equal(r.ok, false, "the call fails");
      assert.ok((r as { error: unknown }).error instanceof RpcError);
      assert.ok(await eventually(() => linesMatching(/TLS handshake failed/).length === before + 1));
    }
    assert.equal(seen.ctx, undefined, "no request reached the handler");
    assert.match(linesMatching(/TLS handshake failed/).at(-1)?.message ?? "", /certificate/);
    // Plain connections are not affected by verifyClient (brpc serves both on the port).
    const plain = channel(port);
    assert.equal((await plain.client(EchoService).echo({ message: "plain" })).message, "plain");
    plain.close();
  });

  it("lets handlers decide with requestCert + rejectUnauthorized: false", async () => {
    const { server: s2, seen: seen2 } = await startTlsServer({
      tls: { ...SERVER_TLS, ca: CA, requestCert: true, rejectUnauthorized: false },
    });
    try {
      const ch = channel(s2.port, { tls: { ca: CA, ...UNTRUSTED_CERT } });
      assert.equal((await ch.client(EchoService).echo({ message: "x" })).message, "x");
      ch.close();
      assert.equal(seen2.ctx?.tls?.authorized, false);
      assert.equal(seen2.ctx?.tls?.authorizationError, "DEPTH_ZERO_SELF_SIGNED_CERT");
      assert.equal(seen2.ctx?.tls?.peerCertificate?.subject.CN, "untrusted client");
      const none = channel(s2.port, { tls: { ca: CA } });
      assert.equal((await none.client(EchoService).echo({ message: "y" })).message, "y");
      none.close();
      assert.equal(seen2.ctx?.tls?.peerCertificate, undefined);
    } finally {
      await s2.stop(0);
    }
  });
});

describe("server limits over TLS", () => {
  it("reaps idle TLS connections (idleTimeoutSec)", async () => {
    const { server } = await startTlsServer({ idleTimeoutSec: 1 });
    try {
      const ch = channel(server.port, { tls: { ca: CA } });
      await ch.client(EchoService).echo({ message: "x" });
      assert.equal(server.connections.size, 1);
      assert.ok(await eventually(() => server.connections.size === 0, 4000), "idle connection reaped");
      // The channel reconnects.
      assert.equal((await ch.client(EchoService).echo({ message: "again" })).message, "again");
      ch.close();
    } finally {
      await server.stop(0);
    }
  });

  it("closes a TLS connection sending a frame above maxBodySize", async () => {
    const { server } = await startTlsServer({ maxBodySize: 1024 });
    try {
      const ch = channel(server.port, { tls: { ca: CA }, maxRetry: 0 });
      const before = linesMatching(/larger than max_body_size=1024/).length;
      const r = await settle(ch.client(EchoService).echo({ message: "x".repeat(4096) }));
      assert.equal(r.ok, false);
      assert.equal(linesMatching(/larger than max_body_size=1024/).length, before + 1);
      assert.equal((await ch.client(EchoService).echo({ message: "small" })).message, "small");
      ch.close();
    } finally {
      await server.stop(0);
    }
  });

  it("fails a TLS connection whose peer stopped reading (write watchdog)", async () => {
    const { server } = await startTlsServer({ writeStallTimeoutMs: 300 });
    const ch = channel(server.port, { tls: { ca: CA }, maxRetry: 0, timeoutMs: 10_000 });
    try {
      await ch.client(EchoService).echo({ message: "warm up" });
      const conn = ch.source.ready();
      assert.ok(conn !== undefined);
      // The client stops reading: the echoed attachment cannot leave the server.
      conn.socket.pause();
      const before = linesMatching(/No write progress for 300ms/).length;
      const call = settle(
        ch.client(EchoService).echo({ message: "big" }, { attachment: Buffer.alloc(48 << 20) }),
      );
      assert.ok(
        await eventually(() => linesMatching(/No write progress for 300ms/).length === before + 1, 8000),
        "the server's watchdog failed the stalled TLS connection",
      );
      assert.ok(await eventually(() => server.connections.size === 0));
      conn.socket.resume();
      assert.equal((await call).ok, false);
    } finally {
      ch.close();
      await server.stop(0);
    }
  });

  it("rejects a tls option without a certificate at start()", async () => {
    const s = new Server({ tls: {} });
    await assert.rejects(s.start("127.0.0.1:0"), /certificate/);
    const bad = new Server({ tls: { cert: "not a cert", key: "not a key" } });
    await assert.rejects(bad.start("127.0.0.1:0"));
  });

  it("stop() closes connections in handshake without warnings", async () => {
    const { server } = await startTlsServer();
    const c = await RawClient.connect(server.port);
    c.write(Buffer.from("160301", "hex"));
    assert.ok(await eventually(() => server.connections.size === 1));
    const warnings = lines.filter((l) => l.level !== "debug").length;
    await server.stop(0);
    assert.ok(await c.waitClosed(3000));
    await sleep(50);
    assert.equal(lines.filter((l) => l.level !== "debug").length, warnings);
  });

  it("stop() closes TLS connections of every kind", async () => {
    const { server } = await startTlsServer();
    const chs = ["baidu_std", "h2:grpc", "http"].map((protocol) =>
      channel(server.port, {
        protocol,
        tls: { ca: CA },
        ...(protocol === "http" ? { connectionType: "pooled" as const } : {}),
      }),
    );
    await Promise.all(chs.map((c) => c.client(EchoService).echo({ message: "x" })));
    assert.equal(server.connections.size, 3);
    await server.stop(0);
    assert.equal(server.connections.size, 0);
    for (const c of chs) c.close();
  });
});

describe("no leaks", () => {
  it("leaves no sockets, TLS wraps or timers behind", async () => {
    const extra = () => {
      const now = countResources();
      const out: string[] = [];
      for (const [k, n] of Object.entries(now)) {
        if (/TCP|TLS|Pipe|Timeout|Http2/i.test(k) && n > (baseline[k] ?? 0)) out.push(`${k}: ${n}`);
      }
      return out;
    };
    const ok = await eventually(() => extra().length === 0, 5000);
    assert.ok(ok, `left behind: ${extra().join(", ")}`);
  });
});
