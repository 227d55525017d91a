/**
 * The life of spans: a server span per traced request (begun at admission, entered with
 * the handler, stored when the response is written) and a client span per traced call
 * (begun when the call is issued, stored when it completes), and how a client call finds
 * the server span it is made in (brpc keeps it in bthread-local storage).
 *
 * Servers and protocols call these only when a span exists or is wanted, so a process
 * with rpcz off pays a boolean test per call.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { ClientCall } from "../client/call.js";
import type { ServerContext } from "../server/context.js";
import { newSpanId, realtimeUs, Span } from "./span.js";
import { configureRpcz, type RpczOptions, rpczState, sampleNewTrace } from "./store.js";

/** Spans are unsigned 64-bit; baidu_std int64 fields may decode negative. 0 means none. */
function u64(v: bigint | undefined): bigint {
  return v === undefined ? 0n : BigInt.asUintN(64, v);
}

// ---- the running server span ---------------------------------------------------------

let als: AsyncLocalStorage<Span> | undefined;
/** The span of the handler running synchronously right now (asyncContext off, or before ALS exists). */
let syncSpan: Span | undefined;

/**
 * Turn rpcz on or off for every server and channel of the process (brpc `-enable_rpcz`).
 * Turning it off also stops node's async context tracking that carried spans through
 * handlers (it costs every promise while on); servers and channels created with
 * `rpcz: true` keep tracing.
 */
export function setRpczEnabled(on: boolean): void {
  rpczState.enabled = on;
  if (on) rpczState.armed = true;
  else als?.disable();
}

/**
 * The server span of the handler this code runs in, if that call is traced and not over
 * yet (what a client call made here takes as its parent).
 */
export function currentSpan(): Span | undefined {
  const s = syncSpan ?? als?.getStore();
  return s === undefined || s.endUs !== 0 ? undefined : s;
}

/**
 * Add a note to the current server span (brpc `TRACEPRINTF`); does nothing outside a
 * traced handler. `ctx.annotate()` does the same for a given call.
 */
export function annotateSpan(text: string): void {
  currentSpan()?.annotate(text);
}

/**
 * @internal Run `handler(req, ctx)` as the span's handler: timestamps it and makes the span
 * current (across awaits only when `localRpcz` or rpcz is on process-wide).
 */
export function runInSpan<R>(
  span: Span,
  handler: (req: unknown, ctx: ServerContext) => R,
  req: unknown,
  ctx: ServerContext,
  localRpcz: boolean,
): R {
  span.callbackUs = realtimeUs();
  // AsyncLocalStorage makes every promise of the process pay once entered: only when rpcz
  // was turned on here, never because a peer sent a trace id.
  if (rpczState.asyncContext && (localRpcz || rpczState.enabled)) {
    als ??= new AsyncLocalStorage<Span>();
    return als.run(span, handler, req, ctx);
  }
  const prev = syncSpan;
  syncSpan = span;
  try {
    return handler(req, ctx);
  } finally {
    syncSpan = prev;
  }
}

/** @internal `done` of a traced handler: records when the handler finished. */
export function spanDone<C, T>(span: Span, done: (ctx: C, res: T) => void): (ctx: C, res: T) => void {
  return (c, r) => {
    span.leaveUs = realtimeUs();
    done(c, r);
  };
}

// ---- server spans --------------------------------------------------------------------

/** Arm client-side parent lookup and apply a server's or channel's `rpcz` option; returns whether it is on. */
export function applyRpczOption(option: boolean | RpczOptions | undefined): boolean {
  if (option === undefined || option === false) return false;
  if (typeof option === "object") configureRpcz(option);
  rpczState.armed = true;
  return true;
}

/**
 * @internal Give `ctx` a server span (its request is being admitted). Ids the client sent
 * are kept (brpc: the server span shares the client span's id); missing ones are new.
 */
export function beginServerSpan(ctx: ServerContext): void {
  rpczState.armed = true;
  // A call the client traces is always traced (brpc IsTraceable); new traces are sampled.
  if (ctx.traceId === undefined && !sampleNewTrace()) return;
  const span = new Span(
    "server",
    u64(ctx.traceId) || newSpanId(),
    u64(ctx.spanId) || newSpanId(),
    u64(ctx.parentSpanId),
    ctx.protocol,
  );
  span.logId = ctx.logId;
  ctx.span = span;
}

/** Name of the method of a server call, as brpc shows it (an HTTP path when unrouted). */
function methodNameOf(ctx: ServerContext): string {
  const m = ctx.method;
  if (m !== undefined) return m.fullName;
  if (ctx.serviceName !== "" || ctx.methodName !== "") return `${ctx.serviceName}.${ctx.methodName}`;
  return ctx.http?.path ?? "unknown_method";
}

/** @internal The response of `ctx` was written (or dropped): finish and store its span. Idempotent. */
export function endServerSpan(ctx: ServerContext): void {
  const span = ctx.span;
  if (span === undefined || span.endUs !== 0) return;
  const t = realtimeUs();
  span.sentUs = t;
  span.endUs = t;
  span.method = methodNameOf(ctx);
  span.remoteSide = ctx.remoteSide;
  span.logId = ctx.logId;
  span.errorCode = ctx.errorCode;
  span.errorText = ctx.errorText;
  rpczState.store.add(span);
}

// ---- client spans --------------------------------------------------------------------

/**
 * @internal The span of a client call being issued, or undefined if it is not traced:
 * traced when made in a traced handler (or given `parentSpan`), when rpcz is on, or when
 * its channel has `rpcz: true`. Only called once rpcz is armed.
 */
export function beginClientSpan(call: ClientCall, parentSpan: Span | undefined): Span | undefined {
  let parent = parentSpan ?? currentSpan();
  if (parent !== undefined && parent.endUs !== 0) parent = undefined;
  if (
    parent === undefined &&
    ((!rpczState.enabled && call.channel.options.rpcz !== true) || !sampleNewTrace())
  )
    return undefined;
  const span = new Span(
    "client",
    parent === undefined ? newSpanId() : parent.traceId,
    newSpanId(),
    parent === undefined ? 0n : parent.spanId,
    call.channel.protocol.name,
  );
  span.logId = call.logId;
  span.method = call.method.fullName;
  span.remoteSide = call.remoteSide;
  return span;
}

/** @internal The request of a traced call was written (protocols set its `requestSize`). */
export function clientSpanSent(span: Span): void {
  span.sentUs = realtimeUs();
}

/** @internal A traced call completed (`code` 0) or failed: finish and store its span. */
export function endClientSpan(call: ClientCall, code: number, text: string): void {
  const span = call.span;
  if (span === undefined || span.endUs !== 0) return;
  const t = realtimeUs();
  span.receivedUs = t;
  span.endUs = t;
  span.remoteSide = call.remoteSide;
  span.retries = call.retried;
  span.errorCode = code;
  span.errorText = text;
  rpczState.store.add(span);
}
