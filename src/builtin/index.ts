/**
 * brpc's builtin services, served over HTTP on the same port (brpc server.cpp
 * `AddBuiltinServices`): found by the first URL path component ("/health",
 * "/health/..."), after the user's services. They skip the concurrency limits and
 * answer while the server is overloaded, but not while it is stopping (ELOGOFF).
 *
 * A builtin writes its answer into the context like an HTTP service does:
 * `ctx.responseAttachment` is the body; `ctx.http` carries the request (method, path,
 * query, headers), response status and headers; `ctx.unresolvedPath` is the rest of
 * the path; `ctx.setFailed()` answers with brpc's error mapping.
 */
import type { ServerContext } from "../server/context.js";
import type { Server } from "../server/server.js";
import { healthService } from "./health.js";

/** A builtin service: fill in the response of `ctx`; may be async. */
export type BuiltinService = (ctx: ServerContext, server: Server) => void | Promise<void>;

/** Builtin services by the first URL path component ("index" is the empty path "/"). */
export const builtinServices: ReadonlyMap<string, BuiltinService> = new Map<string, BuiltinService>([
  ["health", healthService],
]);
