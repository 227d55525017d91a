/**
 * docs/grpc.md: gRPC on a brpc-ts server port and from a brpc-ts Channel.
 *
 * - a brpc-ts Server serving grpctest.Calc (unary, server, client and bidi streaming) and
 *   example.EchoService, called by @grpc/grpc-js clients: metadata, response headers and
 *   trailers, deadlines, gzip, brpc -> gRPC statuses, the builtin health check;
 * - brpc-ts Channels with protocol "h2:grpc" calling that server and a @grpc/grpc-js server
 *   (gRPC -> brpc codes), all four method kinds;
 * - node:http2 and curl (when installed) speaking gRPC by hand: length-prefixed messages, trailers.
 *
 *   node dist/examples/docs/grpc.js               runs the checks, exits 0
 *   node dist/examples/docs/grpc.js --serve 8000  serves 127.0.0.1:8000 for the grpcurl / curl lines of docs/grpc.md
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { connect as h2connect } from "node:http2";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { create, type DescService, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  Channel,
  Controller,
  ErrorCode,
  GrpcStatus,
  grpcStatusToErrorCode,
  RpcError,
  Server,
  type ServiceImpl,
} from "../../src/index.js";
import { Calc, type Num } from "../../test/gen/grpc_test_pb.js";
import { EchoService } from "../gen/peer_pb.js";

// ---- the brpc-ts server ------------------------------------------------------------

/** Handlers of grpctest.Calc: one per method kind. */
const calcImpl: ServiceImpl<typeof Calc> = {
  // Unary: (request, ctx) => response.
  async echo(req, ctx) {
    if (req.sleepMs > 0) {
      // ctx.signal aborts when the grpc-timeout deadline passes or the client cancels.
      await sleep(req.sleepMs, undefined, { signal: ctx.signal }).catch(() => {});
      if (ctx.signal.aborted) console.log(`  server: echo(${req.text}) aborted: ${ctx.signal.reason}`);
    }
    if (req.failCode === 404) {
      ctx.setFailed(ErrorCode.ENOMETHOD, `no item ${req.text}`);
      ctx.grpc!.status = GrpcStatus.NOT_FOUND; // a status brpc codes cannot express
      return {};
    }
    if (req.failCode !== 0) throw new RpcError(req.failCode, `failed on purpose: ${req.text}`);
    const g = ctx.grpc;
    if (g !== undefined) {
      g.responseHeaders["x-served-by"] = "brpc-ts";
      g.responseTrailers["x-request-bytes"] = String(req.blob.length);
      ctx.responseCompressType = ctx.requestCompressType; // answer gzip with gzip
    }
    const user = g?.requestMetadata["x-user"] ?? "-";
    return {
      value: req.value,
      text: `${req.text} user=${user} log-id=${ctx.logId ?? "-"} deadline=${ctx.timeoutMs ?? "-"}ms`,
    };
  },
  // Server streaming: (request, ctx) => AsyncIterable of responses.
  async *count(req, ctx) {
    for (let i = 1; i <= req.value && !ctx.signal.aborted; i++) {
      yield { value: i };
      if (req.sleepMs > 0) await sleep(req.sleepMs);
    }
    if (req.failCode !== 0) throw new RpcError(req.failCode, `stopped after ${req.value}`);
  },
  // Client streaming: (AsyncIterable of requests, ctx) => response.
  async add(reqs) {
    let total = 0;
    let count = 0;
    for await (const n of reqs) {
      total += n.value;
      count++;
    }
    return { total, count };
  },
  // Bidi streaming: (AsyncIterable of requests, ctx) => AsyncIterable of responses.
  async *chat(reqs) {
    for await (const n of reqs) yield { value: n.value * 2, text: `re: ${n.text}` };
  },
  // nothing: no handler -> INTERNAL "Method Nothing() not implemented."
};

async function startServer(address: string): Promise<Server> {
  const server = new Server();
  server.addService(Calc, calcImpl);
  server.addService(EchoService, {
    echo(req, ctx) {
      if (req.failCode !== 0) ctx.setFailed(req.failCode, `failed on purpose: ${req.message}`);
      return { message: req.message };
    },
  });
  await server.start(address);
  return server;
}

// ---- grpc-js from @bufbuild descriptors ----------------------------------------------

/**
 * A @grpc/grpc-js service definition built from a protoc-gen-es service descriptor, so
 * grpc-js clients and servers use the same generated code as brpc-ts.
 */
function grpcJsDefinition(desc: DescService): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const m of desc.methods) {
    def[m.localName] = {
      path: `/${desc.typeName}/${m.name}`,
      requestStream: m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming",
      responseStream: m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming",
      requestSerialize: (v) => Buffer.from(toBinary(m.input, create(m.input, v as never))),
      requestDeserialize: (b) => fromBinary(m.input, b),
      responseSerialize: (v) => Buffer.from(toBinary(m.output, create(m.output, v as never))),
      responseDeserialize: (b) => fromBinary(m.output, b),
      originalName: m.localName,
    };
  }
  return def as grpc.ServiceDefinition;
}

/** A grpc-js client of `desc` (methods by local name, callback style). */
// biome-ignore lint/suspicious/noExplicitAny: grpc-js generic clients are untyped
type GrpcJsClient = grpc.Client & Record<string, any>;
function grpcJsClient(desc: DescService, address: string, options: grpc.ClientOptions = {}): GrpcJsClient {
  const Ctor = grpc.makeGenericClientConstructor(grpcJsDefinition(desc), desc.typeName);
  return new Ctor(address, grpc.credentials.createInsecure(), options) as GrpcJsClient;
}

interface UnaryResult<T> {
  value: T;
  headers: grpc.Metadata;
  trailers: grpc.Metadata;
}

function grpcUnary<T>(
  client: GrpcJsClient,
  method: string,
  req: object,
  md = new grpc.Metadata(),
  opts: grpc.CallOptions = {},
): Promise<UnaryResult<T>> {
  return new Promise((resolve, reject) => {
    let headers = new grpc.Metadata();
    let trailers = new grpc.Metadata();
    let value: T | undefined;
    let error: Error | undefined;
    let pending = 2;
    const done = () => {
      if (--pending > 0) return;
      if (error) reject(error);
      else resolve({ value: value as T, headers, trailers });
    };
    const call = client[method](req, md, opts, (err: Error | null, v: T) => {
      error = err ?? undefined;
      value = v;
      done();
    });
    call.on("metadata", (m: grpc.Metadata) => {
      headers = m;
    });
    call.on("status", (s: grpc.StatusObject) => {
      trailers = s.metadata;
      done();
    });
  });
}

async function rejectsWith(p: Promise<unknown>, code: number): Promise<string> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    assert.equal(e.code, code, `got ${e.code} ${e.details}`);
    return `${grpc.status[e.code]} "${e.details}"`;
  }
  assert.fail("expected a failure");
}

// ---- the checks --------------------------------------------------------------------

const serveAt = process.argv.indexOf("--serve");
if (serveAt >= 0) {
  const server = await startServer(`127.0.0.1:${process.argv[serveAt + 1] ?? "8000"}`);
  console.log(`serving grpctest.Calc and example.EchoService on ${server.address}; Ctrl-C to stop`);
  process.on("SIGINT", () => void server.stop().then(() => process.exit(0)));
} else {
  await runChecks();
}

async function runChecks(): Promise<void> {
  const server = await startServer("127.0.0.1:0");
  const addr = server.address;
  const show = (label: string, v: unknown) =>
    console.log(`${label.padEnd(48)} ${typeof v === "string" ? v : JSON.stringify(v, bigints)}`);
  console.log(`brpc-ts server on ${addr}`);

  // 1. grpc-js client -> brpc-ts server.
  const calc = grpcJsClient(Calc, addr);
  const md = new grpc.Metadata();
  md.set("x-user", "ann");
  md.set("log-id", "42");
  const u = await grpcUnary<Num>(calc, "echo", { value: 1, text: "hi", blob: Buffer.alloc(3) }, md, {
    deadline: Date.now() + 5000,
  });
  show("grpc-js echo", u.value.text);
  assert.match(u.value.text, /^hi user=ann log-id=42 deadline=\d+ms$/);
  assert.deepEqual(u.headers.get("x-served-by"), ["brpc-ts"]);
  assert.deepEqual(u.trailers.get("x-request-bytes"), ["3"]);

  const counted: number[] = [];
  for await (const n of calc.count({ value: 3 }) as AsyncIterable<Num>) counted.push(n.value);
  show("grpc-js count (server streaming)", counted);
  assert.deepEqual(counted, [1, 2, 3]);

  const sum = await new Promise<{ total: number; count: number }>((resolve, reject) => {
    const call = calc.add((err: Error | null, v: { total: number; count: number }) =>
      err ? reject(err) : resolve(v),
    );
    for (const value of [1, 2, 3, 4]) call.write({ value });
    call.end();
  });
  show("grpc-js add (client streaming)", { total: sum.total, count: sum.count });
  assert.deepEqual({ total: sum.total, count: sum.count }, { total: 10, count: 4 });

  const chat = calc.chat();
  const replies: string[] = [];
  chat.on("data", (n: Num) => replies.push(`${n.value}:${n.text}`));
  chat.write({ value: 1, text: "a" });
  chat.write({ value: 2, text: "b" });
  chat.end();
  await new Promise((resolve) => chat.on("end", resolve));
  show("grpc-js chat (bidi streaming)", replies);
  assert.deepEqual(replies, ["2:re: a", "4:re: b"]);

  // Errors: brpc code -> gRPC status, grpc-message = brpc's error text.
  show(
    "  EPERM thrown",
    await rejectsWith(
      grpcUnary(calc, "echo", { text: "x", failCode: ErrorCode.EPERM }),
      grpc.status.PERMISSION_DENIED,
    ),
  );
  show(
    "  EINTERNAL thrown",
    await rejectsWith(grpcUnary(calc, "echo", { text: "x", failCode: 2001 }), grpc.status.INTERNAL),
  );
  show(
    "  ctx.grpc.status override",
    await rejectsWith(grpcUnary(calc, "echo", { text: "pen", failCode: 404 }), grpc.status.NOT_FOUND),
  );
  show("  method without handler", await rejectsWith(grpcUnary(calc, "nothing", {}), grpc.status.INTERNAL));
  show(
    "  deadline 100 ms, handler sleeps",
    await rejectsWith(
      grpcUnary(calc, "echo", { text: "slow", sleepMs: 5000 }, new grpc.Metadata(), {
        deadline: Date.now() + 100,
      }),
      grpc.status.DEADLINE_EXCEEDED,
    ),
  );
  const wrongPath = new grpc.Client(addr, grpc.credentials.createInsecure());
  show(
    "  unknown method",
    await rejectsWith(
      new Promise((resolve, reject) =>
        wrongPath.makeUnaryRequest(
          "/grpctest.Calc/Nope",
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.alloc(0),
          (err, v) => (err ? reject(err) : resolve(v)),
        ),
      ),
      grpc.status.UNIMPLEMENTED,
    ),
  );
  wrongPath.close();
  // A stream that fails after two messages: the messages, then the status.
  const got: number[] = [];
  const streamErr = await rejectsWith(
    (async () => {
      for await (const n of calc.count({ value: 2, failCode: ErrorCode.ELIMIT }) as AsyncIterable<Num>)
        got.push(n.value);
    })(),
    grpc.status.RESOURCE_EXHAUSTED,
  );
  show("  server stream failing after 2 messages", `${JSON.stringify(got)} then ${streamErr}`);
  assert.deepEqual(got, [1, 2]);
  calc.close();

  // gzip both ways (grpc-js compresses requests with this channel option).
  const gz = grpcJsClient(Calc, addr, { "grpc.default_compression_algorithm": 2 });
  const g = await grpcUnary<Num>(gz, "echo", { value: 5, text: "zipped", blob: Buffer.alloc(10_000, 1) });
  assert.equal(g.value.value, 5);
  gz.close();

  // Health check (builtin grpc.health.v1.Health/Check): SERVING = 1; unknown service: NOT_FOUND.
  const health = new grpc.Client(addr, grpc.credentials.createInsecure());
  const check = (service: string) =>
    new Promise<Buffer>((resolve, reject) =>
      health.makeUnaryRequest(
        "/grpc.health.v1.Health/Check",
        (s: string) => Buffer.concat([Buffer.from([0x0a, s.length]), Buffer.from(s)]), // HealthCheckRequest{service}
        (b: Buffer) => b,
        service,
        (err, v) => (err ? reject(err) : resolve(v as Buffer)),
      ),
    );
  assert.deepEqual(await check(""), Buffer.from([0x08, 0x01])); // {status: SERVING}
  assert.deepEqual(await check("grpctest.Calc"), Buffer.from([0x08, 0x01]));
  show('health Check("nope")', await rejectsWith(check("nope"), grpc.status.NOT_FOUND));
  health.close();

  // 2. brpc-ts Channel, protocol h2:grpc -> brpc-ts server (typed, all kinds).
  const ch = new Channel(addr, { protocol: "h2:grpc", timeoutMs: 2000 });
  const c = ch.client(Calc);
  const cntl = new Controller();
  const r = await c.echo(
    { value: 7, text: "from Channel" },
    { controller: cntl, logId: 9n, userFields: { "x-user": "bob" } },
  );
  show("Channel h2:grpc echo", r.text);
  assert.match(r.text, /user=bob log-id=9 deadline=\d+ms/);
  assert.equal(cntl.httpResponseHeaders?.["x-served-by"], "brpc-ts");
  const streamed: number[] = [];
  for await (const n of c.count({ value: 4 })) streamed.push(n.value);
  const total = await c.add([{ value: 5 }, { value: 6 }]);
  const doubled: number[] = [];
  for await (const n of c.chat(
    (async function* () {
      for (let i = 1; i <= 3; i++) yield { value: i };
    })(),
  ))
    doubled.push(n.value);
  show("Channel count / add / chat", `${JSON.stringify(streamed)} ${total.total} ${JSON.stringify(doubled)}`);
  assert.deepEqual([streamed, total.total, doubled], [[1, 2, 3, 4], 11, [2, 4, 6]]);
  // brpc code -> gRPC status -> brpc code.
  for (const code of [ErrorCode.EPERM, ErrorCode.ELIMIT, 2001, ErrorCode.ERESPONSE]) {
    const e = await c.echo({ text: "x", failCode: code }).then(() => assert.fail(), RpcError.from);
    show(`  server fails with ${code}: client gets`, `${e.code} ${e.text}`);
    assert.equal(
      e.code,
      grpcStatusToErrorCode(code === ErrorCode.EPERM ? 7 : code === ErrorCode.ELIMIT ? 8 : 13),
    );
  }
  const raw = await ch.callRaw("grpc.health.v1.Health", "Check", new Uint8Array(0));
  assert.deepEqual(raw, Buffer.from([0x08, 0x01]));
  ch.close();

  // 3. brpc-ts Channel -> a @grpc/grpc-js server.
  const peer = new grpc.Server();
  peer.addService(grpcJsDefinition(Calc), {
    echo(call: grpc.ServerUnaryCall<Num, object>, cb: grpc.sendUnaryData<object>) {
      if (call.request.failCode !== 0) {
        cb({ code: grpc.status.NOT_FOUND, details: `no ${call.request.text}` });
        return;
      }
      const user = call.metadata.get("x-user")[0] ?? "-";
      const trailers = new grpc.Metadata();
      trailers.set("x-peer", "grpc-js");
      cb(
        null,
        {
          value: call.request.value,
          text: `grpc-js saw user=${user} log-id=${call.metadata.get("log-id")[0]}`,
        },
        trailers,
      );
    },
    count(call: grpc.ServerWritableStream<Num, object>) {
      for (let i = 1; i <= call.request.value; i++) call.write({ value: i });
      call.end();
    },
    add(call: grpc.ServerReadableStream<Num, object>, cb: grpc.sendUnaryData<object>) {
      let total = 0;
      call.on("data", (n: Num) => {
        total += n.value;
      });
      call.on("end", () => cb(null, { total }));
    },
    chat(call: grpc.ServerDuplexStream<Num, object>) {
      call.on("data", (n: Num) => call.write({ value: -n.value }));
      call.on("end", () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    peer.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const toPeer = new Channel(`127.0.0.1:${port}`, { protocol: "h2:grpc", timeoutMs: 2000 });
  const pc = toPeer.client(Calc);
  const pcntl = new Controller();
  const pr = await pc.echo(
    { value: 1, text: "x" },
    { controller: pcntl, logId: 5n, userFields: { "x-user": "cy" } },
  );
  show(
    "Channel -> grpc-js server echo",
    `${pr.text}, trailer x-peer=${pcntl.responseUserFields?.["x-peer"]}`,
  );
  assert.equal(pr.text, "grpc-js saw user=cy log-id=5");
  const pn: number[] = [];
  for await (const n of pc.count({ value: 2 })) pn.push(n.value);
  const pt = await pc.add([{ value: 2 }, { value: 3 }]);
  const pb: number[] = [];
  for await (const n of pc.chat([{ value: 1 }, { value: 2 }])) pb.push(n.value);
  assert.deepEqual([pn, pt.total, pb], [[1, 2], 5, [-1, -2]]);
  const notFound = await pc.echo({ text: "pen", failCode: 1 }).then(() => assert.fail(), RpcError.from);
  show("grpc-js NOT_FOUND reaches the Channel as", `${notFound.codeName}(${notFound.code}) ${notFound.text}`);
  assert.equal(notFound.code, ErrorCode.EINTERNAL);
  toPeer.close();
  await new Promise<void>((resolve) => peer.tryShutdown(() => resolve()));

  // 4. gRPC by hand with node:http2: HEADERS, one length-prefixed message, trailers.
  const hand = await h2Grpc(
    server.port,
    "/example.EchoService/Echo",
    Buffer.from('{"message":"by hand"}'),
    "application/grpc+json",
  );
  show("node:http2 application/grpc+json", `${hand.message} ${JSON.stringify(hand.trailers)}`);
  assert.equal(hand.message, '{"message":"by hand"}');
  assert.equal(hand.trailers["grpc-status"], "0");

  // 5. curl, when installed (as in docs/grpc.md).
  const curl = promisify(execFile);
  try {
    const body = Buffer.concat([Buffer.from([0, 0, 0, 0, 16]), Buffer.from('{"message":"hi"}')]);
    const child = curl(
      "curl",
      [
        "-sS",
        "--http2-prior-knowledge",
        "-H",
        "Content-Type: application/grpc+json",
        "-H",
        "TE: trailers",
        "--data-binary",
        "@-",
        `${addr}/example.EchoService/Echo`,
      ],
      { encoding: "latin1" },
    );
    child.child.stdin?.end(body);
    const out = (await child).stdout;
    show("curl gRPC (application/grpc+json)", JSON.stringify(out));
    assert.equal(out, '\0\0\0\0\x10{"message":"hi"}');
  } catch (err) {
    if ((err as { code?: string }).code !== "ENOENT") throw err;
    console.log("curl not installed: curl lines skipped");
  }

  await server.stop();
  console.log("grpc: all checks passed");
}

function bigints(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? String(v) : v;
}

/** One gRPC call with node:http2: returns the response message (unframed) and the trailers. */
function h2Grpc(port: number, path: string, message: Buffer, contentType: string) {
  return new Promise<{ message: string; trailers: Record<string, unknown> }>((resolve, reject) => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const req = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": contentType,
      te: "trailers",
    });
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    const chunks: Buffer[] = [];
    let trailers: Record<string, unknown> = {};
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("trailers", (t) => {
      trailers = { "grpc-status": t["grpc-status"], "grpc-message": t["grpc-message"] };
    });
    req.on("end", () => {
      session.close();
      resolve({ message: Buffer.concat(chunks).subarray(5).toString(), trailers });
    });
    req.end(Buffer.concat([prefix, message]));
  });
}
