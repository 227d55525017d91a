/**
 * brpc's `/version` (src/brpc/builtin/version_service.cpp): `ServerOptions.version` (brpc
 * `Server::set_version()`), else what brpc generates: the names of the services joined by
 * "+", or "unknown" without services.
 */
import type { ServerContext } from "../server/context.js";
import type { Server } from "../server/server.js";
import { sendText } from "./html.js";

/** The version text of `server`. */
export function serverVersion(server: Server): string {
  const v = server.options.version;
  if (v !== undefined && v !== "") return v;
  const names = server.registry.services().map((s) => s.fullName);
  return names.length === 0 ? "unknown" : names.join("+");
}

/** `/version`: always text/plain. */
export function versionService(ctx: ServerContext, server: Server): void {
  sendText(ctx, serverVersion(server));
}
