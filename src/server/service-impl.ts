/** Types of typed service implementations. */
import type { DescMessage, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { ServerContext } from "./context.js";

type MaybePromise<T> = T | Promise<T>;

/** A handler of a unary method: request message in, response message (or init object) out. */
export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (
  req: MessageShape<I>,
  ctx: ServerContext,
) => MaybePromise<MessageInitShape<O>>;

/** Handlers of a service, keyed by method local name (`echo` for rpc `Echo`). All optional. */
export type ServiceImpl<S extends DescService> = {
  [K in keyof S["method"]]?: S["method"][K] extends { input: infer I; output: infer O }
    ? I extends DescMessage
      ? O extends DescMessage
        ? UnaryHandler<I, O>
        : never
      : never
    : never;
};
