/** Types shared by the Channel and the calls it runs. */
import type { Authenticator } from "../auth.js";
import type { Protocol } from "../protocol/protocol.js";
import type { Span } from "../rpcz/span.js";
import type { Stream } from "../stream/stream.js";
import type { Connection } from "../transport/connection.js";
import type { ClientTlsOptions } from "../transport/tls.js";
import type { Controller } from "./controller.js";

/** How a channel uses connections (brpc `connection_type`). */
export type ConnectionType = "single" | "pooled" | "short";

/** Options of a {@link Channel} (brpc `ChannelOptions` and related flags). */
export interface ChannelOptions {
  /**
   * Protocol name, default "baidu_std". Also "http" (pooled/short), "h2" and "h2:grpc"
   * with brpc's variants "http:json", "http:proto", "h2:json", "h2:proto", "h2:grpc+json"
   * (see docs/http-client.md).
   */
  protocol?: string;
  /** "single" (one multiplexed connection, default), "pooled" (one call per connection at a time) or "short" (a connection per call). */
  connectionType?: ConnectionType;
  /** Connect timeout in ms (default 200, as brpc), capped by the call's deadline. */
  connectTimeoutMs?: number;
  /** Default timeout of a whole call, retries included, in ms (default 500; -1 = none). */
  timeoutMs?: number;
  /** Default max retries (default 3). Only brpc's retryable errors are retried. */
  maxRetry?: number;
  /** Request compression: 0/"none", 1/"snappy", 2/"gzip", 3/"zlib" (default none). */
  compressType?: number | string;
  /** Send a CRC32C checksum with requests (default false). */
  checksum?: boolean;
  /** Body encoding: "pb" (default), "json" (brpc json2pb names) or "proto-json"; or `ContentType` numbers 0-2. */
  contentType?: "pb" | "json" | "proto-json" | 0 | 1 | 2;
  /** Generates the credential sent on the first request of each connection. */
  auth?: Authenticator;
  /** Largest response frame accepted (default 64 MiB). */
  maxBodySize?: number;
  /** Unsent bytes per connection above which calls fail with EOVERCROWDED (default 64 MiB). */
  maxUnwrittenBytes?: number;
  /**
   * Fail a connection whose unsent bytes make no progress for this long, in ms: the
   * equivalent of TCP_USER_TIMEOUT (brpc `-socket_tcp_user_timeout_ms`) for a server that
   * stopped reading or vanished. Default 30000; 0 = off.
   */
  writeStallTimeoutMs?: number;
  /** TCP keepalive idle time in ms before the first probe (brpc `-socket_keepalive_idle_s`). Default 60000; 0 = off. */
  keepAliveMs?: number;
  /** Idle connections kept by a "pooled" channel (brpc `-max_connection_pool_size`, default 100). */
  maxPoolSize?: number;
  /**
   * Send the call's remaining time in baidu_std `timeout_ms`, so the server knows the
   * deadline (brpc flag `-baidu_std_protocol_deliver_timeout_ms`, default false).
   */
  deliverTimeoutMs?: boolean;
  /**
   * Connect with TLS (brpc `ChannelOptions::mutable_ssl_options()`): `true` verifies the
   * server against the system CAs; an object sets `ca`, `cert`/`key` (mutual TLS),
   * `sniName`, `rejectUnauthorized`, `alpnProtocols` ... For baidu_std, streaming RPC,
   * http, h2 and h2:grpc (see docs/tls.md).
   */
  tls?: boolean | ClientTlsOptions;
  /**
   * HTTP/2 implementation of h2 / h2:grpc channels: "builtin" (brpc-ts's own engine,
   * default: batches the frames of all calls issued in a tick into one socket write) or
   * "node" (node:http2). See docs/http-client.md.
   */
  h2Engine?: "builtin" | "node";
  /** Decide whether a failed attempt is retried (default: brpc's retryable set). ERPCTIMEDOUT and ECANCELED never are. */
  retryPolicy?: (code: number) => boolean;
  /**
   * Record every call's latency and errors per method and expose them as
   * `rpc_client_<address>_<method>_{count,qps,latency,...,error,eps}` (default true; see
   * docs/metrics.md). Channels with the same prefix share the variables.
   */
  metrics?: boolean;
  /** Name in the metrics prefix instead of the address: `rpc_client_<metricsName>_...`. */
  metricsName?: string;
  /**
   * Trace this channel's calls into rpcz and send their trace ids, even when rpcz is off
   * process-wide (default false; see docs/rpcz.md). Calls made in a traced handler are
   * traced anyway.
   */
  rpcz?: boolean;
}

/** Per-call options; anything unset falls back to the controller, then to the channel. */
export interface CallOptions {
  /** Timeout of this call in ms (-1 = none). */
  timeoutMs?: number;
  /** Max retries of this call. */
  maxRetry?: number;
  /** log_id sent with the request. */
  logId?: bigint | number;
  /** request_id sent with the request (brpc `set_request_id`, HTTP x-request-id). */
  requestId?: string;
  /** Attachment sent after the message (never compressed). */
  attachment?: Uint8Array | string;
  /** Cancels the call (ECANCELED). */
  signal?: AbortSignal;
  /** Request compression for this call. */
  compressType?: number | string;
  /** Send a CRC32C checksum with this request. */
  checksum?: boolean;
  /** user_fields sent with the request. */
  userFields?: Record<string, string>;
  /** Receives the results (error, latency, retries, response attachment ...) and may carry settings. */
  controller?: Controller;
  /**
   * Create a stream with this call (brpc StreamCreate): it is announced in the request and
   * connected when the call succeeds and the server accepted it. Calls creating streams
   * are never retried (as in brpc).
   */
  stream?: Stream;
  /** Create several streams with this call (brpc StreamCreate with n > 1). */
  streams?: Stream[];
  /**
   * rpcz: make this call a child of `parentSpan` (e.g. `ctx.span` of a handler): same trace
   * id, parent span id = its span id. Needed only where the current handler's span cannot
   * be found by itself (`asyncContext: false`, or code running outside the handler's
   * async context). Undefined: the span of the handler the call is made in, if traced.
   */
  parentSpan?: Span | undefined;
}

/** Where a call gets its connection; one implementation per connection type. */
export interface ConnectionSource {
  /** A connection usable right now without waiting, if any. */
  ready(): Connection | undefined;
  /**
   * A connection, connecting if needed within `connectTimeoutMs`; rejects with an
   * RpcError (ECONNREFUSED, ETIMEDOUT ...).
   */
  acquire(connectTimeoutMs: number): Promise<Connection>;
  /** The call is done with `conn`; `responded` says whether a whole response came back on it. */
  release(conn: Connection, responded: boolean): void;
  /** Close every connection. */
  close(): void;
}

/** Resolved channel options. @internal */
export interface ResolvedChannelOptions {
  timeoutMs: number;
  maxRetry: number;
  compressType: number;
  checksum: boolean;
  contentType: number;
  connectTimeoutMs: number;
  maxBodySize: number;
  maxUnwrittenBytes: number;
  maxPoolSize: number;
  deliverTimeoutMs: boolean;
  writeStallTimeoutMs: number;
  keepAliveMs: number;
  /** Trace every call of this channel (ChannelOptions.rpcz). */
  rpcz?: boolean;
}

/** What a call needs from its channel. @internal */
export interface ChannelCore {
  readonly options: ResolvedChannelOptions;
  readonly source: ConnectionSource;
  readonly protocol: Protocol;
  /** The address the channel was created with. */
  readonly address: string;
  retryable(code: number): boolean;
}
