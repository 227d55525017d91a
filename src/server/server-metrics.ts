/**
 * The automatic variables of a running server (brpc's `Server::UpdateDerivedVars`,
 * server.cpp): server-wide ones under `rpc_server_<port>`, every method's
 * {@link MethodStatus} under `rpc_server_<port>_<method>`, the process variables, and the
 * per-second traffic of the server's connections.
 */
import { log } from "../log.js";
import { toUnderscoredName } from "../metrics/name.js";
import { exposeProcessMetrics } from "../metrics/process.js";
import { Adder } from "../metrics/reducer.js";
import { defaultSampler, type SamplerTask } from "../metrics/sampler.js";
import { PassiveStatus } from "../metrics/status.js";
import type { Variable } from "../metrics/variable.js";
import { PerSecond } from "../metrics/window.js";
import type { Connection } from "../transport/connection.js";
import { ConnectionRates } from "../transport/connection-stats.js";
import type { ServiceRegistry } from "./service-registry.js";

/** What the server variables read from their server. */
export interface MetricsHost {
  /** Requests being processed now. */
  readonly concurrency: number;
  /** Open connections. */
  readonly connections: ReadonlySet<Connection>;
  /** The services and their methods. */
  readonly registry: ServiceRegistry;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** brpc's start_time text: local time as `%Y/%m/%d-%H:%M:%S`. */
export function formatStartTime(ms: number): string {
  const d = new Date(ms);
  return (
    `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())}-` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** @internal The metrics of one server (created when `ServerOptions.metrics` is on). */
export class ServerMetrics {
  /** Requests that failed before reaching a method (brpc's server `_nerror_bvar`). */
  readonly nonServiceErrors = new Adder();
  readonly #host: MetricsHost;
  readonly #vars: ReadonlyArray<readonly [string, Variable]>;
  #startedAt = 0;
  #startedPerf = 0;
  #warned = false;
  #exposed = false;
  readonly #ratesTask: SamplerTask;

  constructor(host: MetricsHost) {
    this.#host = host;
    this.#vars = [
      ["error", this.nonServiceErrors],
      ["eps", new PerSecond(this.nonServiceErrors)],
      ["non_service_error", new PassiveStatus(() => this.nonServiceErrors.value)],
      ["concurrency", new PassiveStatus(() => host.concurrency)],
      ["connection_count", new PassiveStatus(() => host.connections.size)],
      ["service_count", new PassiveStatus(() => host.registry.services().length)],
      ["uptime", new PassiveStatus(() => Math.round((performance.now() - this.#startedPerf) * 1000) / 1e6)],
      ["start_time", new PassiveStatus(() => formatStartTime(this.#startedAt))],
    ];
    this.#ratesTask = {
      takeSample: () => {
        for (const c of host.connections) {
          c.rates ??= new ConnectionRates();
          c.rates.update(c);
        }
        return true;
      },
    };
  }

  /** Server started: expose everything under `prefix` and sample the connections' traffic. */
  expose(prefix: string): void {
    this.hide();
    this.#exposed = true;
    this.#startedAt = Date.now();
    this.#startedPerf = performance.now();
    exposeProcessMetrics();
    const taken: string[] = [];
    for (const [name, v] of this.#vars) if (!v.exposeAs(prefix, name)) taken.push(`${prefix}_${name}`);
    for (const svc of this.#host.registry.services()) {
      for (const m of svc.methods.values()) {
        const mprefix = `${prefix}_${toUnderscoredName(m.fullName)}`;
        if (m.status !== undefined && !m.status.expose(mprefix)) taken.push(`${mprefix}_*`);
      }
    }
    if (taken.length > 0 && !this.#warned) {
      this.#warned = true;
      log.warn(
        `metrics: ${taken.length} variable(s) of ${prefix} not exposed, their names are taken ` +
          `(another server with the same port or serverInfoName?): ${taken.slice(0, 3).join(", ")}`,
      );
    }
    defaultSampler.add(this.#ratesTask);
  }

  /** Server stopped: hide everything (a restart exposes it again). */
  hide(): void {
    if (!this.#exposed) return;
    this.#exposed = false;
    defaultSampler.remove(this.#ratesTask);
    for (const [, v] of this.#vars) v.hide();
    for (const svc of this.#host.registry.services()) for (const m of svc.methods.values()) m.status?.hide();
  }
}
