/** rpcz: spans of recent calls, trace propagation, the process-wide store (see docs/rpcz.md). */
export { MAX_ANNOTATION_LENGTH, MAX_ANNOTATIONS, Span, type SpanAnnotation, type SpanKind } from "./span.js";
export {
  clearRpczSpans,
  configureRpcz,
  DEFAULT_MAX_SPANS,
  DEFAULT_MAX_TRACES_PER_SECOND,
  isRpczEnabled,
  type RpczOptions,
  rpczSpans,
} from "./store.js";
export { annotateSpan, currentSpan, setRpczEnabled } from "./trace.js";
