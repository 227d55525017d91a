/**
 * gRPC on the server: one h2 stream with `content-type: application/grpc[+proto|+json]` is
 * one call of any of the four kinds (brpc's `policy/http2_rpc_protocol.cpp` does unary only).
 *
 * A call: the request headers give the method (`:path` = `/pkg.Service/Method`, or the
 * short service name), deadline (`grpc-timeout`), compression (`grpc-encoding`), log id and
 * metadata; admission follows brpc's HTTP order (ELOGOFF, lookup, method limit,
 * EOVERCROWDED, server limit); then the handler runs with the request message(s) and its
 * response message(s) go out as length-prefixed DATA, followed by the trailers
 * `grpc-status` / `grpc-message`. The response is always `:status 200`.
 */
import {
  type Http2ServerRequest,
  type Http2ServerResponse,
  constants as h2constants,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from "node:http2";
import { ErrorCode } from "../../errors/errno.js";
import { RpcError } from "../../errors/rpc-error.js";
import { type TimerHandle, timers } from "../../io/timers.js";
import { Writer } from "../../io/writer.js";
import { log } from "../../log.js";
import { type AuthState, connectionAuth } from "../../server/connection-auth.js";
import type { ServerContext } from "../../server/context.js";
import type { Server } from "../../server/server.js";
import { MethodEntry, ServiceEntry } from "../../server/service-registry.js";
import type { Connection } from "../../transport/connection.js";
import { type H2Request, H2Response } from "../h2/compat.js";
import { jsonToMessage, messageToJson } from "../http/json.js";
import {
  ACCEPT_ENCODING,
  acceptsEncoding,
  compressMessage,
  compressTypeOfEncoding,
  decompressMessage,
  encodeGrpcMessage,
  encodingOfCompressType,
  frameMessage,
  type GrpcEncoding,
  type GrpcMessage,
  GrpcStatus,
  grpcStatusOf,
  MessageDecoder,
  parseGrpcTimeout,
} from "./framing.js";
import { Health, type HealthCheckRequest, HealthCheckResponse_ServingStatus } from "./gen/health_pb.js";
import { addMetadata, type GrpcCallInfo, type MetadataValue, metadataOfHeaders } from "./metadata.js";

const PROTOCOL = "h2:grpc";
/** Full name of the builtin health service. */
export const HEALTH_SERVICE = "grpc.health.v1.Health";

/** Streaming requests queued for a handler that does not pull: reading pauses above these. */
const MAX_QUEUED_MESSAGES = 16;
const MAX_QUEUED_BYTES = 1024 * 1024;
/** setTimeout's limit; longer deadlines are not armed (they are beyond any test of patience). */
const MAX_TIMER_MS = 0x7fffffff;

/** Shared encoding buffer: framed messages are handed out with `take()` and never touched again. */
const writer = new Writer();

const EMPTY = Buffer.alloc(0);

type Kind = "unary" | "server_streaming" | "client_streaming" | "bidi_streaming";

/**
 * Serve one gRPC call: `req`/`res` are the h2 request whose content-type starts with
 * `application/grpc`, `conn` the brpc-ts connection it arrived on. Never throws.
 */
export function handleGrpc(
  server: Server,
  conn: Connection,
  req: Http2ServerRequest,
  res: Http2ServerResponse,
): void {
  try {
    new GrpcServerCall(server, conn, req, res).start();
  } catch (err) {
    log.error(`gRPC call from ${conn.remoteSide} failed unexpectedly`, err);
    try {
      res.stream.close(2 /* INTERNAL_ERROR */);
    } catch {}
  }
}

/** The message format of a gRPC content-type, or undefined if it is not one we serve. */
function subtypeOf(contentType: string | undefined): "proto" | "json" | undefined {
  if (contentType === undefined) return undefined;
  if (contentType === "application/grpc") return "proto";
  const semi = contentType.indexOf(";");
  const ct = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (ct === "application/grpc" || ct === "application/grpc+proto") return "proto";
  if (ct === "application/grpc+json") return "json";
  return undefined;
}

function headerValue(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

function parseU64(v: string | undefined): bigint | undefined {
  if (v === undefined || !/^\d{1,20}$/.test(v)) return undefined;
  const n = BigInt(v);
  return n < 1n << 64n ? n : undefined;
}

/** The call an h2 request / response object belongs to (listeners without closures). */
const kCall = Symbol("grpcCall");
type Tagged = { [kCall]: GrpcServerCall };

function callOf(o: unknown): GrpcServerCall {
  return (o as Tagged)[kCall];
}

function onResClose(this: Http2ServerResponse): void {
  callOf(this).onClosed();
}

function onResDrain(this: Http2ServerResponse): void {
  callOf(this).onDrain();
}

function onReqData(this: Http2ServerRequest, chunk: Buffer): void {
  callOf(this).onData(chunk);
}

function onReqEnd(this: Http2ServerRequest): void {
  callOf(this).onEnd();
}

/** `ctx.grpc` of a call: request metadata parsed, response metadata objects created on first use. */
class CallInfo implements GrpcCallInfo {
  readonly #call: GrpcServerCall;
  #requestMetadata: Record<string, string | Buffer> | undefined = undefined;
  #responseHeaders: Record<string, MetadataValue> | undefined = undefined;
  #responseTrailers: Record<string, MetadataValue> | undefined = undefined;
  status: number | undefined = undefined;
  readonly requestEncoding: string;
  readonly subtype: "proto" | "json";

  constructor(call: GrpcServerCall, requestEncoding: string, subtype: "proto" | "json") {
    this.#call = call;
    this.requestEncoding = requestEncoding;
    this.subtype = subtype;
  }

  get requestMetadata(): Record<string, string | Buffer> {
    this.#requestMetadata ??= metadataOfHeaders(this.#call.req.headers);
    return this.#requestMetadata;
  }

  get responseHeaders(): Record<string, MetadataValue> {
    this.#responseHeaders ??= {};
    return this.#responseHeaders;
  }

  get responseTrailers(): Record<string, MetadataValue> {
    this.#responseTrailers ??= {};
    return this.#responseTrailers;
  }

  /** Response header metadata, if any was set. */
  get headersToSend(): Record<string, MetadataValue> | undefined {
    return this.#responseHeaders;
  }

  /** Trailer metadata, if any was set. */
  get trailersToSend(): Record<string, MetadataValue> | undefined {
    return this.#responseTrailers;
  }
}

/** Response HEADERS without metadata, by content-type and encoding (shared, never mutated). */
const plainResponseHeaders = new Map<string, readonly string[]>();

const GRPC_RESPONSE_HEADERS: readonly string[] = [
  ":status",
  "200",
  "content-type",
  "application/grpc",
  "grpc-accept-encoding",
  ACCEPT_ENCODING,
];

function responseHeaderList(contentType: string, encoding: GrpcEncoding): readonly string[] {
  if (encoding === "identity" && contentType === "application/grpc") return GRPC_RESPONSE_HEADERS;
  const key = `${contentType} ${encoding}`;
  let list = plainResponseHeaders.get(key);
  if (list === undefined) {
    const l = [":status", "200", "content-type", contentType, "grpc-accept-encoding", ACCEPT_ENCODING];
    if (encoding !== "identity") l.push("grpc-encoding", encoding);
    list = l;
    // Content-types come from a short list of gRPC subtypes: bounded.
    if (plainResponseHeaders.size < 64) plainResponseHeaders.set(key, list);
  }
  return list;
}

const OK_TRAILERS: readonly string[] = ["grpc-status", "0"];

/** `ServerContext.protocolData` of a gRPC call is the call: the unary callback needs no closure. */
function onUnaryDone(ctx: ServerContext, res: unknown): void {
  (ctx.protocolData as GrpcServerCall).onUnaryResult(res);
}

function onDeadlineTimer(call: GrpcServerCall): void {
  call.timer = undefined;
  call.onDeadline();
}

class GrpcServerCall {
  readonly server: Server;
  readonly conn: Connection;
  readonly req: Http2ServerRequest;
  readonly res: Http2ServerResponse;
  ctx!: ServerContext;
  info!: CallInfo;
  method: MethodEntry | undefined;
  kind: Kind = "unary";
  builtin = false;
  responseContentType = "application/grpc";
  requestEncoding: GrpcEncoding = "identity";
  decoder: MessageDecoder;

  // Input.
  queue: GrpcMessage[] = [];
  queuedBytes = 0;
  received = 0;
  inputEnded = false;
  /** Why no more requests will come (framing error, cancellation, deadline). */
  inputError: RpcError | undefined;
  paused = false;
  /** The handler is done with the requests: read and drop the rest. */
  discarding = false;
  waiter: (() => void) | undefined;
  /** runUnary waits for the end of the request (wake() runs it again). */
  unaryWaiting = false;

  // Output.
  headersSent = false;
  responseEncoding: GrpcEncoding = "identity";
  encodingChosen = false;
  /** Request data handlers are installed. */
  listening = false;
  messagesSent = 0;
  /** Trailers sent (or being sent): nothing more is written. */
  finished = false;
  /** The h2 stream closed (reset by the client, connection lost, or we ended it). */
  closed = false;
  /** Status forced by terminate() (deadline, framing error), over ctx's mapping. */
  forcedStatus: number | undefined;
  timer: TimerHandle | undefined;
  drainWaiter: (() => void) | undefined;
  /** Served by the builtin h2 engine (which counts the connection's bytes itself). */
  readonly builtinH2: boolean;

  constructor(server: Server, conn: Connection, req: Http2ServerRequest, res: Http2ServerResponse) {
    this.server = server;
    this.conn = conn;
    this.req = req;
    this.res = res;
    this.builtinH2 = (res as unknown) instanceof H2Response;
    this.decoder = new MessageDecoder(server.options.maxBodySize);
  }

  /** Request header `name` (lower case). */
  header(name: string): string | undefined {
    if (this.builtinH2) return (this.req as unknown as H2Request).header(name);
    return headerValue(this.req.headers, name);
  }

  start(): void {
    const { res, server } = this;
    if (this.builtinH2) {
      // The builtin engine calls onClosed / onDrain directly (no listeners).
      (res as unknown as H2Response).sink = this;
    } else {
      res.sendDate = false;
      (res as unknown as Tagged)[kCall] = this;
      res.on("close", onResClose);
      res.on("drain", onResDrain);
    }

    const ct = this.header("content-type");
    const subtype = subtypeOf(ct);
    if (subtype === undefined || ct === undefined) {
      // Not a gRPC format we speak (e.g. application/grpc-web): plain HTTP answer.
      this.closedByUs();
      res.writeHead(415, { "content-type": "text/plain" });
      res.end(`Unsupported content-type ${ct ?? ""}\n`);
      this.req.resume();
      return;
    }
    this.responseContentType =
      ct !== "application/grpc" && ct.toLowerCase().startsWith("application/grpc+")
        ? `application/grpc+${subtype}`
        : "application/grpc";

    const ctx = server.newContext(PROTOCOL, this.conn);
    this.ctx = ctx;
    ctx.protocolData = this;
    const encodingHeader = this.header("grpc-encoding");
    const compressType = compressTypeOfEncoding(encodingHeader);
    this.requestEncoding = (
      compressType === undefined ? "identity" : encodingHeader || "identity"
    ) as GrpcEncoding;
    this.info = new CallInfo(this, encodingHeader ?? "identity", subtype);
    ctx.grpc = this.info;
    ctx.contentType = subtype === "json" ? 1 : 0;
    ctx.requestCompressType = compressType ?? 0;
    ctx.logId = parseU64(this.header("log-id"));
    ctx.requestId = this.header("x-request-id");
    ctx.traceId = parseU64(this.header("x-bd-trace-id"));
    ctx.spanId = parseU64(this.header("x-bd-span-id"));
    ctx.parentSpanId = parseU64(this.header("x-bd-parent-span-id"));
    const path = this.header(":path") ?? "";
    const slash = path.indexOf("/", 1);
    if (path.startsWith("/") && slash > 1) {
      ctx.serviceName = path.slice(1, slash);
      ctx.methodName = path.slice(slash + 1);
    }

    const timeoutUs = parseGrpcTimeout(this.header("grpc-timeout"));
    if (timeoutUs !== undefined) {
      const ms = timeoutUs / 1000;
      ctx.timeoutMs = Math.ceil(ms);
      if (ms <= 0) {
        this.terminate(ErrorCode.ERPCTIMEDOUT, "Reached timeout=0ms", GrpcStatus.DEADLINE_EXCEEDED);
        this.release();
        return;
      }
      if (ms <= MAX_TIMER_MS) {
        this.timer = timers.after(Math.max(1, Math.round(ms)), onDeadlineTimer, this);
      }
    }

    if (compressType === undefined) {
      // gRPC: an encoding we do not support is UNIMPLEMENTED, with what we accept.
      ctx.setFailed(ErrorCode.ENOMETHOD, `Compression algorithm ${encodingHeader} is not supported`);
      this.forcedStatus = GrpcStatus.UNIMPLEMENTED;
      this.finishAndRelease();
      return;
    }

    const auth = this.authenticate();
    if (auth instanceof Promise) {
      auth.then(
        (s) => this.admitAndRun(s),
        (err) => {
          log.error("gRPC authentication failed unexpectedly", err);
          this.admitAndRun({ ok: false, context: undefined });
        },
      );
    } else {
      this.admitAndRun(auth);
    }
  }

  /** The connection's authentication state, verifying this request's credential if it is the first. */
  authenticate(): AuthState | Promise<AuthState> {
    return connectionAuth(this.server, this.conn, () =>
      Buffer.from(this.header("authorization") ?? "", "utf8"),
    );
  }

  /** Admission in brpc's HTTP order, then the handler. */
  admitAndRun(auth: AuthState): void {
    const { ctx, server } = this;
    if (this.finished) return;
    if (!auth.ok) {
      const extra = server.options.auth?.unauthorizedErrorText?.() ?? "";
      ctx.setFailed(ErrorCode.ERPCAUTH, `Fail to authenticate${extra ? `: ${extra}` : ""}`);
      this.finishAndRelease();
      return;
    }
    ctx.authContext = auth.context;
    if (!server.checkRunning(ctx)) {
      this.finishAndRelease();
      return;
    }
    const method = this.lookup();
    if (method === undefined) {
      const path = this.header(":path") ?? "";
      ctx.setFailed(ErrorCode.ENOMETHOD, `Fail to find method on \`${path}'`);
      this.finishAndRelease();
      return;
    }
    this.method = method;
    this.kind = (method.desc?.methodKind ?? "unary") as Kind;
    if (this.builtin) {
      ctx.method = method;
    } else if (
      !server.enterMethod(ctx, method) ||
      !server.checkOvercrowded(ctx) ||
      !server.enterServer(ctx)
    ) {
      this.finishAndRelease();
      return;
    }
    this.listen();
    if (this.kind === "unary" && method.handler !== undefined) {
      this.runUnary();
      return;
    }
    this.run().then(
      () => this.release(),
      (err) => {
        log.error(`gRPC call ${ctx.fullMethodName} failed unexpectedly`, err);
        this.release();
      },
    );
  }

  /** The method of `:path`, the builtin health check included. */
  lookup(): MethodEntry | undefined {
    const { ctx, server } = this;
    if (ctx.serviceName === "" || ctx.methodName === "" || ctx.methodName.includes("/")) return undefined;
    const svc = server.findService(ctx.serviceName);
    if (svc === undefined && ctx.serviceName === HEALTH_SERVICE) {
      const m = healthService(server).methods.get(ctx.methodName);
      if (m !== undefined) this.builtin = true;
      return m;
    }
    return svc?.methods.get(ctx.methodName);
  }

  // ---- input ------------------------------------------------------------------------

  listen(): void {
    const { req } = this;
    this.listening = true;
    if (this.builtinH2) {
      (req as unknown as H2Request).readInto(this);
      return;
    }
    (req as unknown as Tagged)[kCall] = this;
    req.on("data", onReqData);
    req.on("end", onReqEnd);
    req.on("error", noop);
  }

  onData(chunk: Buffer): void {
    if (this.discarding) return;
    if (!this.builtinH2) this.conn.bytesIn += chunk.length;
    try {
      this.decoder.push(chunk, this);
    } catch (err) {
      this.failInput(RpcError.from(err));
    }
  }

  onMessage(m: GrpcMessage): void {
    if (this.discarding) return;
    this.received++;
    this.conn.messagesIn++;
    if (this.received > 1 && (this.kind === "unary" || this.kind === "server_streaming")) {
      throw new RpcError(ErrorCode.EINTERNAL, `Too many request messages for ${this.kind} method`);
    }
    this.queue.push(m);
    this.queuedBytes += m.data.length;
    // rpcz counts the DATA bytes: 5-byte prefix + message.
    if (this.ctx.span !== undefined) this.ctx.span.requestSize += m.data.length + 5;
    if (
      !this.paused &&
      (this.queue.length >= MAX_QUEUED_MESSAGES || this.queuedBytes >= MAX_QUEUED_BYTES) &&
      (this.kind === "client_streaming" || this.kind === "bidi_streaming")
    ) {
      this.paused = true;
      this.req.pause();
    }
    this.wake();
  }

  onEnd(): void {
    if (this.inputEnded) return;
    this.inputEnded = true;
    const partial = this.decoder.describePartial();
    if (!this.discarding && partial !== "") {
      this.failInput(
        new RpcError(ErrorCode.EINTERNAL, `Incomplete gRPC message at the end of the request (${partial})`),
      );
      return;
    }
    this.wake();
  }

  /** The request stream is unusable: fail the call now and drop what else comes. */
  failInput(err: RpcError): void {
    if (this.inputError !== undefined) return;
    this.terminate(err.code, err.text);
  }

  wake(): void {
    if (this.unaryWaiting) {
      this.unaryWaiting = false;
      this.runUnary();
      return;
    }
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      w();
    }
  }

  wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Stop delivering requests: the rest of the stream is read and dropped. */
  discard(): void {
    this.discarding = true;
    if (this.queue.length > 0) this.queue = [];
    this.queuedBytes = 0;
    if (this.paused) {
      this.paused = false;
      this.req.resume();
    }
  }

  /** Decode one received message into the request type. */
  async decode(m: GrpcMessage): Promise<unknown> {
    if (!m.compressed) return this.decodeData(m.data);
    return this.decodeData(
      await decompressMessage(this.requestEncoding, m.data, this.server.options.maxBodySize),
    );
  }

  /** Decode an uncompressed request payload. Throws EREQUEST. */
  decodeData(data: Buffer): unknown {
    const method = this.method!;
    if (method.raw) return data;
    const desc = method.input!;
    let msg: unknown;
    try {
      msg =
        this.info.subtype === "json"
          ? jsonToMessage(desc, data.toString("utf8"))
          : method.inputCodec!.decode(data, 0, data.length);
    } catch (err) {
      throw new RpcError(
        ErrorCode.EREQUEST,
        `Fail to parse request message ${desc.typeName} (${this.info.subtype}): ${(err as Error).message}`,
      );
    }
    const missing = method.inputCodec!.missingRequired(msg);
    if (missing !== undefined) {
      throw new RpcError(ErrorCode.EREQUEST, `Missing required fields in request: ${missing}`);
    }
    return msg;
  }

  /** The request of a unary or server-streaming call, once the client half-closed. */
  async readSingle(): Promise<unknown> {
    while (!this.inputEnded && this.inputError === undefined) await this.wait();
    if (this.inputError !== undefined) throw this.inputError;
    const m = this.queue.shift();
    this.discard();
    if (m === undefined) throw new RpcError(ErrorCode.EINTERNAL, "Missing request message");
    return this.decode(m);
  }

  /** Next request of a streaming call. Throws the reason when the call ended early. */
  async nextRequest(): Promise<IteratorResult<unknown>> {
    for (;;) {
      if (this.inputError !== undefined) throw this.inputError;
      if (this.discarding) return { done: true, value: undefined };
      const m = this.queue.shift();
      if (m !== undefined) {
        this.queuedBytes -= m.data.length;
        if (
          this.paused &&
          this.queue.length < MAX_QUEUED_MESSAGES / 2 &&
          this.queuedBytes < MAX_QUEUED_BYTES / 2
        ) {
          this.paused = false;
          this.req.resume();
        }
        try {
          return { done: false, value: await this.decode(m) };
        } catch (err) {
          const e = RpcError.from(err);
          this.terminate(e.code, e.text);
          throw e;
        }
      }
      if (this.inputEnded) return { done: true, value: undefined };
      await this.wait();
    }
  }

  requests(): AsyncIterable<unknown> {
    const it: AsyncIterator<unknown> & AsyncIterable<unknown> = {
      next: () => this.nextRequest(),
      return: async () => {
        this.discard();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  // ---- the call -------------------------------------------------------------------

  async run(): Promise<void> {
    const { ctx } = this;
    const method = this.method!;
    try {
      if (method.handler === undefined) {
        ctx.setFailed(ErrorCode.EINTERNAL, `Method ${method.name}() not implemented.`);
        return;
      }
      const single = this.kind === "unary" || this.kind === "server_streaming";
      const arg = single ? await this.readSingle() : this.requests();
      if (this.finished) return;
      const out = await this.invoke(arg);
      if (ctx.failed || this.finished) return;
      if (this.kind === "unary" || this.kind === "client_streaming") {
        await this.writeMessage(out);
      } else {
        await this.pump(out);
      }
    } catch (err) {
      if (!this.finished) failFrom(ctx, err);
    } finally {
      this.discard();
      this.finish();
    }
  }

  /**
   * A unary call without a promise chain: once the request is complete, decode it, run
   * the handler and write the response and trailers from its callback. The same steps
   * and outcomes as {@link run}; compressed messages take the asynchronous path.
   */
  runUnary(): void {
    if (!this.inputEnded && this.inputError === undefined && !this.finished) {
      this.unaryWaiting = true;
      return;
    }
    let arg: unknown;
    try {
      if (this.inputError !== undefined) throw this.inputError;
      const m = this.queue.shift();
      this.discard();
      if (m === undefined) throw new RpcError(ErrorCode.EINTERNAL, "Missing request message");
      if (m.compressed) {
        this.decode(m).then(
          (a) => this.invokeUnary(a),
          (err) => this.endUnary(err),
        );
        return;
      }
      arg = this.decodeData(m.data);
    } catch (err) {
      this.endUnary(err);
      return;
    }
    this.invokeUnary(arg);
  }

  invokeUnary(arg: unknown): void {
    if (this.finished) {
      this.endUnary(undefined);
      return;
    }
    this.server.invoke(this.method!, arg, this.ctx, onUnaryDone);
  }

  onUnaryResult(res: unknown): void {
    if (this.ctx.failed || this.finished) {
      this.endUnary(undefined);
      return;
    }
    if (this.chooseEncoding() !== "identity") {
      this.writeMessage(res).then(
        () => this.endUnary(undefined),
        (err) => this.endUnary(err),
      );
      return;
    }
    try {
      this.writeFramed(this.encode(res, true));
    } catch (err) {
      this.endUnary(err);
      return;
    }
    // The trailers queue behind the message: no need to wait for the stream to drain.
    this.endUnary(undefined);
  }

  /** End of a unary call: `err` (if any) fails it, then the status goes out. */
  endUnary(err: unknown): void {
    try {
      if (err !== undefined && !this.finished) failFrom(this.ctx, err);
      this.discard();
      this.finish();
    } finally {
      this.release();
    }
  }

  /** Run the handler with `arg` (server.invoke: missing handler, throws, promises). */
  invoke(arg: unknown): Promise<unknown> {
    return new Promise((resolve) =>
      this.server.invoke(this.method!, arg, this.ctx, (_ctx, res) => resolve(res)),
    );
  }

  /** Send every response of a streaming handler's output. */
  async pump(out: unknown): Promise<void> {
    if (out === null || typeof out !== "object" || !(Symbol.asyncIterator in out || Symbol.iterator in out)) {
      throw new RpcError(
        ErrorCode.EINTERNAL,
        `${this.method!.fullName}: a streaming handler must return an (async) iterable`,
      );
    }
    for await (const m of out as AsyncIterable<unknown>) {
      if (!(await this.writeMessage(m))) break;
      if (this.ctx.failed) break;
    }
  }

  // ---- output -----------------------------------------------------------------------

  /**
   * Serialize a response message; with `framed`, as a whole uncompressed length-prefixed
   * message. Throws ERESPONSE.
   */
  encode(res: unknown, framed: boolean): Uint8Array {
    const method = this.method!;
    if (method.raw) {
      let bytes: Uint8Array = EMPTY;
      if (typeof res === "string") bytes = Buffer.from(res, "utf8");
      else if (res instanceof Uint8Array) bytes = res;
      return framed ? frameMessage(bytes, false) : bytes;
    }
    if (res === undefined || res === null) res = {};
    const codec = method.outputCodec!;
    const missing = codec.missingRequired(res);
    if (missing !== undefined)
      throw new RpcError(ErrorCode.ERESPONSE, `Missing required fields in response: ${missing}`);
    try {
      if (this.info.subtype === "json") {
        const json = Buffer.from(messageToJson(method.output!, res), "utf8");
        return framed ? frameMessage(json, false) : json;
      }
      const at = writer.mark();
      try {
        if (framed) {
          writer.u8(0);
          writer.u32be(0);
        }
        const start = writer.mark();
        codec.encode(res, writer);
        if (framed) writer.u32beAt(start - 4, writer.mark() - start);
      } catch (err) {
        writer.rewind(at);
        throw err;
      }
      return writer.take();
    } catch (err) {
      log.warn(`Fail to serialize response of ${method.fullName}`, err);
      throw new RpcError(
        ErrorCode.ERESPONSE,
        `Fail to serialize response=${method.output?.typeName}: ${(err as Error).message}`,
      );
    }
  }

  /** Send one response message; false when the call is over (nothing more can be sent). */
  async writeMessage(res: unknown): Promise<boolean> {
    if (this.finished || this.closed) return false;
    const enc = this.chooseEncoding();
    let framed: Uint8Array;
    if (enc === "identity") {
      framed = this.encode(res, true);
    } else {
      const payload = await compressMessage(enc, this.encode(res, false));
      framed = frameMessage(payload, true);
    }
    if (this.finished || this.closed) return false;
    const ok = this.writeFramed(framed);
    if (ok !== false) return ok === true;
    // h2 flow control or a slow socket: wait until the stream takes more.
    await new Promise<void>((resolve) => {
      this.drainWaiter = resolve;
    });
    return !this.finished && !this.closed;
  }

  /**
   * Write one framed message (the response HEADERS first): true if the stream takes more
   * now, false if it is full (wait for 'drain'), undefined if the write failed.
   */
  writeFramed(framed: Uint8Array): boolean | undefined {
    if (this.finished || this.closed) return undefined;
    let ok: boolean;
    try {
      this.sendHeaders();
      ok = this.res.write(framed);
    } catch (err) {
      log.debug(`${this.ctx.fullMethodName}: write failed`, err);
      return undefined;
    }
    this.messagesSent++;
    this.conn.messagesOut++;
    if (!this.builtinH2) this.conn.bytesOut += framed.length;
    if (this.ctx.span !== undefined) this.ctx.span.responseSize += framed.length;
    return ok;
  }

  onDrain(): void {
    const w = this.drainWaiter;
    if (w !== undefined) {
      this.drainWaiter = undefined;
      w();
    }
  }

  /** Message encoding of the response, fixed on first use: `ctx.responseCompressType` if the client accepts it. */
  chooseEncoding(): GrpcEncoding {
    if (!this.encodingChosen) {
      this.encodingChosen = true;
      const enc = encodingOfCompressType(this.ctx.responseCompressType);
      if (enc !== undefined && acceptsEncoding(this.header("grpc-accept-encoding"), enc)) {
        this.responseEncoding = enc;
      }
    }
    return this.responseEncoding;
  }

  sendHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.chooseEncoding();
    const md = this.info?.headersToSend;
    const uf = this.ctx?.responseUserFields;
    if (this.builtinH2 && (md === undefined || isEmpty(md)) && (uf === undefined || isEmpty(uf))) {
      (this.res as unknown as H2Response).writeHeadFlat(
        responseHeaderList(this.responseContentType, this.responseEncoding),
      );
      return;
    }
    const headers: OutgoingHttpHeaders = {
      "content-type": this.responseContentType,
      "grpc-accept-encoding": ACCEPT_ENCODING,
    };
    if (this.responseEncoding !== "identity") headers["grpc-encoding"] = this.responseEncoding;
    if (md !== undefined) addMetadata(headers, md);
    // user_fields travel as response metadata.
    if (uf !== undefined) addMetadata(headers, uf);
    try {
      this.res.writeHead(200, headers);
    } catch (err) {
      log.warn(`${this.ctx.fullMethodName}: invalid response metadata, sent without it`, err);
      const base: OutgoingHttpHeaders = {
        "content-type": headers["content-type"],
        "grpc-accept-encoding": ACCEPT_ENCODING,
      };
      if (this.responseEncoding !== "identity") base["grpc-encoding"] = this.responseEncoding;
      this.res.writeHead(200, base);
    }
  }

  /** Status of the call as sent in grpc-status. */
  status(): number {
    if (this.forcedStatus !== undefined) return this.forcedStatus;
    if (!this.ctx.failed) return GrpcStatus.OK;
    return this.info.status ?? grpcStatusOf(this.ctx.errorCode);
  }

  /** Send the trailers (with HEADERS first if none went out) and end the response. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.clearTimer();
    this.onDrain();
    // Whatever the client still sends is dropped.
    if (!this.listening) this.req.resume();
    if (this.closed) return;
    const status = this.status();
    try {
      // brpc answers a failed unary call with HEADERS, an empty message, then the trailers.
      // We leave the empty message out: gRPC clients would parse it, and fail on a
      // response type with required fields instead of reporting the status.
      this.sendHeaders();
      const md = this.info?.trailersToSend;
      if (status === GrpcStatus.OK && this.builtinH2 && (md === undefined || isEmpty(md))) {
        (this.res as unknown as H2Response).endWithTrailers(OK_TRAILERS);
      } else {
        const trailers: OutgoingHttpHeaders = { "grpc-status": String(status) };
        if (status !== GrpcStatus.OK) trailers["grpc-message"] = encodeGrpcMessage(this.ctx.errorText);
        if (md !== undefined) addMetadata(trailers, md);
        this.res.addTrailers(trailers);
        this.res.end();
      }
      this.resetAfterTrailers();
    } catch (err) {
      log.warn(`${this.ctx.fullMethodName}: failed to end the gRPC response`, err);
      try {
        this.res.stream.close(2 /* INTERNAL_ERROR */);
      } catch {}
    }
  }

  /**
   * The response ended before the client half-closed: like grpc-go and brpc, end the
   * stream with RST_STREAM(NO_ERROR) once the trailers are out, so the client's stream
   * closes and the rest of the request is not transferred for nothing.
   */
  resetAfterTrailers(): void {
    // The usual case: the client has half-closed already.
    if (this.inputEnded) return;
    const stream = this.res.stream;
    if (this.builtinH2) {
      // The builtin engine sends the RST_STREAM behind the trailers (also when they wait for flow control).
      if (!stream.destroyed && !stream.readableEnded) stream.close(h2constants.NGHTTP2_NO_ERROR);
      return;
    }
    const reset = (): void => {
      if (!stream.destroyed && !stream.readableEnded && !this.inputEnded)
        stream.close(h2constants.NGHTTP2_NO_ERROR);
    };
    // Node's compat layer sends the trailers on 'wantTrailers' (after the last DATA frame);
    // the RST is submitted behind them.
    stream.once("wantTrailers", () => setImmediate(reset));
  }

  /**
   * End the call now with `code` (deadline, bad input): the status goes out, the
   * handler's signal aborts and its request iteration throws.
   */
  terminate(code: number, text: string, status?: number): void {
    if (this.finished) return;
    this.ctx.setFailed(code, text);
    if (status !== undefined) this.forcedStatus = status;
    const err = new RpcError(code, this.ctx.errorText);
    this.inputError ??= err;
    this.finish();
    this.discard();
    this.ctx.abort(err);
    this.wake();
  }

  onDeadline(): void {
    this.terminate(
      ErrorCode.ERPCTIMEDOUT,
      `Reached timeout=${this.ctx.timeoutMs}ms`,
      GrpcStatus.DEADLINE_EXCEEDED,
    );
  }

  clearTimer(): void {
    if (this.timer !== undefined) {
      timers.cancel(this.timer);
      this.timer = undefined;
    }
  }

  /** The stream closed: by us after the trailers, or by a client reset / lost connection. */
  onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimer();
    this.onDrain();
    if (this.finished) return;
    // Cancelled: nothing can be sent any more.
    this.finished = true;
    const c = this.conn;
    const err = c.failed
      ? new RpcError(c.errorCode, c.errorText)
      : new RpcError(
          ErrorCode.ECANCELED,
          `The client cancelled the call (RST_STREAM ${this.res.stream.rstCode ?? 0})`,
        );
    this.inputError ??= err;
    this.discard();
    this.ctx?.abort(err);
    this.wake();
  }

  closedByUs(): void {
    this.finished = true;
  }

  finishAndRelease(): void {
    this.finish();
    this.release();
  }

  /** The call is over: release what admission counted (exactly once) and the context's watchers. */
  release(): void {
    this.clearTimer();
    this.server.endCall(this.ctx);
    this.ctx.finish();
  }
}

function noop(): void {}

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

function failFrom(ctx: ServerContext, err: unknown): void {
  if (err instanceof RpcError) {
    ctx.setFailed(err.code, err.text);
    return;
  }
  log.error(`${ctx.fullMethodName} threw`, err);
  ctx.setFailed(ErrorCode.EINTERNAL, err instanceof Error ? err.message : String(err));
}

// ---- builtin grpc.health.v1.Health ------------------------------------------------------

const healthServices = new WeakMap<Server, ServiceEntry>();

/**
 * The builtin health service of `server` (brpc `GrpcHealthCheckService`): Check answers
 * SERVING for "" and for every service the server has, NOT_FOUND for others. Used when
 * the user did not add a `grpc.health.v1.Health` of their own.
 */
function healthService(server: Server): ServiceEntry {
  let svc = healthServices.get(server);
  if (svc === undefined) {
    svc = new ServiceEntry(HEALTH_SERVICE, Health);
    const desc = Health.methods.find((m) => m.name === "Check")!;
    const check = (req: HealthCheckRequest, ctx: ServerContext) => {
      const name = req.service;
      if (name === "" || name === HEALTH_SERVICE || server.registry.byFullName(name) !== undefined) {
        return { status: HealthCheckResponse_ServingStatus.SERVING };
      }
      ctx.setFailed(ErrorCode.ENOSERVICE, `unknown service ${name}`);
      if (ctx.grpc !== undefined) ctx.grpc.status = GrpcStatus.NOT_FOUND;
      return {};
    };
    svc.methods.set("Check", new MethodEntry(svc, "Check", desc, check as never));
    healthServices.set(server, svc);
  }
  return svc;
}
