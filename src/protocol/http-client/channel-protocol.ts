/**
 * The Channel protocols `http`, `h2` and `h2:grpc` and brpc's variants (`http:json`,
 * `http:proto`, `h2:json`, `h2:proto`, `h2:grpc+json`, any `<http|h2>:<content type>`),
 * after brpc's `SerializeHttpRequest` / `PackHttpRequest` / `ProcessHttpResponse`:
 * POST `/<full service name>/<Method>`, `Accept: *\/*`, `User-Agent: brpc/1.0 curl/7.0`,
 * `log-id`, `x-request-id`, user fields as headers; gRPC adds `te: trailers`,
 * `grpc-timeout` and length-prefixed (optionally gzipped) messages.
 */
import type { IncomingMessage } from "node:http";
import { gzipSync } from "node:zlib";
import type { ClientCall } from "../../client/call.js";
import type { ConnectionType } from "../../client/channel-core.js";
import { ErrorCode } from "../../errors/errno.js";
import { clientSpanSent } from "../../rpcz/trace.js";
import { rawBytes } from "../baidu-std/payload.js";
import { CompressType, compressTypeName } from "../compress.js";
import { formatGrpcTimeout } from "../grpc/framing.js";
import { BuiltinH2Attempt } from "../h2/client-attempt.js";
import { ParseError, type Protocol } from "../protocol.js";
import { type BodyFormat, encodeMessage, hasNoFields, parseContentType } from "./content.js";
import { grpcFrame, H2Attempt } from "./h2.js";
import { Http1Attempt } from "./http1.js";
import { finishHttpCall, headersRecord } from "./response.js";
import { StreamExchange } from "./streaming.js";
import { H2Transport, Http1Transport, HttpTransport, type TransportOptions } from "./transport.js";

/** What a protocol name means. */
export interface HttpClientSpec {
  readonly name: string;
  readonly h2: boolean;
  readonly grpc: boolean;
  /** Content-Type of requests. */
  readonly contentType: string;
  /** How request messages are encoded. */
  readonly format: BodyFormat;
}

/** brpc `-http_body_compress_threshold`: smaller HTTP bodies are sent uncompressed. */
export const HTTP_BODY_COMPRESS_THRESHOLD = 512;
const USER_AGENT = "brpc/1.0 curl/7.0";
const EMPTY = Buffer.alloc(0);

/** A request ready to go on either transport. */
export interface OutgoingRequest {
  path: string;
  /** Header names in brpc's spelling; h2 lower-cases them. */
  headers: Record<string, string>;
  /** Whole body (gRPC: the framed message); undefined for client/bidi streaming. */
  body: Buffer | undefined;
  exchange: StreamExchange | undefined;
  /** gRPC: gzip every request message. */
  gzip: boolean;
}

/** Headers the user may not set through user fields (they are the protocol's). */
const RESERVED = new Set([
  "content-length",
  "content-type",
  "host",
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "te",
  "proxy-connection",
  "grpc-timeout",
  "grpc-encoding",
]);

function addUserHeaders(out: Record<string, string>, fields: Record<string, string> | undefined): void {
  if (fields === undefined) return;
  for (const [k, v] of Object.entries(fields)) {
    const key = k.toLowerCase();
    if (key.startsWith(":") || RESERVED.has(key)) continue;
    out[k] = v;
  }
}

/** Build the request of the current attempt; throws an Error with brpc's EREQUEST text. */
export function buildRequest(
  call: ClientCall,
  spec: HttpClientSpec,
  ex: StreamExchange | undefined,
  host: string,
): OutgoingRequest {
  const m = call.method;
  const headers: Record<string, string> = {};
  const ct = call.compressType;
  if (ct !== CompressType.NONE && ct !== CompressType.GZIP) {
    throw new Error(`http does not support ${compressTypeName(ct)}`);
  }
  const t = m.input;
  const att = call.attachment;
  let body: Buffer | undefined;
  let gzip = false;
  if (spec.grpc) {
    if (att.length > 0) throw new Error("request_attachment must be empty when request is not NULL");
    gzip = ct === CompressType.GZIP;
    if (ex === undefined) body = grpcFrame(call, spec, call.request, gzip);
    else if (ex.kind === "server_streaming") body = grpcFrame(call, spec, ex.input, gzip);
  } else {
    if (t.codec === undefined) {
      const raw = rawBytes(call.request);
      body = att.length === 0 ? Buffer.from(raw) : Buffer.concat([raw, att]);
    } else if (hasNoFields(t) && att.length > 0) {
      // A brpc "http service" (request type without fields): the attachment is the body.
      body = Buffer.from(att);
    } else {
      if (att.length > 0) throw new Error("request_attachment must be empty when request is not NULL");
      body = encodeMessage(t, call.request, spec.format, spec.contentType);
    }
    if (ct === CompressType.GZIP && body.length >= HTTP_BODY_COMPRESS_THRESHOLD) {
      body = gzipSync(body);
      headers["Content-Encoding"] = "gzip";
    }
  }
  if (!spec.h2) {
    // brpc's order: Content-Length, Host, Content-Type, log-id, Accept, User-Agent.
    headers["Content-Length"] = String(body?.length ?? 0);
    headers.Host = host;
  }
  headers["Content-Type"] = spec.contentType;
  if (call.logId !== undefined) headers["log-id"] = call.logId.toString();
  if (call.requestId !== undefined) headers["x-request-id"] = call.requestId;
  headers.Accept = "*/*";
  headers["User-Agent"] = USER_AGENT;
  if (spec.grpc) {
    headers.te = "trailers";
    const left = call.remainingMs();
    if (left !== undefined) headers["grpc-timeout"] = formatGrpcTimeout(left);
    if (gzip) headers["grpc-encoding"] = "gzip";
    headers["grpc-accept-encoding"] = "identity,deflate,gzip";
  }
  const span = call.span;
  if (span !== undefined) {
    // rpcz: brpc's tracing headers, in decimal.
    headers["x-bd-trace-id"] = span.traceId.toString();
    headers["x-bd-span-id"] = span.spanId.toString();
    headers["x-bd-parent-span-id"] = span.parentSpanId.toString();
    span.requestSize = body?.length ?? 0;
    clientSpanSent(span);
  }
  addUserHeaders(headers, call.userFields);
  addUserHeaders(headers, call.cntl?.httpRequestHeaders);
  return { path: `/${m.serviceName}/${m.name}`, headers, body, exchange: ex, gzip };
}

/** The http/1.1 response handler of Channel calls. */
const http1Handler = {
  onBody(a: Http1Attempt, res: IncomingMessage, body: Buffer): void {
    finishHttpCall(a.call, {
      status: res.statusCode ?? 0,
      reason: res.statusMessage ?? "",
      version: res.httpVersion,
      headers: headersRecord(res.headers),
      body,
    });
  },
};

function send(call: ClientCall, spec: HttpClientSpec, t: HttpTransport, out: OutgoingRequest): void {
  if (spec.h2) {
    const h2 = t as H2Transport;
    if (h2.builtin) new BuiltinH2Attempt(call, spec, h2, out);
    else new H2Attempt(call, spec, h2, out);
    return;
  }
  const left = call.remainingMs();
  const connectTimeout = call.channel.options.connectTimeoutMs;
  new Http1Attempt(
    call,
    {
      agent: (t as Http1Transport).agent,
      tls: false,
      endpoint: t.endpoint,
      address: t.address,
      method: "POST",
      path: out.path,
      headers: out.headers,
      body: out.body ?? EMPTY,
      connectTimeoutMs: left === undefined ? connectTimeout : Math.min(connectTimeout, left),
      maxBodySize: call.channel.options.maxBodySize,
    },
    http1Handler,
  );
}

/** Start an attempt of `call` (Protocol.startAttempt of the HTTP client protocols). */
export function startHttpAttempt(call: ClientCall, spec: HttpClientSpec): void {
  const t = call.channel.source;
  if (!(t instanceof HttpTransport)) {
    call.fail(ErrorCode.EREQUEST, `Protocol ${spec.name} needs a channel created with it`, false);
    return;
  }
  if (t.closed) {
    call.fail(ErrorCode.EINVAL, "Channel is closed", false);
    return;
  }
  if (call.streams !== undefined) {
    call.fail(ErrorCode.EREQUEST, "Streams (brpc StreamCreate) need the baidu_std protocol", false);
    return;
  }
  const ex = call.request instanceof StreamExchange ? call.request : undefined;
  if (ex !== undefined && !spec.grpc) {
    call.fail(ErrorCode.EREQUEST, `Streaming methods need protocol h2:grpc, not ${spec.name}`, false);
    return;
  }
  let out: OutgoingRequest;
  try {
    out = buildRequest(call, spec, ex, t.endpoint.kind === "unix" ? "localhost" : t.address);
  } catch (err) {
    call.fail(ErrorCode.EREQUEST, err instanceof Error ? err.message : String(err), false);
    return;
  }
  const auth = t.auth;
  const gen = auth?.generateCredential;
  if (gen === undefined) {
    send(call, spec, t, out);
    return;
  }
  // brpc generates the credential for every http request (`authorization` header).
  Promise.resolve()
    .then(() => gen.call(auth))
    .then(
      (cred) => {
        if (call.done) return;
        out.headers.Authorization = typeof cred === "string" ? cred : Buffer.from(cred).toString("latin1");
        send(call, spec, t, out);
      },
      (err: unknown) => call.fail(ErrorCode.EREQUEST, `Fail to GenerateCredential: ${String(err)}`, false),
    );
}

/** A Channel protocol of the HTTP family. */
export class HttpClientProtocol implements Protocol {
  readonly name: string;
  readonly spec: HttpClientSpec;

  constructor(spec: HttpClientSpec) {
    this.name = spec.name;
    this.spec = spec;
  }

  /** Never used: these protocols do not run on brpc-ts connections. */
  parse(): number {
    return ParseError.TRY_OTHERS;
  }

  startAttempt(call: ClientCall): void {
    startHttpAttempt(call, this.spec);
  }

  /** The channel's transport (it replaces the connection source). Throws for unsupported connection types. */
  createTransport(o: TransportOptions, type: ConnectionType | undefined): HttpTransport {
    if (this.spec.h2) {
      if (type !== undefined && type !== "single") {
        throw new TypeError(`${this.name} works with connectionType "single" only (one h2 session)`);
      }
      return new H2Transport(o);
    }
    if (type === "single") throw new TypeError(`${this.name} can't work with connectionType "single"`);
    return new Http1Transport(o, type ?? "pooled");
  }
}

const cache = new Map<string, HttpClientProtocol>();

/**
 * The HTTP-family protocol named `name` (case-insensitive): `http`, `h2`, `h2:grpc`,
 * `http:json`, `h2:grpc+json` ..., or undefined for other names. The part after ':' is
 * the content type (`application/<param>` unless it contains '/'). Throws a TypeError
 * for contradictory names (gRPC over http/1.1).
 */
export function httpClientProtocolOf(name: string): HttpClientProtocol | undefined {
  const key = name.trim().toLowerCase();
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const m = /^(http|h2)(?::(.+))?$/.exec(key);
  if (m === null) return undefined;
  const h2 = m[1] === "h2";
  const param = m[2];
  const contentType =
    param === undefined
      ? h2
        ? "application/proto"
        : "application/json"
      : param.includes("/")
        ? param
        : `application/${param}`;
  const parsed = parseContentType(contentType);
  if (parsed.grpc && !h2) throw new TypeError(`protocol "${name}": gRPC needs h2 (use h2:${param})`);
  const p = new HttpClientProtocol({ name: key, h2, grpc: parsed.grpc, contentType, format: parsed.format });
  cache.set(key, p);
  return p;
}
