/**
 * "grpc-js-to-brpc-ts" (information): the @grpc/grpc-js client of "grpc-js" against the
 * brpc-ts server of "grpc-brpc-ts": with the same client as "grpc-js", the difference is
 * the server's.
 */
export { serve } from "./grpc-brpc-ts.js";
export { load } from "./grpc-js.js";
