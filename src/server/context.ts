/**
 * The server side of one call (brpc's server-side `Controller`): what the request
 * carried, what the response will carry, and how the call fails.
 */
import type { AuthContext } from "../auth.js";
import { describeError, ErrorCode } from "../errors/errno.js";
import { RpcError } from "../errors/rpc-error.js";
import type { StreamSettings } from "../protocol/baidu-std/meta.js";
import type { GrpcCallInfo } from "../protocol/grpc/metadata.js";
import type { HttpCall } from "../protocol/http/call.js";
import { userFieldsOfHeaders } from "../protocol/http/user-fields.js";
import { wireIdOf } from "../protocol/streaming-rpc/meta.js";
import type { Span } from "../rpcz/span.js";
import type { StreamOptions } from "../stream/options.js";
import { Stream } from "../stream/stream.js";
import type { Connection } from "../transport/connection.js";
import { type TlsInfo, tlsInfoOf } from "../transport/tls.js";
import type { MethodEntry } from "./service-registry.js";

const EMPTY = Buffer.alloc(0);

/** Server-side call context, passed to every handler as its second argument. */
export class ServerContext {
  /** Protocol the request came in with, e.g. "baidu_std". */
  readonly protocol: string;
  /** Connection the request came in on. @internal */
  readonly connection: Connection;
  /** The method being called (set once routing succeeded). @internal */
  method: MethodEntry | undefined = undefined;
  /** Service name as the client sent it. */
  serviceName = "";
  /** Method name as the client sent it. */
  methodName = "";
  /** log_id sent by the client, if any. */
  logId: bigint | undefined = undefined;
  /** request_id (x-request-id) sent by the client, if any. */
  requestId: string | undefined = undefined;
  /** Tracing ids sent by the client, if any. */
  traceId: bigint | undefined = undefined;
  spanId: bigint | undefined = undefined;
  parentSpanId: bigint | undefined = undefined;
  /**
   * This call's rpcz span when it is traced (rpcz on, or the client sent a trace id):
   * its ids, timings and annotations (see docs/rpcz.md). Undefined otherwise.
   */
  span: Span | undefined = undefined;
  /** The client's timeout as sent on the wire (baidu_std `timeout_ms`), if any. */
  timeoutMs: number | undefined = undefined;
  /** When the request was received (Date.now()). */
  readonly receivedAt: number;
  /** Attachment that came with the request (empty when none). */
  requestAttachment: Buffer = EMPTY;
  /** Attachment to send with the response; brpc echo servers set it to the request's. */
  responseAttachment: Uint8Array | string = EMPTY;
  /** user_fields and protocol state; see {@link requestUserFields}. */
  #requestUserFields: Record<string, string> | undefined | null = null;
  /** user_fields to send back. */
  responseUserFields: Record<string, string> | undefined = undefined;
  /** Compression of the request (0 none, 1 snappy, 2 gzip, 3 zlib). */
  requestCompressType = 0;
  /** Compression of the response; brpc's default is none (0). */
  responseCompressType = 0;
  /** Put a CRC32C checksum on the response. */
  responseChecksum = false;
  /** Content type of the request body (0 pb, 1 json, 2 proto-json, 3 proto-text). */
  contentType = 0;
  /**
   * HTTP/h2 requests: method, path, query and headers of the request, status and
   * headers of the response, progressive responses (see docs/http.md). Undefined for
   * other protocols.
   */
  http: HttpCall | undefined = undefined;
  /** HTTP: the part of the URL path after the method (`/Service/Method/<rest>`) or matched by a restful `*`. */
  unresolvedPath = "";
  /** What the authenticator said about this connection, when one is configured. */
  authContext: AuthContext | undefined = undefined;
  /** @internal protocol-private data (e.g. the baidu_std correlation id). */
  protocolData: unknown = undefined;
  /** @internal server generation when admitted; -1 when not counted. */
  generation = -1;
  /** @internal counted against the server's max_concurrency. */
  countedServer = false;
  /** @internal performance.now() when the request arrived (set while the server's metrics are on). */
  startMs = 0;
  /**
   * @internal the call was recorded in the server's metrics, or must not be (metrics off,
   * builtin pages).
   */
  metricsDone = false;
  /** @internal the client's streams announced in the request (brpc stream_settings). */
  remoteStreamSettings: StreamSettings | undefined = undefined;
  /** @internal streams accepted by the handler. */
  acceptedStreams: Stream[] | undefined = undefined;
  /** gRPC metadata, response headers/trailers and status override; set for gRPC calls only. */
  grpc: GrpcCallInfo | undefined = undefined;

  #errorCode = 0;
  #errorText = "";
  #abort: AbortController | undefined;
  #unwatch: (() => void) | undefined;
  #identity: string;

  /** @internal */
  constructor(protocol: string, connection: Connection, identity: string) {
    this.protocol = protocol;
    this.connection = connection;
    this.receivedAt = Date.now();
    this.#identity = identity;
  }

  /** Peer address, e.g. "127.0.0.1:52044". */
  get remoteSide(): string {
    return this.connection.remoteSide;
  }

  /** Local address the request arrived at. */
  get localSide(): string {
    return this.connection.localSide;
  }

  /**
   * TLS details of the connection (version, cipher, ALPN, SNI name, the client's
   * certificate under mutual TLS), or undefined on a plain connection. See docs/tls.md.
   */
  get tls(): TlsInfo | undefined {
    return tlsInfoOf(this.connection);
  }

  /**
   * user_fields sent by the client (baidu_std). Over HTTP and gRPC, the request headers /
   * string metadata that are not protocol machinery (what a brpc-ts channel sends its
   * `userFields` as), computed on first read.
   */
  get requestUserFields(): Record<string, string> | undefined {
    if (this.#requestUserFields === null) {
      const h = this.grpc?.requestMetadata ?? this.http?.headers;
      this.#requestUserFields = h === undefined ? undefined : userFieldsOfHeaders(h);
    }
    return this.#requestUserFields;
  }

  set requestUserFields(v: Record<string, string> | undefined) {
    this.#requestUserFields = v;
  }

  /** Absolute deadline (Date.now() clock) derived from the client's timeout_ms, if sent. */
  get deadline(): number | undefined {
    return this.timeoutMs !== undefined && this.timeoutMs > 0 ? this.receivedAt + this.timeoutMs : undefined;
  }

  /** Full method name, e.g. "example.EchoService.Echo". */
  get fullMethodName(): string {
    return this.method?.fullName ?? `${this.serviceName}.${this.methodName}`;
  }

  /**
   * Aborted when the client's connection breaks (the response can no longer be
   * delivered). Created on first use, so calls that never look cost nothing.
   */
  get signal(): AbortSignal {
    if (this.#abort === undefined) {
      const ac = new AbortController();
      this.#abort = ac;
      if (this.connection.failed)
        ac.abort(new RpcError(this.connection.errorCode, this.connection.errorText));
      else
        this.#unwatch = this.connection.watchFailure((c) => ac.abort(new RpcError(c.errorCode, c.errorText)));
    }
    return this.#abort.signal;
  }

  /** True once {@link setFailed} was called (or the handler threw). */
  get failed(): boolean {
    return this.#errorCode !== 0;
  }

  /** Error code set by {@link setFailed}, 0 if none. */
  get errorCode(): number {
    return this.#errorCode;
  }

  /** Error text as brpc formats it: "[server][E<code>]text", texts of repeated failures joined by spaces. */
  get errorText(): string {
    return this.#errorText;
  }

  /**
   * Fail the call with brpc error `code` (e.g. `ErrorCode.EINTERNAL`) and `text`.
   * The response then carries only the error. Code -1 is sent as EINTERNAL, as brpc does.
   */
  setFailed(code: number, text?: string): void {
    if (code === 0 || code === -1) code = 2001;
    this.#errorCode = code;
    const t = text ?? describeError(code);
    const prefix = this.#identity === "" ? "" : `[${this.#identity}]`;
    this.#errorText = `${this.#errorText === "" ? "" : `${this.#errorText} `}${prefix}[E${code}]${t}`;
  }

  /**
   * Add a timestamped note to this call's rpcz span (brpc `TRACEPRINTF`), shown by
   * `/rpcz`. Does nothing when the call is not traced.
   */
  annotate(text: string): void {
    this.span?.annotate(text);
  }

  /** True if the client created streams with this request (brpc `has_remote_stream`). */
  get hasRemoteStream(): boolean {
    return this.remoteStreamSettings !== undefined;
  }

  /**
   * Accept the client's stream (brpc StreamAccept). Writes made before the handler
   * returns are sent right after the response. Throws an RpcError when the request
   * carries no stream, carries several (use {@link acceptStreams}), or was accepted already.
   */
  acceptStream(options?: StreamOptions): Stream {
    const extra = this.remoteStreamSettings?.extraStreamIds.length ?? 0;
    if (extra > 0) {
      throw new RpcError(ErrorCode.EINVAL, `the client created ${extra + 1} streams: use acceptStreams()`);
    }
    return this.acceptStreams(options)[0] as Stream;
  }

  /** Accept every stream the client created with this request, in the client's order. */
  acceptStreams(options?: StreamOptions): Stream[] {
    const rs = this.remoteStreamSettings;
    if (rs === undefined) throw new RpcError(ErrorCode.EINVAL, "No stream along with this request");
    if (this.acceptedStreams !== undefined)
      throw new RpcError(ErrorCode.EINVAL, "the streams were accepted already");
    const ids = [rs.streamId, ...rs.extraStreamIds];
    const streams = ids.map((id) => {
      const s = new Stream(options);
      s.attachServer(this.connection, {
        id: wireIdOf(id),
        needFeedback: rs.needFeedback,
        writable: rs.writable,
      });
      return s;
    });
    this.acceptedStreams = streams;
    return streams;
  }

  /**
   * @internal Abort {@link signal} with `reason`: the call ended before the handler did
   * (client cancellation, deadline). No-op once aborted.
   */
  abort(reason: unknown): void {
    if (this.#abort === undefined) this.#abort = new AbortController();
    if (!this.#abort.signal.aborted) this.#abort.abort(reason);
  }

  /** @internal release the abort watcher once the call is over. */
  finish(): void {
    if (this.#unwatch !== undefined) {
      this.#unwatch();
      this.#unwatch = undefined;
    }
  }
}
