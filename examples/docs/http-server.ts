/**
 * docs/http.md: the HTTP/1.1 and h2 side of a brpc-ts server port. One server answers
 * fetch, node:http, node:http2, curl (when installed) and brpc-ts Channels speaking
 * http / h2 on the port that also speaks baidu_std:
 *
 * - protobuf services at /Service/Method and /pkg.Service/Method: JSON (brpc's json2pb),
 *   application/proto, application/proto-json;
 * - restful mappings ("/v1/items/* => Get"), a raw service;
 * - "http services" (request type without fields): raw body in, status, headers and raw
 *   body out, a file download with gzip, a chunked (progressive) response, server-sent events;
 * - brpc's error mapping (status, x-bd-error-code, text/plain), log-id / x-request-id;
 * - limits: 413, 431, the header timeout (slowloris guard).
 *
 *   node dist/examples/docs/http-server.js               runs the checks, exits 0
 *   node dist/examples/docs/http-server.js --serve 8000  serves 127.0.0.1:8000 for the curl lines of docs/http.md
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { request as httpRequestRaw } from "node:http";
import { connect as h2connect } from "node:http2";
import { connect as netConnect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  Channel,
  CompressType,
  ErrorCode,
  httpRequest,
  RpcError,
  Server,
  type ServiceImpl,
} from "../../src/index.js";
// Not exported from "brpc-ts" yet (see docs/http.md, "HTTP server options").
import { EchoRequestSchema, EchoResponseSchema, EchoService } from "../gen/peer_pb.js";
import { Color, FileService, ItemService } from "./http-services_pb.js";

// ---- the server --------------------------------------------------------------------

const files = new Map<string, string>([
  ["hello.txt", "hello, world\n"],
  ["big.log", "GET /index.html 200\n".repeat(100)],
]);

const itemImpl: ServiceImpl<typeof ItemService> = {
  get(req, ctx) {
    // GET /v1/items/pen: the restful `*` matched "pen"; GET /ItemService/Get?name=pen: the query.
    const name = req.name || ctx.unresolvedPath || ctx.http?.query.get("name") || "";
    if (name === "secret") throw new RpcError(ErrorCode.EPERM, "no access to secret");
    return {
      name,
      id: 9007199254740993n, // 2^53 + 1: int64 goes out as a JSON number, exactly
      tags: ["red", "small"],
      color: Color.GREEN,
      blob: new Uint8Array([1, 2, 3]),
      counts: { sold: 3 },
    };
  },
  put(req) {
    return { ...req, id: req.id + 1n };
  },
};

const fileImpl: ServiceImpl<typeof FileService> = {
  // Request type google.protobuf.Empty has no fields: an "http service".
  download(_req, ctx) {
    const http = ctx.http!;
    const name = http.path.slice(http.path.lastIndexOf("/") + 1);
    http.setHeader("X-Unresolved-Path", ctx.unresolvedPath);
    const body = files.get(name);
    if (body === undefined) {
      http.status = 404; // any status: this is not a failed call
      http.setHeader("Content-Type", "text/plain");
      ctx.responseAttachment = `no file ${name}\n`;
      return {};
    }
    http.setHeader("Content-Type", "text/plain; charset=utf-8");
    http.setHeader("Content-Disposition", `attachment; filename="${name}"`);
    ctx.responseAttachment = body;
    ctx.responseCompressType = CompressType.GZIP; // gzipped if >= 512 bytes and the client accepts gzip
    return {};
  },
  upload(_req, ctx) {
    const http = ctx.http!;
    http.status = 201;
    http.setHeader("Content-Type", "text/plain");
    ctx.responseAttachment =
      `${http.method} ${http.path} query=${http.queryString} ` +
      `got ${ctx.requestAttachment.length} bytes of ${http.header("content-type")} ` +
      `log-id=${ctx.logId} x-request-id=${ctx.requestId}\n`;
    return {};
  },
  ticker(_req, ctx) {
    const w = ctx.http!.progressive();
    (async () => {
      for (let i = 1; i <= 3; i++) {
        await w.write(`tick ${i}\n`);
        await sleep(30);
      }
      await w.end("done\n");
    })().catch(() => {}); // the client went away: write() rejects, w.signal aborts
    return {};
  },
  events(_req, ctx) {
    const sse = ctx.http!.sse();
    (async () => {
      for (let i = 1; i <= 2; i++) await sse.send({ event: "tick", id: String(i), data: `n=${i}` });
      await sse.send("two\nlines");
      await sse.end();
    })().catch(() => {});
    return {};
  },
};

export async function startDocsServer(address: string): Promise<Server> {
  const server = new Server({
    maxBodySize: 1024 * 1024,
    http: { headerTimeoutMs: 1000, maxHeaderSize: 16 * 1024 },
  });
  server.addService(EchoService, {
    echo(req, ctx) {
      if (req.failCode !== 0) ctx.setFailed(req.failCode, `failed on purpose: ${req.message}`);
      return { message: req.message };
    },
  });
  server.addService(ItemService, itemImpl, {
    restful: "/v1/items/* => Get, /v1/items => Put",
    allowDefaultUrl: true, // Get and Put also stay at /ItemService/Get, /docs.ItemService/Put
  });
  server.addService(FileService, fileImpl, {
    restful:
      "/files/* => Download, *.txt => Download, /upload => Upload, /ticker => Ticker, /events => Events",
  });
  server.addRawService("demo.Bytes", { Reverse: (req: Buffer) => Buffer.from(req).reverse() });
  await server.start(address);
  return server;
}

const serveAt = process.argv.indexOf("--serve");
if (serveAt >= 0) {
  const server = await startDocsServer(`127.0.0.1:${process.argv[serveAt + 1] ?? "8000"}`);
  console.log(`serving on ${server.address}; Ctrl-C to stop`);
  process.on("SIGINT", () => void server.stop().then(() => process.exit(0)));
} else {
  await runChecks();
}

// ---- the checks --------------------------------------------------------------------

async function runChecks(): Promise<void> {
  const server = await startDocsServer("127.0.0.1:0");
  const base = `http://${server.address}`;
  console.log(`server on ${server.address}`);
  const show = (label: string, v: unknown) =>
    console.log(`${label.padEnd(44)} ${typeof v === "string" ? v : JSON.stringify(v)}`);

  // 1. JSON (no or unknown content type = JSON): by short and full service name.
  let r = await fetch(`${base}/EchoService/Echo`, { method: "POST", body: '{"message":"hi"}' });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "application/json");
  assert.deepEqual(await r.json(), { message: "hi" });
  r = await fetch(`${base}/example.EchoService/Echo`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: '{"message":"full name","unknown_field":1}', // unknown fields are ignored
  });
  show("POST /example.EchoService/Echo (json)", await r.text());

  // 2. json2pb output: proto field names, int64 as a number, enums by name, bytes base64,
  //    string-keyed maps as objects. Restful path, the wildcard in ctx.unresolvedPath.
  r = await fetch(`${base}/v1/items/pen`);
  const itemText = await r.text();
  show("GET /v1/items/pen", itemText);
  assert.equal(
    itemText,
    '{"name":"pen","id":9007199254740993,"tags":["red","small"],"color":"GREEN","blob":"AQID","counts":{"sold":3}}',
  );
  r = await fetch(`${base}/ItemService/Get?name=cup`); // allowDefaultUrl: the default URL works too
  assert.equal(((await r.json()) as { name: string }).name, "cup");
  // json2pb input: int64 as number or string, enum by name or number.
  r = await fetch(`${base}/v1/items`, {
    method: "POST",
    body: '{"name":"box","id":"41","color":2,"tags":["a"]}',
  });
  show("POST /v1/items (json2pb input)", await r.text());

  // 3. application/proto both ways; application/proto-json (canonical JSON: int64 as string).
  r = await fetch(`${base}/example.EchoService/Echo`, {
    method: "POST",
    headers: { "content-type": "application/proto" },
    body: toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: "binary" })),
  });
  assert.equal(r.headers.get("content-type"), "application/proto");
  const pb = fromBinary(EchoResponseSchema, new Uint8Array(await r.arrayBuffer()));
  show("POST Echo (application/proto)", `message=${pb.message}`);
  assert.equal(pb.message, "binary");
  r = await fetch(`${base}/docs.ItemService/Put`, {
    method: "POST",
    headers: { "content-type": "application/proto-json" },
    body: '{"name":"lamp","id":"7","color":"BLUE"}',
  });
  const pj = await r.text();
  show("POST Put (application/proto-json)", pj);
  assert.equal(r.headers.get("content-type"), "application/proto-json");
  assert.match(pj, /"id":"8"/);

  // 4. brpc's error mapping: status, x-bd-error-code, text/plain body.
  const errors: [string, RequestInit | undefined, number, number][] = [
    ["/v1/items/secret", undefined, 403, ErrorCode.EPERM],
    ["/EchoService/Echo", { method: "POST", body: '{"message":"x","fail_code":2001}' }, 500, 2001],
    ["/EchoService/Echo", { method: "POST", body: "{not json" }, 400, ErrorCode.EREQUEST],
    ["/EchoService/Echo", { method: "POST", body: "" }, 400, ErrorCode.EREQUEST], // required field
    ["/v1/items", { method: "POST", body: '{"tags":["a",1]}' }, 400, ErrorCode.EREQUEST],
    ["/NoSuchService/Echo", undefined, 404, ErrorCode.ENOMETHOD],
    ["/EchoService", undefined, 404, ErrorCode.ENOMETHOD],
  ];
  for (const [path, init, status, code] of errors) {
    r = await fetch(`${base}${path}`, init);
    const text = await r.text();
    show(
      `${init?.method ?? "GET"} ${path} -> ${r.status} x-bd-error-code=${r.headers.get("x-bd-error-code")}`,
      text.split("\n")[0]!,
    );
    assert.equal(r.status, status);
    assert.equal(r.headers.get("x-bd-error-code"), String(code));
    assert.equal(r.headers.get("content-type"), "text/plain");
  }
  // A wrong type for an optional field is skipped, as brpc's json2pb does.
  r = await fetch(`${base}/v1/items`, { method: "POST", body: '{"name":5,"id":1}' });
  assert.equal(r.status, 200);

  // 5. http services: raw body in, status and headers out, log-id / x-request-id.
  r = await fetch(`${base}/upload?dir=tmp`, {
    method: "PUT",
    headers: { "content-type": "text/csv", "log-id": "123", "x-request-id": "req-1" },
    body: "a,b\n1,2\n",
  });
  const up = await r.text();
  show(`PUT /upload -> ${r.status}`, up.trim());
  assert.equal(r.status, 201);
  assert.equal(up, "PUT /upload query=dir=tmp got 8 bytes of text/csv log-id=123 x-request-id=req-1\n");

  // A raw service: bytes in, bytes out.
  r = await fetch(`${base}/demo.Bytes/Reverse`, { method: "POST", body: "stressed" });
  assert.equal(await r.text(), "desserts");

  // File download: restful wildcard, the global "*.txt" pattern, 404 set by the handler.
  r = await fetch(`${base}/files/hello.txt`);
  assert.equal(r.headers.get("content-disposition"), 'attachment; filename="hello.txt"');
  assert.equal(await r.text(), "hello, world\n");
  r = await fetch(`${base}/hello.txt`);
  show(
    "GET /hello.txt (global *.txt mapping)",
    `${r.status} x-unresolved-path=${r.headers.get("x-unresolved-path")}`,
  );
  assert.equal(await r.text(), "hello, world\n");
  r = await fetch(`${base}/files/nope.txt`);
  assert.equal(r.status, 404);
  assert.equal(r.headers.get("x-bd-error-code"), null); // not a failed call
  await r.arrayBuffer();

  // gzip: responses of 512+ bytes when the handler asks and the client accepts gzip.
  const gz = await rawGet(`${base}/files/big.log`, { "accept-encoding": "gzip" });
  show(
    "GET /files/big.log (accept-encoding: gzip)",
    `content-encoding=${gz.headers["content-encoding"]} ${gz.body.length} bytes on the wire`,
  );
  assert.equal(gz.headers["content-encoding"], "gzip");
  assert.equal(gunzipSync(gz.body).toString(), files.get("big.log"));
  const plain = await rawGet(`${base}/files/big.log`, {});
  assert.equal(plain.headers["content-encoding"], undefined);

  // 6. Progressive (chunked) response and server-sent events, read as they come.
  const ticks = await httpRequest(`${base}/ticker`, { progressive: true, timeoutMs: 2000 });
  assert.equal(ticks.headers["transfer-encoding"], "chunked");
  const chunks: string[] = [];
  for await (const c of ticks.body as AsyncIterable<Buffer>) chunks.push(c.toString());
  show("GET /ticker (chunks as they came)", chunks);
  assert.equal(chunks.join(""), "tick 1\ntick 2\ntick 3\ndone\n");
  const ev = await fetch(`${base}/events`);
  assert.equal(ev.headers.get("content-type"), "text/event-stream");
  const evText = await ev.text();
  show("GET /events", JSON.stringify(evText));
  assert.equal(
    evText,
    "event: tick\nid: 1\ndata: n=1\n\nevent: tick\nid: 2\ndata: n=2\n\ndata: two\ndata: lines\n\n",
  );

  // 7. h2 with prior knowledge (h2c) on the same port: node:http2.
  const h2 = await h2Post(server.port, "/EchoService/Echo", '{"message":"over h2"}');
  show("h2c POST /EchoService/Echo", `${h2.status} ${h2.body}`);
  assert.equal(h2.status, 200);
  assert.equal(h2.body, '{"message":"over h2"}');

  // 8. brpc-ts Channels speaking http and h2 to the same port (typed calls).
  for (const protocol of ["http", "http:proto", "h2", "h2:json"]) {
    const ch = new Channel(server.address, { protocol });
    const res = await ch.client(ItemService).put({ name: protocol, id: 1n });
    assert.equal(res.id, 2n);
    ch.close();
  }
  const baidu = new Channel(server.address); // and baidu_std, same port
  assert.equal((await baidu.client(EchoService).echo({ message: "baidu_std" })).message, "baidu_std");
  baidu.close();
  show("Channels http, http:proto, h2, h2:json, baidu_std", "ok");

  // 9. Limits: body over maxBodySize (413, connection closed), head over maxHeaderSize (431),
  //    headers not complete within headerTimeoutMs (408, connection closed).
  r = await fetch(`${base}/upload`, { method: "POST", body: Buffer.alloc(2 * 1024 * 1024) });
  show("POST 2 MiB to /upload (maxBodySize 1 MiB)", `${r.status} connection=${r.headers.get("connection")}`);
  assert.equal(r.status, 413);
  r = await fetch(`${base}/EchoService/Echo`, { headers: { "x-big": "x".repeat(20_000) } });
  assert.equal(r.status, 431);
  const t0 = Date.now();
  const slow = await rawSocket(server.port, "GET /upload HTTP/1.1\r\nHost: x\r\n"); // never finishes its headers
  show(
    "headers never completed",
    `${slow.split("\r\n")[0]} after ${Math.round((Date.now() - t0) / 100) / 10}s, closed`,
  );
  assert.match(slow, /^HTTP\/1.1 408/);

  // 10. curl, when installed: the same lines as docs/http.md.
  if (hasCurl()) {
    // Asynchronously: the server runs in this process.
    const curl = async (...args: string[]) =>
      (await promisify(execFile)("curl", ["-sS", ...args], { encoding: "utf8" })).stdout;
    const out = await curl("-d", '{"message":"hi"}', `${server.address}/EchoService/Echo`);
    show('curl -d \'{"message":"hi"}\' .../EchoService/Echo', out);
    assert.equal(out, '{"message":"hi"}');
    assert.equal(await curl("--http2-prior-knowledge", `${server.address}/v1/items/pen`), itemText);
    assert.equal(await curl("--compressed", `${server.address}/files/big.log`), files.get("big.log"));
    assert.match(await curl("-N", `${server.address}/ticker`), /tick 3\ndone/);
  } else {
    console.log("curl not installed: curl lines skipped");
  }

  await server.stop();
  console.log("http-server: all checks passed");
}

// ---- small clients -----------------------------------------------------------------

function hasCurl(): boolean {
  try {
    execFileSync("curl", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** A GET with node:http, body as received (no automatic decompression). */
function rawGet(url: string, headers: Record<string, string>) {
  return new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
    httpRequestRaw(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
    })
      .on("error", reject)
      .end();
  });
}

/** One POST over h2c (prior knowledge) with node:http2. */
function h2Post(port: number, path: string, body: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/json" });
    let status = 0;
    req.on("response", (h) => {
      status = Number(h[":status"]);
    });
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      text += c;
    });
    req.on("end", () => {
      session.close();
      resolve({ status, body: text });
    });
    req.end(body);
  });
}

/** Send `bytes` on a raw TCP connection, resolve with what came back once it closed. */
function rawSocket(port: number, bytes: string) {
  return new Promise<string>((resolve, reject) => {
    const s = netConnect(port, "127.0.0.1", () => s.write(bytes));
    let got = "";
    s.setEncoding("latin1");
    s.on("data", (c: string) => {
      got += c;
    });
    s.on("error", reject);
    s.on("close", () => resolve(got));
  });
}
