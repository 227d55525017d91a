/**
 * brpc-ts: Apache brpc's RPC framework for Node.js, wire-compatible with brpc.
 *
 * User API only; extension points (protocols, compressors) live in their modules.
 */
export type { AuthContext, Authenticator } from "./auth.js";
export { type FlagDefinition, parseBoolFlag, parseIntFlag, registerFlag } from "./builtin/flags.js";
export { Channel, type Client } from "./client/channel.js";
export type { CallOptions, ChannelOptions, ConnectionType } from "./client/channel-core.js";
export type { ChannelMethodStatus, ChannelStatus } from "./client/channel-status.js";
export { Controller } from "./client/controller.js";
export {
  describeError,
  ErrorCode,
  type ErrorCodeName,
  errorName,
  RETRYABLE_BY_DEFAULT,
} from "./errors/errno.js";
export { RpcError } from "./errors/rpc-error.js";
export { getLogLevel, type LogLevel, type LogSink, setLogLevel, setLogSink } from "./log.js";
export * from "./metrics/index.js";
export { exposeProcessMetrics } from "./metrics/process.js";
export { ContentType } from "./protocol/baidu-std/payload.js";
export { ChecksumType } from "./protocol/checksum.js";
export { type Compressor, CompressType, registerCompressor } from "./protocol/compress.js";
export type { HttpServerOptions } from "./protocol/http/options.js";
export { GrpcStatus, grpcStatusToErrorCode } from "./protocol/http-client/grpc.js";
export {
  type HttpRequestOptions,
  type HttpResponse,
  httpRequest,
  ProgressiveBody,
} from "./protocol/http-client/plain.js";
export { ResponseStream, type StreamInput } from "./protocol/http-client/streaming.js";
export * from "./rpcz/index.js";
export { ServerContext } from "./server/context.js";
export type { ConcurrencySource, MethodStatus } from "./server/method-status.js";
export { type AddServiceOptions, Server, type ServerOptions } from "./server/server.js";
export type {
  BidiStreamingHandler,
  ClientStreamingHandler,
  HandlerResponses,
  ServerStreamingHandler,
  ServiceImpl,
  UnaryHandler,
} from "./server/service-impl.js";
export type { RawMethodHandler } from "./server/service-registry.js";
export type { StreamHandler, StreamOptions, StreamWriteOptions } from "./stream/options.js";
export { Stream, type StreamState } from "./stream/stream.js";
export type { ClientTlsOptions, ServerTlsOptions, TlsInfo } from "./transport/tls.js";
