/**
 * HTTP/1.x and h2 (non-gRPC) requests on the server, after brpc's `ProcessHttpRequest`
 * and `HttpResponseSender` (src/brpc/policy/http_rpc_protocol.cpp): URL -> method,
 * admission in brpc's HTTP order, body <-> message by content type (or raw bodies for
 * "http services"), brpc's error mapping, gzip, log-id / x-request-id / tracing headers.
 */
import type { ServerResponse } from "node:http";
import { type Http2ServerRequest, type Http2ServerResponse, constants as h2constants } from "node:http2";
import { gunzipSync, gzipSync } from "node:zlib";
import { create, type DescMessage, fromJsonString, isMessage, toJsonString } from "@bufbuild/protobuf";
import { fromText, toText } from "@bufbuild/protobuf/txtpb";
import type { AuthContext } from "../../auth.js";
import { ErrorCode } from "../../errors/errno.js";
import { RpcError } from "../../errors/rpc-error.js";
import { Writer } from "../../io/writer.js";
import { log } from "../../log.js";
import { type AuthState, connectionAuth } from "../../server/connection-auth.js";
import type { ServerContext } from "../../server/context.js";
import type { Server } from "../../server/server.js";
import type { MethodEntry } from "../../server/service-registry.js";
import type { Connection } from "../../transport/connection.js";
import { rawBytes } from "../baidu-std/payload.js";
import { CompressType } from "../compress.js";
import { type AnyRequest, type AnyResponse, HttpCall } from "./call.js";
import {
  contentTypeHeaderOf,
  errorCodeToStatus,
  HttpContentType,
  parseContentType,
  rpcContentTypeOf,
} from "./content-type.js";
import { Json2PbError, jsonToMessage, messageToJson } from "./json.js";
import { findRoute } from "./route.js";

const EMPTY = Buffer.alloc(0);
/** brpc's `-http_body_compress_threshold`: smaller responses are never gzipped. */
export const GZIP_THRESHOLD = 512;
/** Connection-specific headers h2 forbids (node throws on them). */
const H2_FORBIDDEN = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "proxy-connection",
]);

/** Shared encoder for application/proto responses; each body is taken out of it once. */
const writer = new Writer();

function header(req: AnyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function isH2(req: AnyRequest): boolean {
  return req.httpVersionMajor >= 2;
}

/** The connection's auth state, verifying `req`'s credential if it is the connection's first request. */
function authenticate(server: Server, conn: Connection, req: AnyRequest): AuthState | Promise<AuthState> {
  return connectionAuth(server, conn, () => Buffer.from(header(req, "authorization") ?? "", "utf8"));
}

/** brpc's `SendUnauthorizedResponse` for HTTP: 403 "[1004]Fail to authenticate[: text]", then close. */
function sendUnauthorized(server: Server, conn: Connection, req: AnyRequest, res: AnyResponse): void {
  const extra = server.options.auth?.unauthorizedErrorText?.() ?? "";
  const body = Buffer.from(`[${ErrorCode.ERPCAUTH}]Fail to authenticate${extra ? `: ${extra}` : ""}`);
  req.resume();
  try {
    const headers: Record<string, string | number> = { "Content-Length": body.length };
    if (!isH2(req)) headers.Connection = "close";
    res.writeHead(403, headers);
    (res as ServerResponse).end(body, () => {
      if (isH2(req)) (req as Http2ServerRequest).stream.session?.close();
      else conn.close();
    });
  } catch (err) {
    log.debug(`cannot answer ${conn.remoteSide}`, err);
    conn.close();
  }
}

/** 413 for a body over max_body_size; HTTP/1 closes the connection, h2 resets the stream after answering. */
function sendTooLarge(conn: Connection, req: AnyRequest, res: AnyResponse): void {
  log.warn(`Close ${conn.remoteSide}: http body is larger than max_body_size=${conn.options.maxBodySize}`);
  try {
    if (isH2(req)) {
      res.writeHead(413, { "content-length": 0 });
      (res as Http2ServerResponse).end(() => {
        const s = (req as Http2ServerRequest).stream;
        if (!s.destroyed) s.close(h2constants.NGHTTP2_NO_ERROR);
      });
    } else {
      res.writeHead(413, { Connection: "close", "Content-Length": 0 });
      (res as ServerResponse).end(() => conn.close());
    }
  } catch (err) {
    log.debug(`cannot answer ${conn.remoteSide}`, err);
    conn.close();
  }
}

/**
 * Serve one HTTP/1.x or h2 (non-gRPC) request that arrived on `conn`. Reads the body
 * (up to the server's maxBodySize), then runs brpc's request processing. Never throws.
 */
export function serveHttp(server: Server, conn: Connection, req: AnyRequest, res: AnyResponse): void {
  // An aborted request must not raise an unhandled 'error'.
  req.on("error", noop);
  res.on("error", noop);
  const auth = authenticate(server, conn, req);
  if (auth instanceof Promise) {
    req.pause();
    auth.then(
      (s) => {
        if (s.ok) readBody(server, conn, req, res, s.context);
        else sendUnauthorized(server, conn, req, res);
      },
      () => sendUnauthorized(server, conn, req, res),
    );
    return;
  }
  if (!auth.ok) {
    sendUnauthorized(server, conn, req, res);
    return;
  }
  readBody(server, conn, req, res, auth.context);
}

function noop(): void {}

function readBody(
  server: Server,
  conn: Connection,
  req: AnyRequest,
  res: AnyResponse,
  authContext: AuthContext | undefined,
): void {
  const max = server.options.maxBodySize;
  const cl = header(req, "content-length");
  if (cl !== undefined && Number(cl) > max) {
    sendTooLarge(conn, req, res);
    req.resume();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let done = false;
  req.on("data", (c: Buffer) => {
    if (done) return;
    size += c.length;
    if (size > max) {
      done = true;
      chunks.length = 0;
      sendTooLarge(conn, req, res);
      return;
    }
    chunks.push(c);
  });
  req.on("end", () => {
    if (done) return;
    done = true;
    const body =
      chunks.length === 0 ? EMPTY : chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
    try {
      processRequest(server, conn, req, res, body, authContext);
    } catch (err) {
      log.error(`http request from ${conn.remoteSide} failed unexpectedly`, err);
      if (!res.headersSent) {
        try {
          res.writeHead(500);
          res.end();
        } catch {}
      }
    }
  });
  req.resume();
}

function parseUint64(s: string | undefined): bigint | undefined {
  if (s === undefined || !/^\d+$/.test(s)) return undefined;
  const v = BigInt(s);
  return v <= 0xffffffffffffffffn ? v : undefined;
}

function processRequest(
  server: Server,
  conn: Connection,
  req: AnyRequest,
  res: AnyResponse,
  body: Buffer,
  authContext: AuthContext | undefined,
): void {
  conn.activity++;
  const h2 = isH2(req);
  const ctx = server.newContext(h2 ? "h2" : "http", conn);
  const call = new HttpCall(req, res);
  ctx.http = call;
  ctx.authContext = authContext;
  call.h2 = h2;
  call.requestContentType = header(req, "content-type");

  const logId = header(req, "log-id");
  if (logId !== undefined) {
    const v = parseUint64(logId);
    if (v === undefined) log.warn(`Invalid log-id=${logId} in http request`);
    else ctx.logId = v;
  }
  ctx.requestId = header(req, "x-request-id");
  ctx.traceId = parseUint64(header(req, "x-bd-trace-id"));
  ctx.spanId = parseUint64(header(req, "x-bd-span-id"));
  ctx.parentSpanId = parseUint64(header(req, "x-bd-parent-span-id"));
  // An h2 client resetting its stream aborts ctx.signal (HTTP/1: only the connection can
  // go away, and its failure aborts the signal already).
  if (h2) {
    res.on("close", () => {
      if (!res.writableFinished)
        ctx.abort(new RpcError(ErrorCode.ECANCELED, "the client closed the request"));
    });
  }

  // brpc's order for HTTP: ELOGOFF, lookup, method limit, EOVERCROWDED, server limit.
  const running = server.checkRunning(ctx);
  if (ctx.span !== undefined) ctx.span.requestSize = body.length;
  if (!running) {
    respond(ctx, undefined);
    return;
  }
  const route = findRoute(server, call.path);
  if (route === undefined || route.kind === "no-method") {
    ctx.setFailed(ErrorCode.ENOMETHOD, route?.text || `Fail to find method on \`${call.path}'`);
    respond(ctx, undefined);
    return;
  }
  ctx.unresolvedPath = route.unresolvedPath;
  if (route.kind === "builtin") {
    // Builtin pages are not method calls: no method statistics, no non-service errors.
    ctx.metricsDone = true;
    ctx.span = undefined; // builtin pages are not traced
    ctx.requestAttachment = body;
    let out: void | Promise<void>;
    try {
      out = route.service(ctx, server);
    } catch (err) {
      ctx.setFailed(ErrorCode.EINTERNAL, err instanceof Error ? err.message : String(err));
      respond(ctx, undefined);
      return;
    }
    if (out instanceof Promise) {
      out.then(
        () => respond(ctx, undefined),
        (err) => {
          if (err instanceof RpcError) ctx.setFailed(err.code, err.text);
          else ctx.setFailed(ErrorCode.EINTERNAL, err instanceof Error ? err.message : String(err));
          respond(ctx, undefined);
        },
      );
    } else {
      respond(ctx, undefined);
    }
    return;
  }
  const method = route.method;
  ctx.serviceName = method.service.fullName;
  ctx.methodName = method.name;
  if (!server.enterMethod(ctx, method) || !server.checkOvercrowded(ctx) || !server.enterServer(ctx)) {
    respond(ctx, undefined);
    return;
  }
  const request = decodeRequest(server, ctx, call, method, body);
  if (ctx.failed) {
    respond(ctx, undefined);
    return;
  }
  server.invoke(method, request, ctx, respond);
}

/** True for a typed method whose request message has fields (a "protobuf service" in brpc's terms). */
function hasFields(d: DescMessage | undefined): d is DescMessage {
  return d !== undefined && d.fields.length > 0;
}

function decodeRequest(
  server: Server,
  ctx: ServerContext,
  call: HttpCall,
  method: MethodEntry,
  body: Buffer,
): unknown {
  const input = method.input;
  if (input === undefined) {
    // A raw service: the bytes in, as is.
    ctx.requestAttachment = body;
    return body;
  }
  if (!hasFields(input)) {
    // An "http service": the body is the request attachment.
    ctx.requestAttachment = body;
    return create(input);
  }
  const ct = parseContentType(call.requestContentType);
  call.codec = ct.type;
  ctx.contentType = rpcContentTypeOf(ct.type);
  const codec = method.inputCodec!;
  const typeName = input.typeName;
  if (body.length === 0) {
    const msg = create(input);
    if (codec.missingRequired(msg) !== undefined) {
      ctx.setFailed(
        ErrorCode.EREQUEST,
        `${typeName} needs to be created from a non-empty json, it has required fields.`,
      );
      return undefined;
    }
    return msg;
  }
  const encoding = ctx.http?.header("content-encoding");
  if (encoding === "gzip") {
    try {
      body = gunzipSync(body, { maxOutputLength: Math.max(1, server.options.maxBodySize) });
    } catch (err) {
      log.debug(`Fail to un-gzip request body from ${ctx.remoteSide}`, err);
      ctx.setFailed(ErrorCode.EREQUEST, "Fail to un-gzip request body");
      return undefined;
    }
    ctx.requestCompressType = CompressType.GZIP;
  }
  switch (ct.type) {
    case HttpContentType.PROTO: {
      try {
        const msg = codec.decode(body, 0, body.length);
        if (codec.missingRequired(msg) !== undefined) throw new Error("missing required fields");
        return msg;
      } catch {
        ctx.setFailed(ErrorCode.EREQUEST, `Fail to parse http body as ${typeName}`);
        return undefined;
      }
    }
    case HttpContentType.PROTO_TEXT: {
      try {
        const msg = fromText(input, body.toString("utf8"));
        if (codec.missingRequired(msg) !== undefined) throw new Error("missing required fields");
        return msg;
      } catch {
        ctx.setFailed(ErrorCode.EREQUEST, `Fail to parse http proto-text body as ${typeName}`);
        return undefined;
      }
    }
    case HttpContentType.PROTO_JSON: {
      try {
        const msg = fromJsonString(input, body.toString("utf8"), { ignoreUnknownFields: true });
        const missing = codec.missingRequired(msg);
        if (missing !== undefined) throw new Error(`Missing required field: ${typeName}.${missing}`);
        return msg;
      } catch (err) {
        ctx.setFailed(
          ErrorCode.EREQUEST,
          `Fail to parse http proto-json body as ${typeName}: ${(err as Error).message}`,
        );
        return undefined;
      }
    }
    default: {
      try {
        return jsonToMessage(input, body.toString("utf8"));
      } catch (err) {
        const reason = err instanceof Json2PbError ? err.message : String(err);
        ctx.setFailed(ErrorCode.EREQUEST, `Fail to parse http json body as ${typeName}: ${reason}`);
        return undefined;
      }
    }
  }
}

function asMessage(desc: DescMessage, v: unknown) {
  return isMessage(v, desc) ? v : create(desc, (v ?? {}) as never);
}

/**
 * Serialize a pb response with the request's codec (text formats as a string, sent as
 * UTF-8); sets ERESPONSE on failure.
 */
function encodeResponse(
  ctx: ServerContext,
  call: HttpCall,
  method: MethodEntry,
  res: unknown,
): Buffer | string | undefined {
  const out = method.output as DescMessage;
  const typeName = out.typeName;
  switch (call.codec) {
    case HttpContentType.PROTO: {
      const codec = method.outputCodec!;
      const missing = codec.missingRequired(res ?? {});
      if (missing !== undefined) {
        ctx.setFailed(ErrorCode.ERESPONSE, `Fail to serialize ${typeName}`);
        return undefined;
      }
      const at = writer.mark();
      try {
        codec.encode(res ?? {}, writer);
      } catch {
        writer.rewind(at);
        ctx.setFailed(ErrorCode.ERESPONSE, `Fail to serialize ${typeName}`);
        return undefined;
      }
      return writer.take();
    }
    case HttpContentType.PROTO_TEXT:
      try {
        return toText(out, asMessage(out, res));
      } catch {
        ctx.setFailed(ErrorCode.ERESPONSE, `Fail to print ${typeName} as proto-text`);
        return undefined;
      }
    case HttpContentType.PROTO_JSON:
      try {
        return toJsonString(out, asMessage(out, res));
      } catch (err) {
        ctx.setFailed(
          ErrorCode.ERESPONSE,
          `Fail to convert ${typeName} to proto-json: ${(err as Error).message}`,
        );
        return undefined;
      }
    default:
      try {
        return messageToJson(out, res);
      } catch (err) {
        ctx.setFailed(ErrorCode.ERESPONSE, `Fail to convert ${typeName} to json: ${(err as Error).message}`);
        return undefined;
      }
  }
}

function acceptsGzip(ctx: ServerContext): boolean {
  const v = ctx.http?.headers["accept-encoding"];
  return typeof v === "string" && v.includes("gzip");
}

/** Send the response of `ctx` (brpc's `HttpResponseSender`) and end the call. Never throws. */
export function respond(ctx: ServerContext, result: unknown): void {
  const server = ctx.connection.state.server as Server;
  try {
    writeResponse(ctx, result);
  } catch (err) {
    log.error(`cannot answer ${ctx.remoteSide}`, err);
  } finally {
    ctx.connection.activity++;
    server.endCall(ctx);
  }
}

function gone(res: AnyResponse): boolean {
  if (res.writableEnded) return true;
  const r = res as { destroyed?: boolean; stream?: { destroyed: boolean } };
  return r.destroyed === true || r.stream?.destroyed === true;
}

function byteLength(body: Uint8Array | string): number {
  return typeof body === "string" ? Buffer.byteLength(body, "utf8") : body.length;
}

function writeResponse(ctx: ServerContext, result: unknown): void {
  const call = ctx.http as HttpCall;
  const res = call.res;
  const w = call.writer;
  if (gone(res)) {
    w?.fail();
    return;
  }
  const method = ctx.method;
  let body: Uint8Array | string = EMPTY;
  let defaultContentType = call.requestContentType;
  if (!ctx.failed) {
    const attachment = rawBytes(ctx.responseAttachment);
    if (method !== undefined && method.output === undefined) {
      // Raw service: the handler's bytes, else the attachment.
      const r = rawBytes(result);
      body = r.length > 0 ? r : attachment;
    } else if (method !== undefined && hasFields(method.output) && attachment.length === 0) {
      const b = encodeResponse(ctx, call, method, result);
      if (b !== undefined) body = b;
      if (call.codec === HttpContentType.OTHERS)
        defaultContentType = contentTypeHeaderOf(HttpContentType.JSON);
    } else {
      body = attachment;
    }
  }
  const server = ctx.connection.state.server as Server;
  let status = call.status;
  let headers: Record<string, string | string[]>;
  // user_fields go out as headers (what a brpc-ts http client reads back as user fields).
  const uf = ctx.responseUserFields;
  if (uf !== undefined) for (const k of Object.keys(uf)) call.setHeader(k, uf[k]!);
  if (
    !ctx.failed &&
    w === undefined &&
    call.noResponseHeaders &&
    (call.h2 || server.running) &&
    (ctx.responseCompressType !== CompressType.GZIP || byteLength(body) < GZIP_THRESHOLD)
  ) {
    // The usual answer: no header from the handler, nothing to compress.
    headers =
      defaultContentType === undefined
        ? { "Content-Length": String(byteLength(body)) }
        : { "Content-Type": defaultContentType, "Content-Length": String(byteLength(body)) };
  } else {
    if (defaultContentType !== undefined && call.getHeader("content-type") === undefined) {
      call.setHeader("Content-Type", defaultContentType);
    }
    if (ctx.failed) {
      if (status === 200) status = errorCodeToStatus(ctx.errorCode);
      call.setHeader("x-bd-error-code", String(ctx.errorCode));
      call.removeHeader("content-encoding");
      call.setHeader("Content-Type", "text/plain");
      body = ctx.errorText;
      w?.fail(new RpcError(ctx.errorCode, ctx.errorText));
    } else if (w === undefined && ctx.responseCompressType === CompressType.GZIP) {
      if (byteLength(body) >= GZIP_THRESHOLD && acceptsGzip(ctx)) {
        body = gzipSync(body);
        call.setHeader("Content-Encoding", "gzip");
      }
    }
    if (!call.h2 && !server.running) call.setHeader("Connection", "close");
    headers = call.responseHeaders;
    if (call.h2) {
      for (const k of Object.keys(headers)) if (H2_FORBIDDEN.has(k.toLowerCase())) delete headers[k];
    }
    if (w === undefined || ctx.failed) {
      for (const k of Object.keys(headers)) if (k.toLowerCase() === "content-length") delete headers[k];
      headers["Content-Length"] = String(byteLength(body));
    }
  }
  const progressive = w !== undefined && !ctx.failed;
  try {
    res.writeHead(status, headers);
  } catch (err) {
    // Bad user headers (e.g. control characters): answer 500 instead.
    log.warn(`invalid http response headers of ${ctx.fullMethodName}`, err);
    const text = Buffer.from(`[E${ErrorCode.EINTERNAL}]invalid response headers: ${(err as Error).message}`);
    w?.fail();
    res.writeHead(500, { "Content-Type": "text/plain", "Content-Length": String(text.length) });
    (res as ServerResponse).end(text);
    return;
  }
  if (progressive) {
    w.onActivity = () => ctx.connection.activity++;
    w.attach(res);
    return;
  }
  if (ctx.span !== undefined) ctx.span.responseSize = byteLength(body);
  (res as ServerResponse).end(body);
}
