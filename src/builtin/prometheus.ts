/**
 * brpc's `/brpc_metrics` (src/brpc/builtin/prometheus_metrics_service.cpp): every exposed
 * variable of `defaultRegistry` in the Prometheus text format, `rpc_server*` latencies as
 * summaries (see docs/metrics.md). Always text, whatever the client.
 */
import { PROMETHEUS_CONTENT_TYPE, prometheusText } from "../metrics/prometheus.js";
import { defaultRegistry } from "../metrics/registry.js";
import type { ServerContext } from "../server/context.js";
import { sendText } from "./html.js";

/** `/brpc_metrics`. */
export function prometheusService(ctx: ServerContext): void {
  sendText(ctx, prometheusText(defaultRegistry), PROMETHEUS_CONTENT_TYPE);
}
