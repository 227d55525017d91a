/**
 * brpc's `/status` (src/brpc/builtin/status_service.cpp and MethodStatus::Describe): the
 * server's version, errors outside services, connections and concurrency, then per
 * service and method the count, qps, errors, latency (average, percentiles, max) and
 * concurrency. In HTML every value with a series is a clickable live chart; a method's
 * qps and latency charts are open when it had calls in the last seconds.
 */
import { defaultRegistry } from "../metrics/registry.js";
import type { ServerContext } from "../server/context.js";
import type { Server } from "../server/server.js";
import type { MethodEntry } from "../server/service-registry.js";
import { escapeHtml, hasQuery, sendPage, sendText, useHtml, variableHtml } from "./html.js";
import { serverVersion } from "./version.js";

/** The prefix of the server's variables, "rpc_server_<port>" ("" if it has none yet). */
function metricsPrefixOf(server: Server): string {
  try {
    return server.metricsPrefix;
  } catch {
    return "";
  }
}

/** A line: `label value` as text, or a variable line (a chart when `name` has a series) in HTML. */
class Out {
  s = "";
  constructor(
    readonly html: boolean,
    readonly expandAll: boolean,
  ) {}

  value(label: string, value: string | number, name = "", expand = false): void {
    const v = String(value);
    if (!this.html) {
      this.s += `${label}${v}\n`;
      return;
    }
    const plot = name !== "" && defaultRegistry.hasSeries(name);
    this.s += variableHtml({ name, label, value: v, plot, expand: expand || this.expandAll });
  }

  raw(text: string, html: string): void {
    this.s += this.html ? html : text;
  }
}

function exposedName(name: string): string {
  return defaultRegistry.getVariable(name) === undefined ? "" : name;
}

function maxConcurrencyText(n: number): string {
  return n <= 0 ? "unlimited" : String(n);
}

function methodSignature(m: MethodEntry, html: boolean): string {
  const input = m.input;
  const output = m.output;
  if (!html) return `${m.name} (${input?.name ?? "bytes"}) returns (${output?.name ?? "bytes"})`;
  const link = (d: typeof input) =>
    d === undefined
      ? "bytes"
      : `<a href="/protobufs/${escapeHtml(encodeURIComponent(d.typeName))}">${escapeHtml(d.name)}</a>`;
  return `${escapeHtml(m.name)} (${link(input)}) returns (${link(output)})`;
}

function describeMethod(out: Out, m: MethodEntry): void {
  const st = m.status;
  if (st !== undefined) {
    const lr = st.latency;
    const base = st.prefix;
    const n = (suffix: string) => (base === "" ? "" : exposedName(`${base}_${suffix}`));
    const qps = lr.qps;
    const busy = qps !== 0;
    out.value("count: ", lr.count, n("count"));
    out.value("qps: ", qps, n("qps"), busy);
    out.value("error: ", st.errors.value, exposedName(st.errors.name));
    out.value("eps: ", Math.round(st.eps.getValue(1)), n("eps"));
    out.value("latency: ", Math.trunc(lr.latency), n("latency"), busy);
    if (out.html) {
      out.value("latency_percentiles: ", `[${lr.percentiles().join(",")}]`, n("latency_percentiles"));
      out.value("latency_cdf: ", "click to view", n("latency_cdf"));
    } else {
      const [p1, p2, p3] = lr.percentileOptions;
      out.value(`latency_${p1}: `, lr.percentile(p1 / 100));
      out.value(`latency_${p2}: `, lr.percentile(p2 / 100));
      out.value(`latency_${p3}: `, lr.percentile(p3 / 100));
      out.value("latency_999: ", lr.p999);
      out.value("latency_9999: ", lr.p9999);
    }
    out.value("max_latency: ", lr.maxLatency, n("max_latency"));
    out.value("concurrency: ", m.concurrency, n("concurrency"));
  } else {
    out.value("concurrency: ", m.concurrency);
  }
  out.value("max_concurrency: ", maxConcurrencyText(m.maxConcurrency));
}

/** `/status` (`?expand` opens every chart in HTML). */
export function statusService(ctx: ServerContext, server: Server): void {
  const html = useHtml(ctx);
  const out = new Out(html, hasQuery(ctx, "expand"));
  const prefix = metricsPrefixOf(server);
  const version = serverVersion(server);
  out.raw(`version: ${version}\n`, `<p id="version">version: ${escapeHtml(version)}</p>\n`);
  const pre = (suffix: string) => (prefix === "" ? "" : exposedName(`${prefix}_${suffix}`));
  out.value("non_service_error: ", server.nonServiceErrors, pre("error"));
  out.value("connection_count: ", server.connections.size, pre("connection_count"));
  out.value("max_concurrency: ", maxConcurrencyText(server.options.maxConcurrency));
  out.value("concurrency: ", server.concurrency, pre("concurrency"));
  for (const svc of server.registry.services()) {
    out.raw(`[${svc.fullName}]\n`, `<h3 class="service">${escapeHtml(svc.fullName)}</h3>\n`);
    for (const m of svc.methods.values()) {
      out.raw(
        `\n${methodSignature(m, false)}\n`,
        `<h4 class="method" id="method-${escapeHtml(m.fullName)}">${methodSignature(m, true)}</h4>\n`,
      );
      describeMethod(out, m);
    }
    out.raw("\n", "");
  }
  if (!html) {
    sendText(ctx, out.s);
    return;
  }
  sendPage(ctx, server, { tab: "status", title: "status", charts: true, body: out.s });
}
