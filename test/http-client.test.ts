/**
 * The http Channel protocols and the plain HTTP client against a real node:http server:
 * what goes on the wire, JSON/proto bodies, brpc's EHTTP errors, gzip, connection types,
 * timeouts, cancellation, refused connections and progressive reading.
 */
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EchoRequestSchema, EchoResponseSchema, EchoService } from "../examples/gen/peer_pb.js";
import { Channel, Controller, ErrorCode, httpRequest, RpcError } from "../src/index.js";
import { PageService } from "./gen/client_stream_pb.js";
import { type HttpPeer, type HttpRequestSeen, startHttpPeer } from "./helpers/client-h2-server.js";
import { eventually, failure } from "./helpers/servers.js";

/** brpc's pb-over-HTTP behaviour of example.EchoService (JSON or proto by Content-Type). */
function echoService(r: HttpRequestSeen): void {
  if (r.url !== "/example.EchoService/Echo") {
    r.res.writeHead(404, { "content-type": "text/plain" });
    r.res.end(`no method for ${r.url}`);
    return;
  }
  let body = r.body;
  if (r.headers["content-encoding"] === "gzip") body = gunzipSync(body);
  const proto = r.headers["content-type"] === "application/proto";
  const req = proto
    ? fromBinary(EchoRequestSchema, body)
    : (JSON.parse(body.toString()) as { message: string; fail_code?: number });
  const failCode = "failCode" in req ? req.failCode : req.fail_code;
  if (failCode) {
    const text = `[127.0.0.1:8100][E${failCode}]failed on purpose: ${req.message}`;
    r.res.writeHead(500, { "content-type": "text/plain", "x-bd-error-code": String(failCode) });
    r.res.end(text);
    return;
  }
  if (proto) {
    r.res.writeHead(200, { "content-type": "application/proto", "x-server": "peer" });
    r.res.end(toBinary(EchoResponseSchema, create(EchoResponseSchema, { message: req.message })));
  } else if (r.headers["accept-encoding"] === "gzip" || req.message.startsWith("gz:")) {
    r.res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" });
    r.res.end(gzipSync(JSON.stringify({ message: req.message })));
  } else {
    r.res.writeHead(200, { "content-type": "application/json", "x-server": "peer" });
    r.res.end(JSON.stringify({ message: req.message }));
  }
}

describe("http Channel -> node:http server", () => {
  let peer: HttpPeer;
  let ch: Channel;
  before(async () => {
    peer = await startHttpPeer(echoService);
    ch = new Channel(peer.address, { protocol: "http", timeoutMs: 2000, maxRetry: 0 });
  });
  beforeEach(() => peer.handle(echoService));
  after(async () => {
    ch.close();
    await peer.close();
  });

  it("POST /<service>/<method> with brpc's headers and a JSON body (proto field names)", async () => {
    const cntl = new Controller();
    const res = await ch.client(EchoService).echo({ message: "hello 0" }, { logId: 1000, controller: cntl });
    assert.equal(res.message, "hello 0");
    const r = peer.requests.at(-1);
    assert.ok(r !== undefined);
    assert.equal(r.method, "POST");
    assert.equal(r.url, "/example.EchoService/Echo");
    assert.equal(r.headers["content-type"], "application/json");
    assert.equal(r.headers["content-length"], "21");
    assert.equal(r.headers["log-id"], "1000");
    assert.equal(r.headers.accept, "*/*");
    assert.equal(r.headers["user-agent"], "brpc/1.0 curl/7.0");
    assert.equal(r.headers.host, peer.address);
    assert.equal(r.body.toString(), '{"message":"hello 0"}');
    assert.equal(cntl.httpStatusCode, 200);
    assert.equal(cntl.httpResponseHeaders?.["x-server"], "peer");
    assert.equal(cntl.responseUserFields?.["x-server"], "peer");
    assert.equal(cntl.remoteSide, peer.address);
    assert.ok(cntl.latencyUs > 0);
  });

  it("x-request-id, user fields and controller headers become request headers", async () => {
    const cntl = new Controller();
    cntl.httpRequestHeaders = { "x-from-cntl": "c" };
    await ch
      .client(EchoService)
      .echo({ message: "h" }, { requestId: "rid-1", userFields: { "x-user": "u" }, controller: cntl });
    const h = peer.requests.at(-1)?.headers;
    assert.equal(h?.["x-request-id"], "rid-1");
    assert.equal(h?.["x-user"], "u");
    assert.equal(h?.["x-from-cntl"], "c");
  });

  it("http:proto sends and reads application/proto", async () => {
    const p = new Channel(peer.address, { protocol: "http:proto", maxRetry: 0 });
    const res = await p.client(EchoService).echo({ message: "pb" });
    assert.equal(res.message, "pb");
    assert.equal(peer.requests.at(-1)?.headers["content-type"], "application/proto");
    p.close();
  });

  it("a non-2xx answer: EHTTP with brpc's text (as http_pb_error)", async () => {
    const cntl = new Controller();
    const e = await failure(
      ch.client(EchoService).echo({ message: "hello 0", failCode: 2001 }, { controller: cntl }),
    );
    assert.equal(e.code, ErrorCode.EHTTP);
    assert.equal(
      e.text,
      "[E1010]HTTP/1.1 500 Internal Server Error: [127.0.0.1:8100][E2001]failed on purpose: hello 0",
    );
    assert.equal(cntl.errorCode, ErrorCode.EHTTP);
    assert.equal(cntl.httpStatusCode, 500);
    assert.equal(cntl.httpResponseHeaders?.["x-bd-error-code"], "2001");
  });

  it("EHTTP text: at most 2048 bytes of the body, nothing after the reason when empty", async () => {
    peer.handle((r) => {
      r.res.writeHead(r.url.endsWith("Echo") ? 503 : 404);
      r.res.end(r.url.endsWith("Echo") ? "x".repeat(5000) : "");
    });
    const e1 = await failure(ch.client(EchoService).echo({ message: "a" }));
    assert.equal(e1.text, `[E1010]HTTP/1.1 503 Service Unavailable: ${"x".repeat(2048)}`);
    const e2 = await failure(ch.client(EchoService).missing({ message: "a" }));
    assert.equal(e2.text, "[E1010]HTTP/1.1 404 Not Found");
  });

  it("raw calls: bytes in, body out; on errors the body is the response attachment", async () => {
    peer.handle((r) => {
      if (r.url === "/svc/fail") {
        r.res.writeHead(400, { "content-type": "text/plain" });
        r.res.end("bad input");
        return;
      }
      r.res.writeHead(200, { "content-type": "text/plain" });
      r.res.end(`got ${r.body.toString()}`);
    });
    const out = await ch.callRaw("svc", "m", Buffer.from("payload"));
    assert.equal(out.toString(), "got payload");
    const cntl = new Controller();
    const e = await failure(ch.callRaw("svc", "fail", Buffer.from("x"), { controller: cntl }));
    assert.equal(e.code, ErrorCode.EHTTP);
    assert.equal(cntl.responseAttachment.toString(), "bad input");
  });

  it("http services (types without fields): the attachment is the body, the body the response attachment", async () => {
    peer.handle((r) => {
      const fail = r.body.toString() === "fail";
      r.res.writeHead(fail ? 403 : 200, { "content-type": "text/html" });
      r.res.end(fail ? "forbidden page" : `<p>${r.body.toString()}</p>`);
    });
    const pages = ch.client(PageService);
    const cntl = new Controller();
    await pages.page({}, { attachment: "hello", controller: cntl });
    assert.equal(peer.requests.at(-1)?.url, "/clienttest.PageService/Page");
    assert.equal(peer.requests.at(-1)?.body.toString(), "hello");
    assert.equal(cntl.responseAttachment.toString(), "<p>hello</p>");
    const bad = new Controller();
    const e = await failure(pages.page({}, { attachment: "fail", controller: bad }));
    assert.equal(e.text, "[E1010]HTTP/1.1 403 Forbidden: forbidden page");
    assert.equal(bad.responseAttachment.toString(), "forbidden page");
  });

  it("an unknown response content-type: ERESPONSE; bad JSON: ERESPONSE", async () => {
    peer.handle((r) => {
      r.res.writeHead(200, { "content-type": r.body.includes("html") ? "text/html" : "application/json" });
      r.res.end("<html>");
    });
    const e1 = await failure(ch.client(EchoService).echo({ message: "html" }));
    assert.equal(e1.code, ErrorCode.ERESPONSE);
    assert.equal(e1.text, "[E2002]Unknown content-type=text/html when response is not NULL");
    const e2 = await failure(ch.client(EchoService).echo({ message: "json" }));
    assert.equal(e2.code, ErrorCode.ERESPONSE);
    assert.match(e2.text, /Fail to parse content as example.EchoResponse/);
  });

  it("gzip: bodies of 512 bytes or more are sent with Content-Encoding gzip; gzip responses are read", async () => {
    const big = "g".repeat(600);
    const cntl = new Controller();
    const res = await ch
      .client(EchoService)
      .echo({ message: `gz:${big}` }, { compressType: "gzip", controller: cntl });
    assert.equal(res.message, `gz:${big}`);
    assert.equal(peer.requests.at(-1)?.headers["content-encoding"], "gzip");
    assert.equal(cntl.responseCompressType, 2);
    await ch.client(EchoService).echo({ message: "small" }, { compressType: "gzip" });
    assert.equal(peer.requests.at(-1)?.headers["content-encoding"], undefined);
    const e = await failure(ch.client(EchoService).echo({ message: "x" }, { compressType: "snappy" }));
    assert.equal(e.code, ErrorCode.EREQUEST);
    assert.equal(e.text, "[E1003]http does not support snappy");
  });

  it("an attachment with a protobuf request is refused (EREQUEST), as brpc", async () => {
    const e = await failure(ch.client(EchoService).echo({ message: "x" }, { attachment: "att" }));
    assert.equal(e.code, ErrorCode.EREQUEST);
    assert.match(e.text, /request_attachment must be empty/);
  });

  it("pooled (default): sequential calls reuse one connection, concurrent calls open more", async () => {
    const server = await startHttpPeer((r) => {
      setTimeout(() => echoService(r), 20);
    });
    const pooled = new Channel(server.address, { protocol: "http", maxRetry: 0, timeoutMs: 3000 });
    const echo = pooled.client(EchoService);
    for (let i = 0; i < 5; i++) await echo.echo({ message: `s${i}` });
    assert.equal(server.connections, 1);
    await Promise.all(Array.from({ length: 8 }, (_, i) => echo.echo({ message: `c${i}` })));
    assert.ok(server.connections >= 2, `${server.connections} connections`);
    pooled.close();
    await server.close();
  });

  it("short: a connection per call", async () => {
    const server = await startHttpPeer(echoService);
    const short = new Channel(server.address, { protocol: "http", connectionType: "short", maxRetry: 0 });
    for (let i = 0; i < 3; i++) await short.client(EchoService).echo({ message: "x" });
    assert.equal(server.connections, 3);
    assert.equal(server.requests.at(-1)?.headers.connection, "close");
    short.close();
    await server.close();
  });

  it("http refuses connectionType single", () => {
    assert.throws(() => new Channel(peer.address, { protocol: "http", connectionType: "single" }), TypeError);
  });

  it("the server closes idle keep-alive connections: the next call still succeeds", async () => {
    const server = await startHttpPeer((r) => {
      echoService(r);
      r.res.on("finish", () => setImmediate(() => r.socket.destroy()));
    });
    const c = new Channel(server.address, { protocol: "http", timeoutMs: 2000 });
    for (let i = 0; i < 3; i++)
      assert.equal((await c.client(EchoService).echo({ message: `k${i}` })).message, `k${i}`);
    c.close();
    await server.close();
  });

  it("a server that never answers: ERPCTIMEDOUT and the request is aborted", async () => {
    peer.handle(() => {});
    const before = peer.aborted;
    const e = await failure(ch.client(EchoService).echo({ message: "x" }, { timeoutMs: 100 }));
    assert.equal(e.code, ErrorCode.ERPCTIMEDOUT);
    assert.match(e.text, /^\[E1008\]Reached timeout=100ms @127\.0\.0\.1:\d+$/);
    assert.ok(await eventually(() => peer.aborted > before));
  });

  it("AbortSignal: ECANCELED and the request is aborted", async () => {
    peer.handle(() => {});
    const before = peer.aborted;
    const ac = new AbortController();
    const p = ch.client(EchoService).echo({ message: "x" }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    const e = await failure(p);
    assert.equal(e.code, ErrorCode.ECANCELED);
    assert.ok(await eventually(() => peer.aborted > before));
  });

  it("connection refused: ECONNREFUSED, retried maxRetry times", async () => {
    const c = new Channel("127.0.0.1:1", { protocol: "http", maxRetry: 2 });
    const cntl = new Controller();
    const e = await failure(c.client(EchoService).echo({ message: "x" }, { controller: cntl }));
    assert.equal(e.code, ErrorCode.ECONNREFUSED);
    assert.match(e.text, /^\[E111\]Fail to connect 127\.0\.0\.1:1: /);
    assert.equal(cntl.retriedCount, 2);
    c.close();
  });

  it("an authenticator's credential goes in Authorization", async () => {
    const c = new Channel(peer.address, {
      protocol: "http",
      maxRetry: 0,
      auth: { generateCredential: () => Promise.resolve("secret-token") },
    });
    await c.client(EchoService).echo({ message: "auth" });
    assert.equal(peer.requests.at(-1)?.headers.authorization, "secret-token");
    c.close();
  });

  it("a closed channel fails calls with EINVAL", async () => {
    const c = new Channel(peer.address, { protocol: "http" });
    c.close();
    const e = await failure(c.client(EchoService).echo({ message: "x" }));
    assert.equal(e.code, ErrorCode.EINVAL);
  });

  it("protocol names: brpc's variants parse, gRPC over http/1.1 does not", () => {
    for (const p of [
      "http",
      "HTTP",
      "http:json",
      "http:proto",
      "h2",
      "h2:json",
      "h2:proto",
      "h2:grpc",
      "h2:grpc+json",
    ]) {
      new Channel(peer.address, { protocol: p }).close();
    }
    assert.throws(() => new Channel(peer.address, { protocol: "http:grpc" }), TypeError);
  });
});

describe("httpRequest: the plain HTTP client", () => {
  let peer: HttpPeer;
  before(async () => {
    peer = await startHttpPeer();
  });
  after(() => peer.close());

  it("GET with a query string and headers; status, headers and body come back", async () => {
    peer.handle((r) => {
      r.res.writeHead(200, { "content-type": "text/plain", "x-got": r.headers["x-mine"] ?? "" });
      r.res.end(`${r.method} ${r.url}`);
    });
    const cntl = new Controller();
    const res = await httpRequest(`http://${peer.address}/path?x=1`, {
      headers: { "X-Mine": "yes" },
      controller: cntl,
    });
    assert.equal(res.status, 200);
    assert.equal(res.statusText, "OK");
    assert.equal(res.httpVersion, "1.1");
    assert.equal(res.headers["x-got"], "yes");
    assert.equal(res.body.toString(), "GET /path?x=1");
    assert.equal(res.remoteSide, peer.address);
    const seen = peer.requests.at(-1);
    assert.equal(seen?.headers.accept, "*/*");
    assert.equal(seen?.headers["user-agent"], "brpc/1.0 curl/7.0");
    assert.equal(cntl.httpStatusCode, 200);
    assert.equal(cntl.errorCode, 0);
    assert.equal(cntl.remoteSide, peer.address);
  });

  it("POST / PUT with a body; a URL without scheme is http", async () => {
    peer.handle((r) => {
      r.res.writeHead(201);
      r.res.end(`${r.method}:${r.body.toString()}:${r.headers["content-length"]}`);
    });
    const post = await httpRequest(`http://${peer.address}/p`, { body: "data" });
    assert.equal(post.status, 201);
    assert.equal(post.body.toString(), "POST:data:4");
    const put = await httpRequest(`${peer.address}/p`, { method: "put", body: Buffer.from("xyz") });
    assert.equal(put.body.toString(), "PUT:xyz:3");
  });

  it("non-2xx answers resolve; throwOnHttpError turns them into EHTTP with brpc's text", async () => {
    peer.handle((r) => {
      r.res.writeHead(404, { "content-type": "text/plain" });
      r.res.end("nothing here");
    });
    const res = await httpRequest(`http://${peer.address}/missing`);
    assert.equal(res.status, 404);
    assert.equal(res.body.toString(), "nothing here");
    const cntl = new Controller();
    const e = await failure(
      httpRequest(`http://${peer.address}/missing`, { throwOnHttpError: true, controller: cntl }),
    );
    assert.equal(e.code, ErrorCode.EHTTP);
    assert.equal(e.text, "[E1010]HTTP/1.1 404 Not Found: nothing here");
    assert.equal(cntl.responseAttachment.toString(), "nothing here");
  });

  it("progressive: chunks of a chunked response are read as they arrive", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    peer.handle((r) => {
      r.res.writeHead(200, { "content-type": "text/plain" });
      r.res.write("first;");
      void gate.then(() => {
        r.res.write("second;");
        r.res.end("last");
      });
    });
    const res = await httpRequest(`http://${peer.address}/stream`, { progressive: true, timeoutMs: 1000 });
    assert.equal(res.status, 200);
    assert.equal(res.headers["transfer-encoding"], "chunked");
    const got: string[] = [];
    for await (const chunk of res.body) {
      got.push(chunk.toString());
      // The server sends the rest only after the client got the first chunk.
      if (got.length === 1) release();
    }
    assert.equal(got[0], "first;");
    assert.equal(got.join(""), "first;second;last");
  });

  it("progressive: the deadline covers the headers only (a long body outlives it)", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    peer.handle((r) => {
      r.res.writeHead(200);
      r.res.write("a");
      void gate.then(() => r.res.end("b"));
    });
    const res = await httpRequest(`http://${peer.address}/long`, { progressive: true, timeoutMs: 50 });
    setTimeout(release, 120);
    assert.equal((await res.body.bytes()).toString(), "ab");
  });

  it("progressive: leaving the loop early closes the connection", async () => {
    peer.handle((r) => {
      r.res.writeHead(200);
      r.res.write("x");
      // Never ends by itself.
    });
    const before = peer.aborted;
    const res = await httpRequest(`http://${peer.address}/endless`, { progressive: true });
    for await (const _ of res.body) break;
    assert.ok(await eventually(() => peer.aborted > before));
  });

  it("progressive: no data for readTimeoutMs -> EPROGREADTIMEOUT", async () => {
    peer.handle((r) => {
      r.res.writeHead(200);
      r.res.write("x");
    });
    const res = await httpRequest(`http://${peer.address}/stall`, { progressive: true, readTimeoutMs: 100 });
    const e = await failure(res.body.bytes());
    assert.equal(e.code, ErrorCode.EPROGREADTIMEOUT);
  });

  it("progressive: the AbortSignal still cancels while the body is read (ECANCELED)", async () => {
    peer.handle((r) => {
      r.res.writeHead(200);
      r.res.write("x");
    });
    const ac = new AbortController();
    const res = await httpRequest(`http://${peer.address}/stall`, { progressive: true, signal: ac.signal });
    let err: unknown;
    try {
      for await (const _ of res.body) ac.abort();
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof RpcError);
    assert.equal(err.code, ErrorCode.ECANCELED);
  });

  it("progressive: the server dying mid-body is an error, not a short body", async () => {
    peer.handle((r) => {
      r.res.writeHead(200);
      r.res.write("partial");
      setTimeout(() => r.socket.destroy(), 20);
    });
    const res = await httpRequest(`http://${peer.address}/die`, { progressive: true });
    const e = await failure(res.body.bytes());
    assert.ok(e.code === ErrorCode.ECONNRESET || e.code === ErrorCode.EFAILEDSOCKET, e.text);
  });

  it("a server that never answers: ERPCTIMEDOUT", async () => {
    peer.handle(() => {});
    const e = await failure(httpRequest(`http://${peer.address}/hang`, { timeoutMs: 100 }));
    assert.equal(e.code, ErrorCode.ERPCTIMEDOUT);
    assert.equal(e.text, `[E1008]Reached timeout=100ms @${peer.address}`);
  });

  it("AbortSignal: ECANCELED", async () => {
    peer.handle(() => {});
    const ac = new AbortController();
    const p = httpRequest(`http://${peer.address}/hang`, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    assert.equal((await failure(p)).code, ErrorCode.ECANCELED);
    const pre = new AbortController();
    pre.abort();
    assert.equal(
      (await failure(httpRequest(`http://${peer.address}/`, { signal: pre.signal }))).code,
      ErrorCode.ECANCELED,
    );
  });

  it("connection refused: ECONNREFUSED", async () => {
    const e = await failure(httpRequest("http://127.0.0.1:1/", { maxRetry: 0 }));
    assert.equal(e.code, ErrorCode.ECONNREFUSED);
  });

  it("a body over maxBodySize: ERESPONSE", async () => {
    peer.handle((r) => {
      r.res.writeHead(200);
      r.res.end("y".repeat(1000));
    });
    const e = await failure(httpRequest(`http://${peer.address}/big`, { maxBodySize: 100 }));
    assert.equal(e.code, ErrorCode.ERESPONSE);
  });

  it("bad URLs: EINVAL", async () => {
    assert.equal((await failure(httpRequest("ftp://x/"))).code, ErrorCode.EINVAL);
    assert.equal((await failure(httpRequest("http://"))).code, ErrorCode.EINVAL);
  });
});
