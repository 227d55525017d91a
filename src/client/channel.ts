/**
 * A Channel reaches one server (brpc `Channel::Init("ip:port" | "host:port" | "unix:path")`)
 * and makes typed or untyped calls with timeouts, retries, compression and cancellation.
 */
import type {
  DescMessage,
  DescMethod,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import { ErrorCode, RETRYABLE_BY_DEFAULT } from "../errors/errno.js";
import { RpcError } from "../errors/rpc-error.js";
import { registerBuiltins } from "../global.js";
import { ContentType } from "../protocol/baidu-std/payload.js";
import { compressTypeOf } from "../protocol/compress.js";
import { httpClientProtocolOf } from "../protocol/http-client/channel-protocol.js";
import {
  type ResponseStream,
  StreamExchange,
  type StreamInput,
  type StreamingKind,
} from "../protocol/http-client/streaming.js";
import { type Protocol, protocols } from "../protocol/protocol.js";
import { applyRpczOption } from "../rpcz/trace.js";
import {
  DEFAULT_KEEPALIVE_MS,
  DEFAULT_MAX_BODY_SIZE,
  DEFAULT_MAX_UNWRITTEN_BYTES,
  DEFAULT_WRITE_STALL_TIMEOUT_MS,
} from "../transport/connection.js";
import { type Endpoint, formatEndpoint, parseEndpoint } from "../transport/endpoint.js";
import { clientTlsOf } from "../transport/tls.js";
import { ClientCall } from "./call.js";
import type {
  CallOptions,
  ChannelCore,
  ChannelOptions,
  ConnectionSource,
  ResolvedChannelOptions,
} from "./channel-core.js";
import {
  acquireChannelStatus,
  type ChannelMethodStatus,
  type ChannelStatus,
  channelMetricsPrefix,
  releaseChannelStatus,
} from "./channel-status.js";
import { openConnection } from "./connect.js";
import { createConnectionSource } from "./connection-source.js";
import { type ClientMethod, clientMethodOf, rawMethodOf } from "./method.js";

/**
 * A typed client: one function per method of the service, keyed by local name. Unary
 * methods return a Promise of the response; gRPC streaming methods (h2:grpc channels)
 * take an iterable of requests (client/bidi streaming) and return a
 * {@link ResponseStream} (server/bidi streaming).
 */
export type Client<S extends DescService> = {
  [K in keyof S["method"]]: S["method"][K] extends { methodKind: infer MK; input: infer I; output: infer O }
    ? I extends DescMessage
      ? O extends DescMessage
        ? MK extends "server_streaming"
          ? (req: MessageInitShape<I>, opts?: CallOptions) => ResponseStream<MessageShape<O>>
          : MK extends "client_streaming"
            ? (reqs: StreamInput<MessageInitShape<I>>, opts?: CallOptions) => Promise<MessageShape<O>>
            : MK extends "bidi_streaming"
              ? (
                  reqs: StreamInput<MessageInitShape<I>>,
                  opts?: CallOptions,
                ) => ResponseStream<MessageShape<O>>
              : (req: MessageInitShape<I>, opts?: CallOptions) => Promise<MessageShape<O>>
        : never
      : never
    : never;
};

const contentTypes: Record<string, number> = {
  pb: ContentType.PB,
  json: ContentType.JSON,
  "proto-json": ContentType.PROTO_JSON,
  "0": ContentType.PB,
  "1": ContentType.JSON,
  "2": ContentType.PROTO_JSON,
};

/** A channel to one server. */
export class Channel implements ChannelCore {
  readonly options: ResolvedChannelOptions;
  readonly source: ConnectionSource;
  readonly protocol: Protocol;
  readonly address: string;
  readonly endpoint: Endpoint;
  readonly #retryPolicy: ((code: number) => boolean) | undefined;
  readonly #status: ChannelStatus | undefined;
  #lastMethod: ClientMethod | undefined = undefined;
  #lastStatus: ChannelMethodStatus | undefined = undefined;
  #closed = false;

  /** `address` is "ip:port", "host:port", "[ipv6]:port" or "unix:path". */
  constructor(address: string, options: ChannelOptions = {}) {
    registerBuiltins();
    this.endpoint = parseEndpoint(address);
    if (this.endpoint.kind === "tcp" && this.endpoint.port === 0) {
      throw new TypeError(`bad address "${address}": port 0 cannot be connected to`);
    }
    this.address = formatEndpoint(this.endpoint);
    const name = options.protocol ?? "baidu_std";
    const httpProtocol = httpClientProtocolOf(name);
    const protocol: Protocol = httpProtocol ?? protocols.get(name);
    if (
      protocol.startAttempt === undefined &&
      (protocol.packRequest === undefined || protocol.processResponse === undefined)
    ) {
      throw new TypeError(`protocol "${protocol.name}" cannot be used by a Channel`);
    }
    this.protocol = protocol;
    const ct = String(options.contentType ?? "pb");
    if (contentTypes[ct] === undefined)
      throw new TypeError(`unknown contentType "${ct}" (use pb, json or proto-json)`);
    this.options = {
      timeoutMs: options.timeoutMs ?? 500,
      maxRetry: options.maxRetry ?? 3,
      compressType: compressTypeOf(options.compressType),
      checksum: options.checksum ?? false,
      contentType: contentTypes[ct] as number,
      connectTimeoutMs: options.connectTimeoutMs ?? 200,
      maxBodySize: options.maxBodySize ?? DEFAULT_MAX_BODY_SIZE,
      maxUnwrittenBytes: options.maxUnwrittenBytes ?? DEFAULT_MAX_UNWRITTEN_BYTES,
      maxPoolSize: options.maxPoolSize ?? 100,
      deliverTimeoutMs: options.deliverTimeoutMs ?? false,
      writeStallTimeoutMs: options.writeStallTimeoutMs ?? DEFAULT_WRITE_STALL_TIMEOUT_MS,
      keepAliveMs: options.keepAliveMs ?? DEFAULT_KEEPALIVE_MS,
      rpcz: applyRpczOption(options.rpcz),
    };
    this.#retryPolicy = options.retryPolicy;
    this.#status =
      (options.metrics ?? true)
        ? acquireChannelStatus(channelMetricsPrefix(options.metricsName ?? this.address))
        : undefined;
    const auth = options.auth;
    const tls = clientTlsOf(options.tls);
    const connOptions = {
      maxBodySize: this.options.maxBodySize,
      maxUnwrittenBytes: this.options.maxUnwrittenBytes,
      writeStallTimeoutMs: this.options.writeStallTimeoutMs,
      keepAliveMs: this.options.keepAliveMs,
    };
    if (httpProtocol !== undefined) {
      // http / h2 / h2:grpc run on node:http / node:http2 (one Agent or session per channel).
      this.source = httpProtocol.createTransport(
        {
          endpoint: this.endpoint,
          keepAliveMs: this.options.keepAliveMs,
          maxPoolSize: this.options.maxPoolSize,
          auth,
          tls,
          h2Engine: options.h2Engine,
        },
        options.connectionType,
      );
      return;
    }
    this.source = createConnectionSource(
      options.connectionType ?? "single",
      (owner, timeoutMs) =>
        openConnection({
          endpoint: this.endpoint,
          timeoutMs,
          owner,
          protocol,
          options: connOptions,
          auth,
          tls,
        }),
      this.options.maxPoolSize,
    );
  }

  /** A typed client of `service`: `await channel.client(EchoService).echo({message: "hi"})`. */
  client<S extends DescService>(service: S): Client<S> {
    const out: Record<string, unknown> = {};
    for (const m of service.methods) {
      const cm = clientMethodOf(m);
      const kind = m.methodKind;
      if (kind !== "unary" && this.protocol.startAttempt === undefined) {
        // brpc has no gRPC streaming over baidu_std.
        const text = `Streaming method ${m.parent.typeName}.${m.name} needs protocol h2:grpc`;
        out[m.localName] = (_req: unknown, opts?: CallOptions) => {
          const p = this.#refuse(ErrorCode.EREQUEST, text, opts);
          if (kind === "client_streaming") return p;
          const ex = new StreamExchange(kind, undefined);
          ex.settleWith(p);
          return ex.output;
        };
      } else if (kind === "unary") {
        out[m.localName] = (req: unknown, opts?: CallOptions) => this.#call(cm, req, opts);
      } else if (kind === "client_streaming") {
        out[m.localName] = (reqs: unknown, opts?: CallOptions) =>
          this.#call(cm, new StreamExchange(kind, reqs), opts);
      } else {
        out[m.localName] = (req: unknown, opts?: CallOptions) => this.#openStream(cm, kind, req, opts);
      }
    }
    return out as Client<S>;
  }

  /** Call a method by descriptor; resolves with the response message. */
  call<I extends DescMessage, O extends DescMessage>(
    method: DescMethod & { input: I; output: O },
    request: MessageInitShape<I>,
    opts?: CallOptions,
  ): Promise<MessageShape<O>> {
    return this.#call(clientMethodOf(method), request, opts) as Promise<MessageShape<O>>;
  }

  /** Untyped call: request bytes in, response bytes out (for proxies and tools). */
  callRaw(serviceName: string, methodName: string, request: Uint8Array, opts?: CallOptions): Promise<Buffer> {
    return this.#call(rawMethodOf(serviceName, methodName), request, opts) as Promise<Buffer>;
  }

  /** True if a failed attempt with `code` may be retried. @internal */
  retryable(code: number): boolean {
    if (code === ErrorCode.ERPCTIMEDOUT || code === ErrorCode.ECANCELED) return false;
    return this.#retryPolicy !== undefined ? this.#retryPolicy(code) : RETRYABLE_BY_DEFAULT.has(code);
  }

  /**
   * The per-method statistics of this channel's calls (shared with the channels of the same
   * prefix), undefined when `ChannelOptions.metrics` is false. See docs/metrics.md.
   */
  get metrics(): ChannelStatus | undefined {
    return this.#status;
  }

  /** Close the channel's connections; calls still in flight fail. Later calls fail with EINVAL. */
  close(): void {
    if (!this.#closed && this.#status !== undefined) releaseChannelStatus(this.#status);
    this.#closed = true;
    this.source.close();
  }

  /** A server- or bidi-streaming call (gRPC): the call runs until the server's status. */
  #openStream(
    method: ClientMethod,
    kind: StreamingKind,
    request: unknown,
    opts: CallOptions | undefined,
  ): ResponseStream<unknown> {
    const ex = new StreamExchange(kind, request);
    ex.settleWith(this.#call(method, ex, opts));
    return ex.output as ResponseStream<unknown>;
  }

  /** Fail a call that cannot start: fill the controller, reject with `[E<code>]text`. */
  #refuse(code: number, text: string, opts: CallOptions | undefined): Promise<never> {
    const full = `[E${code}]${text}`;
    const cntl = opts?.controller;
    if (cntl !== undefined) {
      cntl.reset();
      cntl.errorCode = code;
      cntl.errorText = full;
    }
    return Promise.reject(new RpcError(code, full));
  }

  #call(method: ClientMethod, request: unknown, opts: CallOptions | undefined): Promise<unknown> {
    let call: ClientCall;
    try {
      call = new ClientCall(this, method, request, opts);
    } catch (err) {
      // Bad call options (a logId that is not an integer, an unknown compressor ...).
      const text = `Invalid call options: ${err instanceof Error ? err.message : String(err)}`;
      return this.#refuse(ErrorCode.EINVAL, text, opts);
    }
    if (this.#closed) {
      call.fail(ErrorCode.EINVAL, "Channel is closed", false);
      return call.promise;
    }
    const st = this.#status;
    if (st !== undefined) {
      // The last method's status is cached: a loop calling one method skips the lookup.
      let ms = this.#lastStatus;
      if (method !== this.#lastMethod || ms === undefined) {
        ms = st.of(method.fullName);
        this.#lastMethod = method;
        this.#lastStatus = ms;
      }
      // Canceled before it was issued: an error already.
      if (call.done) ms.errors.add(1);
      else call.stats = ms;
    }
    if (!call.done) call.issue();
    return call.promise;
  }
}
