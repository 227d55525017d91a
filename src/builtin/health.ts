/** brpc's builtin `/health` (src/brpc/builtin/health_service.cpp): "OK" as text/plain. */
import type { ServerContext } from "../server/context.js";
import { sendText } from "./html.js";

/** Answer `/health` (and `/health/...`). */
export function healthService(ctx: ServerContext): void {
  sendText(ctx, "OK", "text/plain");
}
