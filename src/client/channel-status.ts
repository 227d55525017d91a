/**
 * Client-side statistics of the calls channels make (brpc has no per-channel bvar; brpc-ts
 * keeps one {@link ChannelMethodStatus} per method and per server address, see
 * docs/metrics.md): latency of successful calls from issue to completion, and errors.
 */
import { log } from "../log.js";
import { LatencyRecorder } from "../metrics/latency.js";
import { toUnderscoredName } from "../metrics/name.js";
import { Adder } from "../metrics/reducer.js";
import { PerSecond } from "../metrics/window.js";

/** Statistics of one method called through the channels sharing a {@link ChannelStatus}. */
export class ChannelMethodStatus {
  /** Latencies of successful calls in microseconds, from issue to completion, retries included. */
  readonly latency = new LatencyRecorder();
  /** Failed calls. */
  readonly errors = new Adder();
  /** Failed calls per second over the last 10 s. */
  readonly eps = new PerSecond(this.errors);

  /** Successful calls so far. */
  get count(): number {
    return this.latency.count;
  }

  /** Failed calls so far. */
  get errorCount(): number {
    return this.errors.value;
  }

  /** Expose as `<prefix>_count`, `_qps`, `_latency`..., `_error`, `_eps`; false if a name was taken. */
  expose(prefix: string): boolean {
    let ok = this.latency.expose(prefix);
    ok = this.errors.exposeAs(prefix, "error") && ok;
    ok = this.eps.exposeAs(prefix, "eps") && ok;
    return ok;
  }

  /** Hide every variable. */
  hide(): void {
    this.latency.hide();
    this.errors.hide();
    this.eps.hide();
  }
}

/**
 * The statistics of every channel with the same metrics prefix (`rpc_client_<address>` or
 * `rpc_client_<metricsName>`), by full method name. Created with the first such channel,
 * hidden when the last one closes.
 */
export class ChannelStatus {
  /** Prefix of the variables, e.g. `rpc_client_127_0_0_1_8000`. */
  readonly prefix: string;
  readonly #methods = new Map<string, ChannelMethodStatus>();
  #overflow: ChannelMethodStatus | undefined = undefined;
  #refs = 0;
  #warned = false;

  /** @internal use {@link acquireChannelStatus}. */
  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /** The methods called so far, by full name ("example.EchoService.Echo"). */
  get methods(): ReadonlyMap<string, ChannelMethodStatus> {
    return this.#methods;
  }

  /**
   * The status of `fullMethodName`, created and exposed on first use. Beyond
   * {@link MAX_CHANNEL_METHODS} methods, new ones share one status that is not exposed.
   */
  of(fullMethodName: string): ChannelMethodStatus {
    let st = this.#methods.get(fullMethodName);
    if (st === undefined) {
      if (this.#methods.size >= MAX_CHANNEL_METHODS) {
        this.#overflow ??= new ChannelMethodStatus();
        return this.#overflow;
      }
      st = new ChannelMethodStatus();
      this.#methods.set(fullMethodName, st);
      const mprefix = `${this.prefix}_${toUnderscoredName(fullMethodName)}`;
      if (!st.expose(mprefix) && !this.#warned) {
        this.#warned = true;
        log.warn(`metrics: variables of ${mprefix} not exposed, their names are taken`);
      }
    }
    return st;
  }

  /** @internal */
  _acquire(): void {
    this.#refs++;
  }

  /** @internal true when the last user is gone. */
  _release(): boolean {
    if (--this.#refs > 0) return false;
    for (const st of this.#methods.values()) st.hide();
    return true;
  }
}

const statuses = new Map<string, ChannelStatus>();

/** Most methods a {@link ChannelStatus} keeps (`callRaw` may name any method). */
export const MAX_CHANNEL_METHODS = 1024;

/** The metrics prefix of a channel: `rpc_client_<name>`, underscored. */
export function channelMetricsPrefix(name: string): string {
  return toUnderscoredName(`rpc_client_${name}`);
}

/** @internal The shared status of `prefix`, counting one more channel using it. */
export function acquireChannelStatus(prefix: string): ChannelStatus {
  let st = statuses.get(prefix);
  if (st === undefined) {
    st = new ChannelStatus(prefix);
    statuses.set(prefix, st);
  }
  st._acquire();
  return st;
}

/** @internal A channel using `st` closed; the last one hides its variables. */
export function releaseChannelStatus(st: ChannelStatus): void {
  if (st._release() && statuses.get(st.prefix) === st) statuses.delete(st.prefix);
}
