/**
 * The statistics of one server method (brpc's `MethodStatus`, details/method_status.cpp):
 * latency, qps and count of successful calls, errors and errors per second, calls in flight
 * and the configured limit, exposed under brpc's names.
 */
import { LatencyRecorder } from "../metrics/latency.js";
import { Adder } from "../metrics/reducer.js";
import type { Sampler } from "../metrics/sampler.js";
import { PassiveStatus } from "../metrics/status.js";
import type { Variable } from "../metrics/variable.js";
import { PerSecond } from "../metrics/window.js";

/** What a {@link MethodStatus} reads its concurrency from (a server's `MethodEntry`). */
export interface ConcurrencySource {
  /** Calls of the method running now. */
  readonly concurrency: number;
  /** The method's max concurrency, 0 = unlimited. */
  readonly maxConcurrency: number;
}

/** Options of `new MethodStatus()` (tests). */
export interface MethodStatusOptions {
  /** Samples the windows; default `defaultSampler`. */
  sampler?: Sampler;
}

/**
 * Statistics of one method, as brpc keeps them: a successful call is recorded in
 * {@link latency} (so `count`, `qps` and the latencies are about successful calls, as in
 * brpc), a failed one adds 1 to {@link errors}. Exposed by {@link expose} as
 * `<prefix>_{count,qps,latency,max_latency,latency_80,latency_90,latency_99,latency_999,
 * latency_9999,latency_cdf,latency_percentiles,concurrency,error,eps}` and
 * `<prefix>_max_concurrency` when the method has a limit.
 */
export class MethodStatus {
  /** Latencies of successful calls in microseconds: count, qps, average, max, percentiles over 10 s. */
  readonly latency: LatencyRecorder;
  /** Failed calls. */
  readonly errors = new Adder();
  /** Failed calls per second over the last 10 s (brpc's `_eps`). */
  readonly eps: PerSecond;
  readonly #source: ConcurrencySource;
  readonly #concurrencyVar: PassiveStatus;
  readonly #maxConcurrencyVar: PassiveStatus;
  #prefix = "";

  /** The status of the method whose concurrency `source` holds. */
  constructor(source: ConcurrencySource, options: MethodStatusOptions = {}) {
    this.#source = source;
    this.latency = new LatencyRecorder({ sampler: options.sampler });
    this.eps = new PerSecond(this.errors, undefined, { sampler: options.sampler });
    this.#concurrencyVar = new PassiveStatus(() => source.concurrency);
    this.#maxConcurrencyVar = new PassiveStatus(() => source.maxConcurrency);
  }

  /** Record the end of a call: its latency in microseconds if it succeeded, an error otherwise. */
  onResponded(failed: boolean, latencyUs: number): void {
    if (failed) this.errors.add(1);
    else this.latency.record(latencyUs);
  }

  /** Successful calls so far. */
  get count(): number {
    return this.latency.count;
  }

  /** Failed calls so far. */
  get errorCount(): number {
    return this.errors.value;
  }

  /** Calls running now. */
  get concurrency(): number {
    return this.#source.concurrency;
  }

  /** The configured max concurrency, 0 = unlimited. */
  get maxConcurrency(): number {
    return this.#source.maxConcurrency;
  }

  /** The prefix the variables are exposed under, `""` while hidden. */
  get prefix(): string {
    return this.#prefix;
  }

  /**
   * Expose the variables as `<prefix>_count`, `<prefix>_error`, ... in `defaultRegistry`
   * (`prefix` is e.g. `rpc_server_8000_example_echo_service_echo`). Variables whose name is
   * taken stay hidden; returns false if any was. Exposing again moves them.
   */
  expose(prefix: string): boolean {
    this.hide();
    this.#prefix = prefix;
    let ok = this.latency.expose(prefix);
    const parts: Array<[string, Variable]> = [
      ["concurrency", this.#concurrencyVar],
      ["error", this.errors],
      ["eps", this.eps],
    ];
    // brpc exposes max_concurrency only for a method that has a concurrency limiter.
    if (this.#source.maxConcurrency > 0) parts.push(["max_concurrency", this.#maxConcurrencyVar]);
    for (const [name, v] of parts) ok = v.exposeAs(prefix, name) && ok;
    return ok;
  }

  /** Hide every variable (idempotent). */
  hide(): void {
    this.#prefix = "";
    this.latency.hide();
    this.#concurrencyVar.hide();
    this.errors.hide();
    this.eps.hide();
    this.#maxConcurrencyVar.hide();
  }
}
