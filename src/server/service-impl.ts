/** Types of typed service implementations. */
import type { DescMessage, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { ServerContext } from "./context.js";

type MaybePromise<T> = T | Promise<T>;

/** A handler of a unary method: request message in, response message (or init object) out. */
export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (
  req: MessageShape<I>,
  ctx: ServerContext,
) => MaybePromise<MessageInitShape<O>>;

/** Responses of a streaming handler: e.g. what an `async function*` returns, or an array. */
export type HandlerResponses<O extends DescMessage> =
  | AsyncIterable<MessageInitShape<O>>
  | Iterable<MessageInitShape<O>>;

/**
 * A handler of a server-streaming method (gRPC only): one request in, a stream of
 * responses out, e.g. `async function* (req, ctx) { yield {...}; }`.
 */
export type ServerStreamingHandler<I extends DescMessage, O extends DescMessage> = (
  req: MessageShape<I>,
  ctx: ServerContext,
) => MaybePromise<HandlerResponses<O>>;

/**
 * A handler of a client-streaming method (gRPC only): the client's messages in (iterate
 * them with `for await`), one response out.
 */
export type ClientStreamingHandler<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  ctx: ServerContext,
) => MaybePromise<MessageInitShape<O>>;

/** A handler of a bidi-streaming method (gRPC only): a stream of messages in, a stream out. */
export type BidiStreamingHandler<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  ctx: ServerContext,
) => MaybePromise<HandlerResponses<O>>;

/** The handler type of a method of kind `K`. */
export type HandlerOf<K, I extends DescMessage, O extends DescMessage> = K extends "server_streaming"
  ? ServerStreamingHandler<I, O>
  : K extends "client_streaming"
    ? ClientStreamingHandler<I, O>
    : K extends "bidi_streaming"
      ? BidiStreamingHandler<I, O>
      : UnaryHandler<I, O>;

/** Handlers of a service, keyed by method local name (`echo` for rpc `Echo`). All optional. */
export type ServiceImpl<S extends DescService> = {
  [K in keyof S["method"]]?: S["method"][K] extends { input: infer I; output: infer O }
    ? I extends DescMessage
      ? O extends DescMessage
        ? S["method"][K] extends { methodKind: infer Kind }
          ? HandlerOf<Kind, I, O>
          : UnaryHandler<I, O>
        : never
      : never
    : never;
};
