/**
 * Where finished spans go: one bounded ring per process (brpc keeps its spans in a
 * process-wide leveldb, `-rpcz_keep_span_seconds`), and the switches that decide which
 * calls get a span (brpc `-enable_rpcz`, off by default).
 */
import type { Span } from "./span.js";

/** Spans kept by default; the oldest are dropped first. */
export const DEFAULT_MAX_SPANS = 10000;
/** New traces started per second by default (brpc's `-bvar_collector_expected_per_second`). */
export const DEFAULT_MAX_TRACES_PER_SECOND = 1000;
/** Largest accepted `maxSpans`. */
export const MAX_MAX_SPANS = 1_000_000;

/** Settings of rpcz, process-wide (see {@link configureRpcz}). */
export interface RpczOptions {
  /** Spans kept in memory (default 10000, at most 1000000); the oldest are dropped first. */
  maxSpans?: number;
  /**
   * Calls that start a trace (a server call whose client sent no trace id, a client call
   * made outside a traced handler) are sampled to about this many per second (default
   * 1000, as brpc's collector; 0 = trace every call). Calls of a trace already started are
   * always traced, so sampled traces are whole.
   */
  maxTracesPerSecond?: number;
  /**
   * Carry the running server span through the handler's awaits with node's
   * AsyncLocalStorage, so client calls made anywhere in the handler become its children
   * (default true). When false, only calls made synchronously in the handler (before its
   * first await) or given `CallOptions.parentSpan` are linked. Either way it costs nothing
   * while no span exists.
   */
  asyncContext?: boolean;
}

/** A bounded ring of finished spans. */
export class SpanStore {
  #ring: (Span | undefined)[];
  #next = 0;
  #size = 0;
  /** Spans stored since the process started (or the last clear). */
  added = 0;

  constructor(capacity = DEFAULT_MAX_SPANS) {
    this.#ring = new Array<Span | undefined>(checkCapacity(capacity));
  }

  /** Most spans kept. */
  get capacity(): number {
    return this.#ring.length;
  }

  /** Spans kept now. */
  get size(): number {
    return this.#size;
  }

  /** Keep `span`, dropping the oldest when full. */
  add(span: Span): void {
    this.#ring[this.#next] = span;
    this.#next = this.#next + 1 === this.#ring.length ? 0 : this.#next + 1;
    if (this.#size < this.#ring.length) this.#size++;
    this.added++;
  }

  /** Kept spans, newest first (in the order they ended). */
  *newestFirst(): IterableIterator<Span> {
    const ring = this.#ring;
    const n = ring.length;
    let i = this.#next;
    for (let k = 0; k < this.#size; k++) {
      i = i === 0 ? n - 1 : i - 1;
      yield ring[i] as Span;
    }
  }

  /** Change the capacity, keeping the newest spans that fit. */
  resize(capacity: number): void {
    checkCapacity(capacity);
    if (capacity === this.#ring.length) return;
    const keep = [...this.newestFirst()].slice(0, capacity).reverse();
    this.#ring = new Array<Span | undefined>(capacity);
    this.#next = 0;
    this.#size = 0;
    const added = this.added;
    for (const s of keep) this.add(s);
    this.added = added;
  }

  /** Drop every span. */
  clear(): void {
    this.#ring.fill(undefined);
    this.#next = 0;
    this.#size = 0;
    this.added = 0;
  }
}

function checkCapacity(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > MAX_MAX_SPANS) {
    throw new RangeError(`rpcz maxSpans must be an integer in [1, ${MAX_MAX_SPANS}], got ${n}`);
  }
  return n;
}

/**
 * The process-wide rpcz state. Hot paths read `enabled` and `armed` only.
 * @internal
 */
export const rpczState = {
  /** brpc `-enable_rpcz`: every server and channel of the process traces its calls. */
  enabled: false,
  /**
   * Some span may exist (rpcz was enabled, a server or channel opted in, or a traced
   * request arrived): client calls look for a parent span. False until then, so a
   * process that never traces pays one boolean test per call.
   */
  armed: false,
  /** See {@link RpczOptions.asyncContext}. */
  asyncContext: true,
  store: new SpanStore(),
  /** See {@link RpczOptions.maxTracesPerSecond}; 0 = no sampling. */
  maxTracesPerSecond: DEFAULT_MAX_TRACES_PER_SECOND,
};

// ---- sampling of new traces (brpc's bvar::CollectorSpeedLimit, simplified) -------------

/** Calls that could have started a trace in the current second, and traces started. */
let candidates = 0;
let started = 0;
/** Fraction of candidates traced, from the last second's count. */
let ratio = 1;
let ticker: NodeJS.Timeout | undefined;

function tick(): void {
  const max = rpczState.maxTracesPerSecond;
  ratio = max > 0 && candidates > max ? max / candidates : 1;
  candidates = 0;
  started = 0;
}

/**
 * @internal Should a call that would start a new trace be traced? At most
 * `maxTracesPerSecond` per second, spread over the second by the rate of the one before.
 */
export function sampleNewTrace(): boolean {
  const max = rpczState.maxTracesPerSecond;
  if (max <= 0) return true;
  if (ticker === undefined) {
    ticker = setInterval(tick, 1000);
    ticker.unref();
  }
  candidates++;
  if (started >= max || (ratio < 1 && Math.random() >= ratio)) return false;
  started++;
  return true;
}

/** True when rpcz is on process-wide ({@link setRpczEnabled}). */
export function isRpczEnabled(): boolean {
  return rpczState.enabled;
}

/** Change rpcz's settings (process-wide). */
export function configureRpcz(options: RpczOptions): void {
  if (options.maxSpans !== undefined) rpczState.store.resize(options.maxSpans);
  if (options.asyncContext !== undefined) rpczState.asyncContext = options.asyncContext;
  if (options.maxTracesPerSecond !== undefined) setMaxTracesPerSecond(options.maxTracesPerSecond);
}

function setMaxTracesPerSecond(n: number): void {
  if (!Number.isInteger(n) || n < 0)
    throw new RangeError(`rpcz maxTracesPerSecond must be an integer >= 0, got ${n}`);
  rpczState.maxTracesPerSecond = n;
  ratio = 1;
  candidates = 0;
  started = 0;
}

/** The kept spans, newest first: a copy, for tools and tests. */
export function rpczSpans(): Span[] {
  return [...rpczState.store.newestFirst()];
}

/** Drop every kept span. */
export function clearRpczSpans(): void {
  rpczState.store.clear();
}
