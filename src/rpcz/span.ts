/**
 * A span (brpc's `Span`, src/brpc/span.h): what rpcz keeps about one call, on the server
 * side (a request this process answered) or the client side (a request it sent). Spans
 * of one trace share its trace id; a client span made while a server span runs is its
 * child (its parent span id is the server span's id), and the server that receives that
 * request continues with the same trace id, span id and parent span id.
 */

/** Which side of a call a span describes. */
export type SpanKind = "server" | "client";

/** A timestamped note on a span (brpc `TRACEPRINTF` / `Span::Annotate`). */
export interface SpanAnnotation {
  /** Wall-clock time in microseconds since the epoch. */
  readonly us: number;
  readonly text: string;
}

/** Annotations kept per span; later ones are counted, not stored. */
export const MAX_ANNOTATIONS = 64;
/** Longest annotation kept, in UTF-16 units; longer ones are cut. */
export const MAX_ANNOTATION_LENGTH = 1024;

const ORIGIN_US = performance.timeOrigin * 1000;

/** Wall-clock time in microseconds, from the monotonic clock (no jumps within the process). */
export function realtimeUs(): number {
  return Math.round(ORIGIN_US + performance.now() * 1000);
}

const pool = new BigUint64Array(64);
let poolAt = pool.length;

/** A random non-zero 64-bit id (trace and span ids; 0 means "none" on the wire, as in brpc). */
export function newSpanId(): bigint {
  for (;;) {
    if (poolAt === pool.length) {
      crypto.getRandomValues(pool);
      poolAt = 0;
    }
    const v = pool[poolAt++] as bigint;
    if (v !== 0n) return v;
  }
}

/** One traced call. Fields are filled as the call goes; the span is stored when it ends. */
export class Span {
  readonly kind: SpanKind;
  /** Shared by every span of the trace (unsigned 64-bit). */
  readonly traceId: bigint;
  /** This span's id; a server span takes the id its client sent. */
  readonly spanId: bigint;
  /** The span this one was made in (client) or the caller's parent (server); 0n for none. */
  readonly parentSpanId: bigint;
  /** log_id of the call, if any. */
  logId: bigint | undefined = undefined;
  /** "baidu_std", "http", "h2", "h2:grpc" ... */
  protocol: string;
  /** The peer: the client of a server span, the server of a client span. */
  remoteSide = "";
  /** Full method name ("example.EchoService.Echo"), or the URL path of an unrouted HTTP request. */
  method = "";
  /** Request bytes (received by a server span, sent by a client span). */
  requestSize = 0;
  /** Response bytes (sent by a server span, received by a client span). */
  responseSize = 0;
  /** brpc error code of the call, 0 when it succeeded. */
  errorCode = 0;
  errorText = "";
  /** Server: the request arrived. Client: the call was issued. (µs since the epoch, as all times below.) */
  readonly startUs: number;
  /** Server: the handler was entered. 0 if it never was. */
  callbackUs = 0;
  /** Server: the handler finished (its promise settled). 0 if it never ran. */
  leaveUs = 0;
  /** Server: the response was written. Client: the (last attempt's) request was written. */
  sentUs = 0;
  /** Client: the response (or the failure) came back. */
  receivedUs = 0;
  /** When the call ended; 0 while it runs. */
  endUs = 0;
  /** Client: attempts after the first. */
  retries = 0;
  /** Notes added with {@link annotate}, in order. */
  annotations: SpanAnnotation[] | undefined = undefined;
  /** Annotations dropped beyond {@link MAX_ANNOTATIONS}. */
  droppedAnnotations = 0;
  /** @internal The ids as baidu_std meta fields, encoded on first send. */
  wireIds: Uint8Array | undefined = undefined;

  /** @internal use the rpcz module's constructors. */
  constructor(
    kind: SpanKind,
    traceId: bigint,
    spanId: bigint,
    parentSpanId: bigint,
    protocol: string,
    startUs = realtimeUs(),
  ) {
    this.kind = kind;
    this.traceId = traceId;
    this.spanId = spanId;
    this.parentSpanId = parentSpanId;
    this.protocol = protocol;
    this.startUs = startUs;
  }

  /** True once the call is over (the span is in the store). */
  get ended(): boolean {
    return this.endUs !== 0;
  }

  /** Microseconds from start to end (to now while the call runs). */
  get latencyUs(): number {
    return (this.endUs === 0 ? realtimeUs() : this.endUs) - this.startUs;
  }

  /** Add a timestamped note (brpc `TRACEPRINTF`). Kept: {@link MAX_ANNOTATIONS}, each up to {@link MAX_ANNOTATION_LENGTH}. */
  annotate(text: string): void {
    let list = this.annotations;
    if (list === undefined) {
      list = [];
      this.annotations = list;
    }
    if (list.length >= MAX_ANNOTATIONS) {
      this.droppedAnnotations++;
      return;
    }
    const t = typeof text === "string" ? text : String(text);
    list.push({
      us: realtimeUs(),
      text: t.length > MAX_ANNOTATION_LENGTH ? t.slice(0, MAX_ANNOTATION_LENGTH) : t,
    });
  }
}
