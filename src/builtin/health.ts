/** brpc's builtin `/health` (src/brpc/builtin/health_service.cpp): "OK" as text/plain. */
import type { ServerContext } from "../server/context.js";

/** Answer `/health` (and `/health/...`). */
export function healthService(ctx: ServerContext): void {
  ctx.http?.setHeader("Content-Type", "text/plain");
  ctx.responseAttachment = "OK";
}
