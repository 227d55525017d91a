/**
 * "brpc-ts-to-grpc-js" (information): the h2:grpc Channel of "grpc-brpc-ts" against the
 * @grpc/grpc-js server of "grpc-js": with the same server as "grpc-js", the difference is
 * the client's.
 */
export { load } from "./grpc-brpc-ts.js";
export { serve } from "./grpc-js.js";
