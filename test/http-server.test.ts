/**
 * The HTTP/1.1 and h2 server on the baidu_std port, with real peers: curl, node's
 * fetch / http / http2 clients, raw sockets for bad input, and a brpc-ts Channel on the
 * same port.
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { constants as h2c, connect as h2connect } from "node:http2";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { gunzipSync, gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EchoRequestSchema, EchoResponseSchema, EchoService } from "../examples/gen/peer_pb.js";
import { peerService } from "../examples/interop/peer-service.js";
import {
  type Authenticator,
  Channel,
  ErrorCode,
  RpcError,
  Server,
  type ServerContext,
} from "../src/index.js";
import { HttpService, KitchenService } from "./helpers/http-services.js";
import {
  curl,
  curlHasHttp2,
  curlMissing,
  H2,
  h2Frame,
  h2Frames,
  parseResponses,
} from "./helpers/http-tools.js";
import { RawClient } from "./helpers/net.js";
import { eventually, startEchoServer } from "./helpers/servers.js";

/** What the test http service saw, echoed back as JSON. */
interface Seen {
  method: string;
  path: string;
  query: Record<string, string>;
  unresolved: string;
  body: string;
  logId?: string;
  requestId?: string;
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  protocol: string;
  contentType?: string;
}

const httpImpl = {
  raw(_req: unknown, ctx: ServerContext) {
    const h = ctx.http!;
    const seen: Seen = {
      method: h.method,
      path: h.path,
      query: Object.fromEntries(h.query),
      unresolved: ctx.unresolvedPath,
      body: ctx.requestAttachment.toString("utf8"),
      logId: ctx.logId?.toString(),
      requestId: ctx.requestId,
      traceId: ctx.traceId?.toString(),
      spanId: ctx.spanId?.toString(),
      parentSpanId: ctx.parentSpanId?.toString(),
      protocol: ctx.protocol,
      contentType: h.header("content-type"),
    };
    h.setHeader("X-Test", "yes");
    h.setHeader("Content-Type", "application/json");
    const status = h.query.get("status");
    if (status !== null) h.status = Number(status);
    if (h.query.get("fail") !== null) ctx.setFailed(ErrorCode.EPERM, "not for you");
    if (h.query.get("big") !== null) {
      ctx.responseAttachment = "x".repeat(Number(h.query.get("big")));
      ctx.responseCompressType = 2;
      return {};
    }
    ctx.responseAttachment = JSON.stringify(seen);
    return {};
  },
  stream(_req: unknown, ctx: ServerContext) {
    const w = ctx.http!.progressive();
    void w.write("first;");
    setTimeout(async () => {
      await w.write("second;");
      await sleep(20);
      await w.end("last");
    }, 20);
    return {};
  },
  events(_req: unknown, ctx: ServerContext) {
    const sse = ctx.http!.sse();
    (async () => {
      for (let i = 0; i < 3; i++) {
        await sse.send({ event: "tick", id: String(i), data: `n=${i}` });
        await sleep(10);
      }
      await sse.send("multi\nline");
      await sse.end();
    })().catch(() => {});
    return {};
  },
  default_method(_req: unknown, ctx: ServerContext) {
    ctx.responseAttachment = `default:${ctx.unresolvedPath}`;
    return {};
  },
};

async function startFullServer(opts: ConstructorParameters<typeof Server>[0] = {}): Promise<Server> {
  const server = new Server(opts);
  server.addService(EchoService, peerService);
  server.addService(HttpService, httpImpl as never);
  server.addService(KitchenService, { echo: (req: unknown) => req } as never);
  await server.start("127.0.0.1:0");
  return server;
}

/** A JSON echo over fetch: proof the server still serves. */
async function echoes(port: number, message = "still here"): Promise<void> {
  const r = await fetch(`http://127.0.0.1:${port}/EchoService/Echo`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message }),
  });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { message });
}

/** One h2 request with node's http2 client (prior knowledge). */
async function h2request(
  port: number,
  headers: Record<string, string>,
  body?: Buffer | string,
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  const session = h2connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ":method": "POST", ...headers });
      req.on("error", reject);
      let resHeaders: Record<string, unknown> = {};
      req.on("response", (h) => {
        resHeaders = h;
      });
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () =>
        resolve({ status: Number(resHeaders[":status"]), headers: resHeaders, body: Buffer.concat(chunks) }),
      );
      req.end(body);
    });
  } finally {
    session.close();
  }
}

describe("HTTP/1.1 with curl", { skip: curlMissing }, () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = await startFullServer();
    base = `http://127.0.0.1:${server.port}`;
  });
  after(() => server.stop(0));

  it("JSON echo by short and full service name", async () => {
    for (const path of ["/EchoService/Echo", "/example.EchoService/Echo"]) {
      const r = await curl([
        "-H",
        "Content-Type: application/json",
        "-d",
        '{"message":"hi from curl"}',
        base + path,
      ]);
      assert.equal(r.status, 200);
      assert.equal(r.headers["content-type"], "application/json");
      assert.equal(r.body.toString(), '{"message":"hi from curl"}');
    }
  });

  it("a form content type (curl -d's default) is parsed as JSON and answered as application/json", async () => {
    const r = await curl(["-d", '{"message":"form","unknown_field":[1,2]}', `${base}/EchoService/Echo`]);
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "application/json");
    assert.equal(r.body.toString(), '{"message":"form"}');
  });

  it("errors: handler failure 500, missing method 404, bad JSON 400, empty body with required fields 400", async () => {
    const fail = await curl(["-d", '{"message":"m","fail_code":2001}', `${base}/EchoService/Echo`]);
    assert.equal(fail.status, 500);
    assert.equal(fail.headers["x-bd-error-code"], "2001");
    assert.equal(fail.headers["content-type"], "text/plain");
    assert.match(fail.body.toString(), /^\[127\.0\.0\.1:\d+\]\[E2001\]failed on purpose: m$/);

    const limit = await curl(["-d", '{"message":"m","fail_code":2004}', `${base}/EchoService/Echo`]);
    assert.equal(limit.status, 503);

    const missing = await curl(["-d", '{"message":"m"}', `${base}/EchoService/Missing`]);
    assert.equal(missing.status, 404);
    assert.equal(missing.headers["x-bd-error-code"], "1002");

    const nope = await curl(["-d", "{}", `${base}/EchoService/Nope`]);
    assert.equal(nope.status, 404);
    assert.equal(nope.headers["x-bd-error-code"], "1002");
    assert.match(nope.body.toString(), /\[E1002\]Fail to find method on `\/EchoService\/Nope'$/);

    const unknownSvc = await curl([`${base}/NoSuchService/Echo`]);
    assert.equal(unknownSvc.status, 404);
    assert.match(unknownSvc.body.toString(), /Fail to find method on `\/NoSuchService\/Echo'$/);

    const bad = await curl([
      "-H",
      "Content-Type: application/json",
      "-d",
      '{"message":',
      `${base}/EchoService/Echo`,
    ]);
    assert.equal(bad.status, 400);
    assert.equal(bad.headers["x-bd-error-code"], "1003");
    assert.match(
      bad.body.toString(),
      /\[E1003\]Fail to parse http json body as example\.EchoRequest: Invalid json: /,
    );

    const empty = await curl([`${base}/EchoService/Echo`]);
    assert.equal(empty.status, 400);
    assert.match(
      empty.body.toString(),
      /\[E1003\]example\.EchoRequest needs to be created from a non-empty json, it has required fields\.$/,
    );

    const noMethod = await curl([`${base}/EchoService`]);
    assert.equal(noMethod.status, 404);
    assert.match(
      noMethod.body.toString(),
      /Missing method name for service=EchoService\. Available methods are:/,
    );
    assert.match(noMethod.body.toString(), /rpc Echo \(EchoRequest\) returns \(EchoResponse\);/);
  });

  it("json2pb: wrong type for a required field fails, for an optional one is ignored", async () => {
    const req = await curl(["-d", '{"message":5}', `${base}/EchoService/Echo`]);
    assert.equal(req.status, 400);
    assert.match(
      req.body.toString(),
      /Invalid value `5' for field `example\.EchoRequest\.message' which SHOULD be string/,
    );
    const opt = await curl(["-d", '{"message":"ok","sleep_ms":"soon"}', `${base}/EchoService/Echo`]);
    assert.equal(opt.status, 200);
    assert.equal(opt.body.toString(), '{"message":"ok"}');
  });

  it("http services: raw body in, raw body, status and headers out; query, log-id, x-request-id, tracing", async () => {
    const r = await curl([
      "-X",
      "PUT",
      "-H",
      "log-id: 12345678901234567890",
      "-H",
      "x-request-id: req-1",
      "-H",
      "x-bd-trace-id: 11",
      "-H",
      "x-bd-span-id: 22",
      "-H",
      "x-bd-parent-span-id: 33",
      "-H",
      "Content-Type: text/plain",
      "--data-binary",
      "raw body\n",
      `${base}/HttpService/Raw/a/b?x=1&y=two`,
    ]);
    assert.equal(r.status, 200);
    assert.equal(r.headers["x-test"], "yes");
    assert.equal(r.headers["content-type"], "application/json");
    const seen = JSON.parse(r.body.toString()) as Seen;
    assert.deepEqual(seen, {
      method: "PUT",
      path: "/HttpService/Raw/a/b",
      query: { x: "1", y: "two" },
      unresolved: "a/b",
      body: "raw body\n",
      logId: "12345678901234567890",
      requestId: "req-1",
      traceId: "11",
      spanId: "22",
      parentSpanId: "33",
      protocol: "http",
      contentType: "text/plain",
    });
    const teapot = await curl([`${base}/HttpService/Raw?status=418`]);
    assert.equal(teapot.status, 418);
    const denied = await curl([`${base}/HttpService/Raw?fail=1`]);
    assert.equal(denied.status, 403);
    assert.equal(denied.headers["x-bd-error-code"], String(ErrorCode.EPERM));
    assert.match(denied.body.toString(), /\[E1\]not for you$/);
    const dflt = await curl([`${base}/HttpService/whatever/else`]);
    assert.equal(dflt.body.toString(), "default:whatever/else");
  });

  it("progressive (chunked) response", async () => {
    const r = await curl(["-N", `${base}/HttpService/Stream`]);
    assert.equal(r.status, 200);
    assert.equal(r.headers["transfer-encoding"], "chunked");
    assert.equal(r.body.toString(), "first;second;last");
  });

  it("server-sent events", async () => {
    const r = await curl(["-N", "-H", "Accept: text/event-stream", `${base}/HttpService/Events`]);
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "text/event-stream");
    assert.equal(r.headers["cache-control"], "no-cache");
    assert.equal(
      r.body.toString(),
      "event: tick\nid: 0\ndata: n=0\n\nevent: tick\nid: 1\ndata: n=1\n\nevent: tick\nid: 2\ndata: n=2\n\ndata: multi\ndata: line\n\n",
    );
  });

  it("gzip: compressed request body, compressed response when accepted and >= 512 bytes", async () => {
    const message = "z".repeat(2000);
    const gz = gzipSync(JSON.stringify({ message }));
    const r = await curl(
      [
        "-H",
        "Content-Type: application/json",
        "-H",
        "Content-Encoding: gzip",
        "-H",
        "Accept-Encoding: gzip",
        "--data-binary",
        "@-",
        `${base}/EchoService/Echo`,
      ],
      gz,
    );
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-encoding"], "gzip");
    assert.deepEqual(JSON.parse(gunzipSync(r.body).toString()), { message });
    // --compressed: curl asks for gzip and inflates.
    const big = await curl(["--compressed", `${base}/HttpService/Raw?big=4096`]);
    assert.equal(big.headers["content-encoding"], "gzip");
    assert.equal(big.body.toString(), "x".repeat(4096));
    const small = await curl(["--compressed", `${base}/HttpService/Raw?big=100`]);
    assert.equal(small.headers["content-encoding"], undefined);
    const notAccepted = await curl([`${base}/HttpService/Raw?big=4096`]);
    assert.equal(notAccepted.headers["content-encoding"], undefined);
    const corrupt = await curl(
      ["-H", "Content-Encoding: gzip", "--data-binary", "@-", `${base}/EchoService/Echo`],
      Buffer.from("not gzip at all"),
    );
    assert.equal(corrupt.status, 400);
    assert.match(corrupt.body.toString(), /Fail to un-gzip request body$/);
  });

  it("builtin /health", async () => {
    const r = await curl([`${base}/health`]);
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "text/plain");
    assert.equal(r.body.toString(), "OK");
  });

  it("h2 with prior knowledge", { skip: curlHasHttp2 ? false : "curl without HTTP/2" }, async () => {
    const r = await curl([
      "--http2-prior-knowledge",
      "-d",
      '{"message":"over h2"}',
      `${base}/EchoService/Echo`,
    ]);
    assert.equal(r.status, 200);
    assert.match(r.statusLine, /^HTTP\/2 200/);
    assert.equal(r.body.toString(), '{"message":"over h2"}');
    const err = await curl(["--http2-prior-knowledge", "-d", "{}", `${base}/EchoService/Nope`]);
    assert.equal(err.status, 404);
    assert.equal(err.headers["x-bd-error-code"], "1002");
    const sse = await curl(["--http2-prior-knowledge", "-N", `${base}/HttpService/Events`]);
    assert.match(sse.body.toString(), /^event: tick\nid: 0\ndata: n=0\n\n/);
  });
});

describe("restful mappings", { skip: curlMissing }, () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = new Server();
    server.addService(EchoService, peerService, {
      restful: "/v1/echo/* => Echo, /v1/missing => Missing",
    });
    server.addService(HttpService, httpImpl as never, {
      restful: "/files/*.txt => Raw, *.dat => Raw, /v2/*/tail => Raw",
      allowDefaultUrl: true,
    });
    await server.start("127.0.0.1:0");
    base = `http://127.0.0.1:${server.port}`;
  });
  after(() => server.stop(0));

  it("maps paths to methods and keeps what the wildcard matched", async () => {
    const r = await curl(["-d", '{"message":"rest"}', `${base}/v1/echo/anything/here`]);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), '{"message":"rest"}');
    const m = await curl(["-d", '{"message":"rest"}', `${base}/v1/missing`]);
    assert.equal(m.status, 404);
    assert.match(m.body.toString(), /not implemented$/);
    const f = JSON.parse((await curl([`${base}/files/a/b.txt`])).body.toString()) as Seen;
    assert.equal(f.unresolved, "a/b");
    const g = JSON.parse((await curl([`${base}/deep/x.dat`])).body.toString()) as Seen;
    assert.equal(g.unresolved, "deep/x");
    const t = JSON.parse((await curl([`${base}/v2/mid/dle/tail`])).body.toString()) as Seen;
    assert.equal(t.unresolved, "mid/dle");
  });

  it("mapped methods are not reachable at /Service/Method unless allowDefaultUrl", async () => {
    const r = await curl(["-d", '{"message":"x"}', `${base}/EchoService/Echo`]);
    assert.equal(r.status, 404);
    assert.equal(r.headers["x-bd-error-code"], "1002");
    const ok = await curl([`${base}/HttpService/Raw`]);
    assert.equal(ok.status, 200);
    const none = await curl([`${base}/v1/other`]);
    assert.equal(none.status, 404);
  });

  it("rejects bad mappings when the service is added", () => {
    const s = new Server();
    assert.throws(
      () => s.addService(EchoService, peerService, { restful: "/a/*/b/* => Echo" }),
      /More than one wildcard/,
    );
    assert.throws(() => s.addService(EchoService, peerService, { restful: "/a/b* => Echo" }), /disallowed/);
    assert.throws(
      () => s.addService(EchoService, peerService, { restful: "/a/b => Nope" }),
      /has no method called `Nope'/,
    );
    assert.throws(() => s.addService(EchoService, peerService, { restful: "/a/b Echo" }), /Invalid mapping/);
    assert.throws(
      () => s.addService(EchoService, peerService, { restful: "/a/b => Echo, /a/b => Missing" }),
      /Already mapped/,
    );
  });
});

describe("Node clients", () => {
  let server: Server;
  let port: number;
  before(async () => {
    server = await startFullServer();
    port = server.port;
  });
  after(() => server.stop(0));

  it("fetch: JSON echo, keep-alive", async () => {
    for (let i = 0; i < 3; i++) await echoes(port, `fetch ${i}`);
  });

  it("application/proto and application/x-protobuf bodies, answered in kind", async () => {
    for (const ct of ["application/proto", "application/x-protobuf"]) {
      const body = toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: "binary" }));
      const r = await fetch(`http://127.0.0.1:${port}/example.EchoService/Echo`, {
        method: "POST",
        headers: { "content-type": ct },
        body,
      });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("content-type"), ct);
      assert.equal(fromBinary(EchoResponseSchema, new Uint8Array(await r.arrayBuffer())).message, "binary");
    }
    const bad = await fetch(`http://127.0.0.1:${port}/example.EchoService/Echo`, {
      method: "POST",
      headers: { "content-type": "application/proto" },
      body: Buffer.from([0xff, 0xff, 0xff]),
    });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /\[E1003\]Fail to parse http body as example\.EchoRequest$/);
  });

  it("application/proto-json and application/proto-text", async () => {
    const r = await fetch(`http://127.0.0.1:${port}/EchoService/Echo`, {
      method: "POST",
      headers: { "content-type": "application/proto-json" },
      body: JSON.stringify({ message: "pj", sleepMs: 1, whatever: true }),
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "application/proto-json");
    assert.deepEqual(await r.json(), { message: "pj" });
    const t = await fetch(`http://127.0.0.1:${port}/EchoService/Echo`, {
      method: "POST",
      headers: { "content-type": "application/proto-text" },
      body: 'message: "txt"',
    });
    assert.equal(t.status, 200);
    assert.match(await t.text(), /message: "txt"/);
  });

  it("json2pb on every kind of field, brpc's output conventions", async () => {
    const input = {
      i32: -5,
      i64: "-9007199254740993",
      u64: "18446744073709551615",
      b: true,
      d: 1.5,
      f: "Infinity",
      s: "str",
      by: Buffer.from("bytes").toString("base64"),
      e: "BLUE",
      rs: ["a", "b"],
      nested: { name: "n", n: 2, extra: 1 },
      tags: { x: 1, y: 2 },
      req: "r",
      items: [{ name: "i1" }, { n: 7 }],
      ignored: { deep: [1] },
    };
    const r = await fetch(`http://127.0.0.1:${port}/test.KitchenService/Echo`, {
      method: "POST",
      body: JSON.stringify(input),
    });
    assert.equal(r.status, 200, await r.clone().text());
    const text = await r.text();
    // 64-bit integers are plain JSON numbers, as rapidjson writes them.
    assert.match(text, /"i64":-9007199254740993,/);
    assert.match(text, /"u64":18446744073709551615,/);
    assert.match(text, /"tags":\{"x":1,"y":2\}\}$/);
    assert.match(text, /"f":"Infinity"/);
    assert.match(text, /"e":"BLUE"/);
    assert.match(text, /"by":"Ynl0ZXM="/);
    assert.match(text, /"items":\[\{"name":"i1"\},\{"n":7\}\]/);
    const missing = await fetch(`http://127.0.0.1:${port}/test.KitchenService/Echo`, {
      method: "POST",
      body: JSON.stringify({ i32: 1 }),
    });
    assert.equal(missing.status, 400);
    assert.match(await missing.text(), /Missing required field: test\.Kitchen\.req$/);
    const badEnum = await fetch(`http://127.0.0.1:${port}/test.KitchenService/Echo`, {
      method: "POST",
      body: JSON.stringify({ req: "r", rs: "not an array" }),
    });
    assert.equal(badEnum.status, 400);
    assert.match(await badEnum.text(), /Invalid value for repeated field: test\.Kitchen\.rs$/);
  });

  it("node:http: HEAD, Expect: 100-continue, HTTP/1.0", async () => {
    const head = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ port, host: "127.0.0.1", method: "HEAD", path: "/health" }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(head, 200);
    const cont = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        {
          port,
          host: "127.0.0.1",
          method: "POST",
          path: "/EchoService/Echo",
          headers: { expect: "100-continue", "content-type": "application/json" },
        },
        (res) => {
          let s = "";
          res.on("data", (c) => {
            s += c;
          });
          res.on("end", () => resolve(s));
        },
      );
      req.on("continue", () => req.end(JSON.stringify({ message: "continued" })));
      req.on("error", reject);
    });
    assert.equal(cont, '{"message":"continued"}');
    const c = await RawClient.connect(port);
    c.write(Buffer.from("GET /health HTTP/1.0\r\n\r\n"));
    assert.ok(await c.waitClosed());
    // node answers HTTP/1.0 requests with an HTTP/1.1 status line and closes (brpc echoes 1.0).
    assert.match(c.received.toString(), /^HTTP\/1\.[01] 200 OK\r\n[\s\S]*\r\n\r\nOK$/);
  });

  it("node:http2: JSON echo, errors, application/proto default of brpc's h2 client", async () => {
    const r = await h2request(
      port,
      { ":path": "/EchoService/Echo", "content-type": "application/json" },
      JSON.stringify({ message: "h2 node" }),
    );
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), '{"message":"h2 node"}');
    const p = await h2request(
      port,
      { ":path": "/example.EchoService/Echo", "content-type": "application/proto" },
      Buffer.from(toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: "pb over h2" }))),
    );
    assert.equal(fromBinary(EchoResponseSchema, p.body).message, "pb over h2");
    const e = await h2request(
      port,
      { ":path": "/EchoService/Echo" },
      JSON.stringify({ message: "x", fail_code: 1008 }),
    );
    assert.equal(e.status, 504);
    assert.equal(e.headers["x-bd-error-code"], "1008");
    const raw = await h2request(port, { ":path": "/HttpService/Raw?q=1" }, "h2 body");
    const seen = JSON.parse(raw.body.toString()) as Seen;
    assert.equal(seen.protocol, "h2");
    assert.equal(seen.body, "h2 body");
    assert.deepEqual(seen.query, { q: "1" });
  });

  it("many concurrent h2 streams on one session", async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    const one = (i: number) =>
      new Promise<string>((resolve, reject) => {
        const req = session.request({ ":method": "POST", ":path": "/EchoService/Echo" });
        req.on("error", reject);
        let s = "";
        req.on("data", (c) => {
          s += c;
        });
        req.on("end", () => resolve(s));
        req.end(JSON.stringify({ message: `s${i}`, sleep_ms: 5 }));
      });
    const out = await Promise.all(Array.from({ length: 50 }, (_, i) => one(i)));
    for (const [i, s] of out.entries()) assert.equal(s, `{"message":"s${i}"}`);
    session.close();
  });
});

describe("authentication", () => {
  const auth: Authenticator = {
    verifyCredential: async (cred) => (cred.toString() === "secret" ? { user: "u" } : false),
    unauthorizedErrorText: () => "who are you",
  };
  let server: Server;
  before(async () => {
    server = await startEchoServer({ auth });
  });
  after(() => server.stop(0));

  it("the authorization header of a connection's first request is verified", async () => {
    const ok = await fetch(`http://127.0.0.1:${server.port}/EchoService/Echo`, {
      method: "POST",
      headers: { authorization: "secret" },
      body: JSON.stringify({ message: "authorized" }),
    });
    assert.equal(ok.status, 200);
    const c = await RawClient.connect(server.port);
    c.write(Buffer.from('POST /EchoService/Echo HTTP/1.1\r\nContent-Length: 15\r\n\r\n{"message":"x"}'));
    assert.ok(await c.waitClosed());
    const [r] = parseResponses(c.received);
    assert.equal(r?.status, 403);
    assert.equal(r?.body.toString(), "[1004]Fail to authenticate: who are you");
  });
});

describe("bad input", () => {
  let server: Server;
  let port: number;
  before(async () => {
    server = await startFullServer({
      maxBodySize: 4096,
      http: { headerTimeoutMs: 300, maxHeaderSize: 2048 },
    });
    port = server.port;
  });
  after(() => server.stop(0));

  async function rawExchange(bytes: Buffer | string): Promise<RawClient> {
    const c = await RawClient.connect(port);
    c.write(Buffer.from(bytes));
    return c;
  }

  it("a malformed request gets 400 and the connection closes", async () => {
    const c = await rawExchange("GET /health HTTP/1.1\r\nBad Header Line\r\n\r\n");
    assert.ok(await c.waitClosed());
    assert.match(c.received.toString(), /^HTTP\/1\.1 400 Bad Request/);
    const d = await rawExchange("GET /he alth HTTP/1.1\r\n\r\n");
    assert.ok(await d.waitClosed());
    assert.match(d.received.toString(), /^HTTP\/1\.1 400 Bad Request/);
    await echoes(port);
  });

  it("oversize headers get 431", async () => {
    const c = await rawExchange(`GET /health HTTP/1.1\r\nX-Big: ${"a".repeat(4000)}\r\n\r\n`);
    assert.ok(await c.waitClosed());
    assert.match(c.received.toString(), /^HTTP\/1\.1 431 /);
    await echoes(port);
  });

  it("oversize bodies get 413 with Connection: close (declared or chunked)", async () => {
    const c = await rawExchange(
      `POST /EchoService/Echo HTTP/1.1\r\nContent-Length: 100000\r\n\r\n${"a".repeat(100)}`,
    );
    assert.ok(await c.waitClosed());
    const [r] = parseResponses(c.received);
    assert.equal(r?.status, 413);
    assert.equal(r?.headers.connection, "close");
    const chunk = `${(3000).toString(16)}\r\n${"b".repeat(3000)}\r\n`;
    const d = await rawExchange(
      `POST /EchoService/Echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}${chunk}`,
    );
    assert.ok(await d.waitClosed());
    assert.equal(parseResponses(d.received)[0]?.status, 413);
    const h2 = await h2request(port, { ":path": "/EchoService/Echo" }, Buffer.alloc(10000, 0x61)).catch(
      (e) => e,
    );
    assert.ok(h2 instanceof Error || h2.status === 413, String(h2));
    await echoes(port);
  });

  it("bad JSON gets 400 with x-bd-error-code 1003; unknown paths 404 with 1002", async () => {
    const c = await rawExchange(
      "POST /EchoService/Echo HTTP/1.1\r\nContent-Length: 3\r\n\r\n{{{GET /nowhere HTTP/1.1\r\n\r\n",
    );
    assert.ok(await c.waitFor(() => parseResponses(c.received).length >= 2));
    const [a, b] = parseResponses(c.received);
    assert.equal(a?.status, 400);
    assert.equal(a?.headers["x-bd-error-code"], "1003");
    assert.equal(b?.status, 404);
    assert.equal(b?.headers["x-bd-error-code"], "1002");
    assert.equal(c.closed, false, "the connection keeps serving");
    c.close();
    await echoes(port);
  });

  it("h2: garbage after the preface gets GOAWAY, never a crash", async () => {
    const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
    const c = await rawExchange(
      Buffer.concat([preface, Buffer.from("this is not an h2 frame at all......")]),
    );
    assert.ok(await c.waitClosed());
    const frames = h2Frames(c.received);
    assert.ok(
      frames.some((f) => f.type === H2.GOAWAY),
      JSON.stringify(frames.map((f) => f.type)),
    );
    await echoes(port);
  });

  it("h2: a HEADERS frame on stream 0 gets GOAWAY with an error code", async () => {
    const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
    const c = await rawExchange(
      Buffer.concat([preface, h2Frame(H2.SETTINGS, 0, 0), h2Frame(H2.HEADERS, 0x5, 0, Buffer.from([0x82]))]),
    );
    assert.ok(await c.waitClosed());
    const goaway = h2Frames(c.received).find((f) => f.type === H2.GOAWAY);
    assert.ok(goaway);
    // nghttp2 finds the PROTOCOL_ERROR; node reports it as INTERNAL_ERROR, as any node h2 server does.
    assert.notEqual(goaway.payload.readUInt32BE(4), h2c.NGHTTP2_NO_ERROR);
    await echoes(port);
  });

  it("h2: a stream reset by the client mid-request leaves the session serving", async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    const req = session.request({ ":method": "POST", ":path": "/EchoService/Echo" });
    req.on("error", () => {});
    req.write('{"message":');
    await sleep(20);
    req.close(h2c.NGHTTP2_CANCEL);
    const ok = await new Promise<string>((resolve, reject) => {
      const r = session.request({ ":method": "POST", ":path": "/EchoService/Echo" });
      r.on("error", reject);
      let s = "";
      r.on("data", (d) => {
        s += d;
      });
      r.on("end", () => resolve(s));
      r.end('{"message":"after reset"}');
    });
    assert.equal(ok, '{"message":"after reset"}');
    session.close();
  });

  it("a slowloris client is closed by the header timeout", async () => {
    const c = await rawExchange("GET /health HTTP/1.1\r\nHost: x\r\n");
    for (let i = 0; i < 20 && !c.closed; i++) {
      c.write(Buffer.from(`X-Slow-${i}: y\r\n`));
      await sleep(100);
    }
    assert.ok(await c.waitClosed(5000), "still open");
    assert.match(c.received.toString(), /^HTTP\/1\.1 408 /);
    await echoes(port);
  });

  it("a client that stalls before any protocol is recognised ('GE', 'PRP', 'PRI * HT') is closed after headerTimeoutMs", async () => {
    const started = Date.now();
    const stalled = await Promise.all(["GE", "PRP", "PRI * HT", "\x16"].map((b) => rawExchange(b)));
    // An idle connection that sent nothing is not a slowloris (a pooled client may connect early).
    const silent = await RawClient.connect(port);
    for (const c of stalled) assert.ok(await c.waitClosed(5000), "still open");
    assert.ok(Date.now() - started >= 250, "closed before the timeout");
    assert.equal(silent.closed, false);
    silent.close();
    await echoes(port);
  });

  it("a client that disappears mid-body leaves nothing behind", async () => {
    const before = server.connections.size;
    const c = await rawExchange(
      'POST /EchoService/Echo HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{"message":"',
    );
    await sleep(50);
    c.close();
    assert.ok(await eventually(() => server.connections.size === before));
    assert.equal(server.concurrency, 0);
    const session = h2connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    const req = session.request({
      ":method": "POST",
      ":path": "/EchoService/Echo",
      "content-length": "1000",
    });
    req.on("error", () => {});
    req.write('{"message":"');
    await sleep(50);
    session.destroy();
    assert.ok(await eventually(() => server.connections.size === before));
    assert.equal(server.concurrency, 0);
    await echoes(port);
  });
});

describe("lifecycle", () => {
  it("stop() waits for in-flight HTTP/1 and h2 requests, new requests get ELOGOFF, then connections close", async () => {
    const server = await startEchoServer();
    const port = server.port;
    const slow = fetch(`http://127.0.0.1:${port}/EchoService/Echo`, {
      method: "POST",
      body: JSON.stringify({ message: "slow h1", sleep_ms: 300 }),
    });
    const slowH2 = h2request(
      port,
      { ":path": "/EchoService/Echo" },
      JSON.stringify({ message: "slow h2", sleep_ms: 300 }),
    );
    // A keep-alive connection that is idle when stop() begins.
    const idle = await RawClient.connect(port);
    idle.write(Buffer.from("GET /health HTTP/1.1\r\n\r\n"));
    assert.ok(await idle.waitFor(() => parseResponses(idle.received).length === 1));
    assert.ok(await eventually(() => server.concurrency === 2));
    const stopped = server.stop(5000);
    idle.write(Buffer.from("GET /health HTTP/1.1\r\n\r\n"));
    assert.ok(await idle.waitFor(() => parseResponses(idle.received).length === 2));
    const refused = parseResponses(idle.received)[1];
    assert.equal(refused?.status, 503);
    assert.equal(refused?.headers["x-bd-error-code"], String(ErrorCode.ELOGOFF));
    const r = await slow;
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { message: "slow h1" });
    const r2 = await slowH2;
    assert.equal(r2.status, 200);
    assert.equal(r2.body.toString(), '{"message":"slow h2"}');
    await stopped;
    assert.ok(await idle.waitClosed());
    assert.equal(server.connections.size, 0);
  });

  it("idleTimeoutSec closes idle HTTP connections", async () => {
    const server = await startEchoServer({ idleTimeoutSec: 1 });
    const c = await RawClient.connect(server.port);
    c.write(Buffer.from("GET /health HTTP/1.1\r\n\r\n"));
    assert.ok(await c.waitFor(() => parseResponses(c.received).length === 1));
    assert.ok(await c.waitClosed(5000));
    await server.stop(0);
  });
});

describe("one port, five protocols", { skip: curlMissing }, () => {
  it("a baidu_std Channel and curl talk to the same port at the same time", async () => {
    const server = await startEchoServer();
    const ch = new Channel(server.address, { timeoutMs: 5000, maxRetry: 0 });
    const echo = ch.client(EchoService);
    const calls = Array.from({ length: 20 }, (_, i) => echo.echo({ message: `rpc ${i}`, sleepMs: 10 }));
    const curls = Array.from({ length: 5 }, (_, i) =>
      curl([
        "-d",
        JSON.stringify({ message: `curl ${i}`, sleep_ms: 10 }),
        `http://${server.address}/EchoService/Echo`,
      ]),
    );
    const [rpc, http] = await Promise.all([Promise.all(calls), Promise.all(curls)]);
    for (const [i, r] of rpc.entries()) assert.equal(r.message, `rpc ${i}`);
    for (const [i, r] of http.entries()) assert.equal(r.body.toString(), `{"message":"curl ${i}"}`);
    const err = await echo.echo({ message: "x", failCode: 2001 }).catch((e: unknown) => e);
    assert.ok(err instanceof RpcError && err.code === 2001);
    ch.close();
    await server.stop(0);
  });
});
