/**
 * Hand-written codec for brpc's `brpc.policy.RpcMeta` (baidu_rpc_meta.proto) and the
 * `brpc.StreamSettings` it carries. The meta is on every frame, so it avoids the
 * generic codec; field numbers are those of brpc's .proto files.
 */
import { DecodeError, Reader } from "../../io/reader.js";
import { varintSize, type Writer } from "../../io/writer.js";

/** `brpc.StreamSettings` (streaming_rpc_meta.proto). Stream ids are opaque 64-bit values. */
export interface StreamSettings {
  streamId: bigint;
  needFeedback: boolean;
  writable: boolean;
  extraStreamIds: bigint[];
}

/** A decoded RpcMeta. Request fields are set only when `hasRequest`, response fields when `hasResponse`. */
export class RpcMeta {
  hasRequest = false;
  hasResponse = false;
  // RpcRequestMeta
  serviceName = "";
  methodName = "";
  logId: bigint | undefined = undefined;
  traceId: bigint | undefined = undefined;
  spanId: bigint | undefined = undefined;
  parentSpanId: bigint | undefined = undefined;
  requestId: string | undefined = undefined;
  timeoutMs: number | undefined = undefined;
  // RpcResponseMeta
  errorCode = 0;
  errorText = "";
  // RpcMeta
  compressType = 0;
  correlationId: number | bigint = 0;
  attachmentSize = 0;
  authenticationData: Uint8Array | undefined = undefined;
  streamSettings: StreamSettings | undefined = undefined;
  userFields: Record<string, string> | undefined = undefined;
  contentType = 0;
  checksumType = 0;
  checksumValue: Uint8Array | undefined = undefined;
  checksumWithAttachment = false;
}

const reader = new Reader(new Uint8Array(0));

/** Reset every field of `m` to its default. */
function clear(m: RpcMeta): void {
  m.hasRequest = false;
  m.hasResponse = false;
  m.serviceName = "";
  m.methodName = "";
  m.logId = undefined;
  m.traceId = undefined;
  m.spanId = undefined;
  m.parentSpanId = undefined;
  m.requestId = undefined;
  m.timeoutMs = undefined;
  m.errorCode = 0;
  m.errorText = "";
  m.compressType = 0;
  m.correlationId = 0;
  m.attachmentSize = 0;
  m.authenticationData = undefined;
  m.streamSettings = undefined;
  m.userFields = undefined;
  m.contentType = 0;
  m.checksumType = 0;
  m.checksumValue = undefined;
  m.checksumWithAttachment = false;
}

/**
 * Decode an RpcMeta from `buf[start, end)`; throws DecodeError on malformed input.
 * With `into`, that object is reset and filled (hot paths reuse one); byte fields are
 * views into `buf`.
 */
export function decodeRpcMeta(buf: Uint8Array, start: number, end: number, into?: RpcMeta): RpcMeta {
  const r = reader.reset(buf, start, end);
  let m: RpcMeta;
  if (into === undefined) m = new RpcMeta();
  else {
    m = into;
    clear(m);
  }
  while (r.pos < r.end) {
    const tag = r.uint32();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1: {
        if (wt !== 2) throw new DecodeError("RpcMeta.request: wrong wire type");
        m.hasRequest = true;
        const outer = r.enter();
        decodeRequestMeta(r, m);
        r.leave(outer);
        break;
      }
      case 2: {
        if (wt !== 2) throw new DecodeError("RpcMeta.response: wrong wire type");
        m.hasResponse = true;
        const outer = r.enter();
        decodeResponseMeta(r, m);
        r.leave(outer);
        break;
      }
      case 3:
        m.compressType = wt === 0 ? r.int32() : skip(r, wt);
        break;
      case 4:
        if (wt === 0) m.correlationId = r.uint64();
        else r.skip(wt);
        break;
      case 5:
        m.attachmentSize = wt === 0 ? r.int32() : skip(r, wt);
        if (m.attachmentSize < 0) throw new DecodeError("negative attachment_size");
        break;
      case 7:
        if (wt === 2) m.authenticationData = r.bytes();
        else r.skip(wt);
        break;
      case 8:
        if (wt === 2) m.streamSettings = decodeStreamSettings(r.bytes());
        else r.skip(wt);
        break;
      case 9:
        if (wt === 2) {
          const e = r.bytes();
          m.userFields ??= {};
          decodeMapEntry(e, m.userFields);
        } else r.skip(wt);
        break;
      case 10:
        m.contentType = wt === 0 ? r.int32() : skip(r, wt);
        break;
      case 11:
        m.checksumType = wt === 0 ? r.int32() : skip(r, wt);
        break;
      case 12:
        if (wt === 2) m.checksumValue = r.bytes();
        else r.skip(wt);
        break;
      case 13:
        m.checksumWithAttachment = wt === 0 ? r.bool() : skip(r, wt) !== 0;
        break;
      default:
        r.skip(wt);
    }
  }
  return m;
}

function skip(r: Reader, wt: number): number {
  r.skip(wt);
  return 0;
}

function decodeRequestMeta(r: Reader, m: RpcMeta): void {
  while (r.pos < r.end) {
    const tag = r.uint32();
    const wt = tag & 7;
    const f = tag >>> 3;
    if (wt === 2 && f === 1) m.serviceName = r.string();
    else if (wt === 2 && f === 2) m.methodName = r.string();
    else if (wt === 0 && f === 3) m.logId = r.int64();
    // Tracing ids are unsigned 64-bit in brpc (declared int64 in the .proto).
    else if (wt === 0 && f === 4) m.traceId = readId(r);
    else if (wt === 0 && f === 5) m.spanId = readId(r);
    else if (wt === 0 && f === 6) m.parentSpanId = readId(r);
    else if (wt === 2 && f === 7) m.requestId = r.string();
    else if (wt === 0 && f === 8) m.timeoutMs = r.int32();
    else r.skip(wt);
  }
}

/** A varint as an unsigned 64-bit bigint, with two bigint operations instead of one per byte. */
function readId(r: Reader): bigint {
  const b = r.buf;
  let p = r.pos;
  let lo = 0; // bits 0..27
  let hi = 0; // bits 28..69
  for (let i = 0; ; i++) {
    if (p >= r.end) throw new DecodeError("truncated varint");
    const byte = b[p++] as number;
    if (i < 4) lo |= (byte & 0x7f) << (7 * i);
    else hi += (byte & 0x7f) * 2 ** (7 * (i - 4));
    if (byte < 0x80) break;
    if (i >= 9) throw new DecodeError("varint too long");
  }
  r.pos = p;
  return hi === 0 ? BigInt(lo) : BigInt.asUintN(64, (BigInt(hi) << 28n) | BigInt(lo));
}

function decodeResponseMeta(r: Reader, m: RpcMeta): void {
  while (r.pos < r.end) {
    const tag = r.uint32();
    const wt = tag & 7;
    const f = tag >>> 3;
    if (wt === 0 && f === 1) m.errorCode = r.int32();
    else if (wt === 2 && f === 2) m.errorText = r.string();
    else r.skip(wt);
  }
}

function decodeMapEntry(b: Uint8Array, out: Record<string, string>): void {
  const r = new Reader(b, 0, b.length);
  let k = "";
  let v = "";
  while (r.pos < r.end) {
    const tag = r.uint32();
    const wt = tag & 7;
    const f = tag >>> 3;
    if (wt === 2 && f === 1) k = r.string();
    else if (wt === 2 && f === 2) v = r.string();
    else r.skip(wt);
  }
  // defineProperty: a key like "__proto__" becomes a plain own property.
  Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** Decode a `brpc.StreamSettings` message. */
export function decodeStreamSettings(b: Uint8Array): StreamSettings {
  const r = new Reader(b, 0, b.length);
  const s: StreamSettings = { streamId: -1n, needFeedback: false, writable: false, extraStreamIds: [] };
  while (r.pos < r.end) {
    const tag = r.uint32();
    const wt = tag & 7;
    const f = tag >>> 3;
    if (wt === 0 && f === 1) s.streamId = r.int64();
    else if (wt === 0 && f === 2) s.needFeedback = r.bool();
    else if (wt === 0 && f === 3) s.writable = r.bool();
    else if (wt === 0 && f === 4) s.extraStreamIds.push(r.int64());
    else if (wt === 2 && f === 4) {
      const packed = r.bytes();
      const pr = new Reader(packed, 0, packed.length);
      while (pr.pos < pr.end) s.extraStreamIds.push(pr.int64());
    } else r.skip(wt);
  }
  return s;
}

// ---------------------------------------------------------------------------
// Encoding

function varint64Size(v: bigint): number {
  let u = BigInt.asUintN(64, v);
  let n = 1;
  while (u > 0x7fn) {
    u >>= 7n;
    n++;
  }
  return n;
}

function int32Size(v: number): number {
  return v < 0 ? 10 : varintSize(v);
}

const utf8Len = (s: string): number => Buffer.byteLength(s, "utf8");

/** Request-side fields of an RpcMeta to encode. */
export interface RequestMetaFields {
  /** Pre-encoded `service_name` + `method_name` fields (see {@link encodeMethodPrefix}). */
  methodPrefix: Uint8Array;
  logId?: bigint | undefined;
  traceId?: bigint | undefined;
  spanId?: bigint | undefined;
  parentSpanId?: bigint | undefined;
  requestId?: string | undefined;
  timeoutMs?: number | undefined;
  /** Pre-encoded fields 4-6 (see {@link encodeTracingFields}); replaces traceId/spanId/parentSpanId. */
  tracing?: Uint8Array | undefined;
}

/** Append the varint of unsigned 64-bit `v` to `out` at `p`; returns the new position. */
function putVarint64(out: Uint8Array, p: number, v: bigint): number {
  let lo = Number(v & 0xffffffffn);
  let hi = Number(v >> 32n);
  // 7 bits at a time from the 64-bit value held as two 32-bit halves.
  while (hi !== 0 || lo > 0x7f) {
    out[p++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | ((hi & 0x7f) << 25)) >>> 0;
    hi >>>= 7;
  }
  out[p++] = lo;
  return p;
}

/**
 * RpcRequestMeta fields 4 (trace_id), 5 (span_id) and 6 (parent_span_id) encoded once, for
 * a traced call's every attempt (brpc sets all three when the call has a span).
 */
export function encodeTracingFields(traceId: bigint, spanId: bigint, parentSpanId: bigint): Uint8Array {
  const tmp = new Uint8Array(33);
  let p = 0;
  tmp[p++] = 0x20;
  p = putVarint64(tmp, p, BigInt.asUintN(64, traceId));
  tmp[p++] = 0x28;
  p = putVarint64(tmp, p, BigInt.asUintN(64, spanId));
  tmp[p++] = 0x30;
  p = putVarint64(tmp, p, BigInt.asUintN(64, parentSpanId));
  return tmp.subarray(0, p);
}

/** Pre-encode RpcRequestMeta fields 1 and 2, which are the same for every call of a method. */
export function encodeMethodPrefix(serviceName: string, methodName: string): Uint8Array {
  const s = Buffer.from(serviceName, "utf8");
  const m = Buffer.from(methodName, "utf8");
  const out = Buffer.alloc(1 + varintSize(s.length) + s.length + 1 + varintSize(m.length) + m.length);
  let p = 0;
  out[p++] = 0x0a;
  p = putVarint(out, p, s.length);
  out.set(s, p);
  p += s.length;
  out[p++] = 0x12;
  p = putVarint(out, p, m.length);
  out.set(m, p);
  return out;
}

function putVarint(out: Uint8Array, p: number, v: number): number {
  while (v > 0x7f) {
    out[p++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[p++] = v;
  return p;
}

/** Fields shared by request and response metas. */
export interface CommonMetaFields {
  compressType: number;
  correlationId: number | bigint;
  attachmentSize: number;
  authenticationData?: Uint8Array | undefined;
  streamSettings?: StreamSettings | undefined;
  userFields?: Record<string, string> | undefined;
  contentType: number;
  checksumType: number;
  /** With checksumType=1 the encoder reserves 4 bytes; the position is returned for backpatching. */
  checksumWithAttachment?: boolean | undefined;
}

/**
 * Append an RpcMeta. Exactly one of `req`/`res` is given. Returns the writer mark of
 * the 4-byte checksum value when checksumType is CRC32C (to be backpatched once the
 * payload is known), else -1.
 */
export function encodeRpcMeta(
  w: Writer,
  req: RequestMetaFields | undefined,
  res: { errorCode: number; errorText: string } | undefined,
  c: CommonMetaFields,
): number {
  if (req !== undefined) {
    let len = req.methodPrefix.length;
    if (req.logId !== undefined) len += 1 + varint64Size(req.logId);
    if (req.traceId !== undefined) len += 1 + varint64Size(req.traceId);
    if (req.spanId !== undefined) len += 1 + varint64Size(req.spanId);
    if (req.parentSpanId !== undefined) len += 1 + varint64Size(req.parentSpanId);
    if (req.tracing !== undefined) len += req.tracing.length;
    let ridLen = 0;
    if (req.requestId !== undefined) {
      ridLen = utf8Len(req.requestId);
      len += 1 + varintSize(ridLen) + ridLen;
    }
    if (req.timeoutMs !== undefined) len += 1 + int32Size(req.timeoutMs);
    w.u8(0x0a);
    w.uvarint(len);
    w.raw(req.methodPrefix);
    if (req.logId !== undefined) {
      w.u8(0x18);
      w.varint64(req.logId);
    }
    if (req.traceId !== undefined) {
      w.u8(0x20);
      w.varint64(req.traceId);
    }
    if (req.spanId !== undefined) {
      w.u8(0x28);
      w.varint64(req.spanId);
    }
    if (req.parentSpanId !== undefined) {
      w.u8(0x30);
      w.varint64(req.parentSpanId);
    }
    if (req.tracing !== undefined) w.raw(req.tracing);
    if (req.requestId !== undefined) {
      w.u8(0x3a);
      w.string(req.requestId);
    }
    if (req.timeoutMs !== undefined) {
      w.u8(0x40);
      w.int32(req.timeoutMs);
    }
  } else if (res !== undefined) {
    const textLen = res.errorText.length > 0 ? utf8Len(res.errorText) : 0;
    const len = 1 + int32Size(res.errorCode) + (textLen > 0 ? 1 + varintSize(textLen) + textLen : 0);
    w.u8(0x12);
    w.uvarint(len);
    w.u8(0x08);
    w.int32(res.errorCode);
    if (textLen > 0) {
      w.u8(0x12);
      w.string(res.errorText);
    }
  }
  // brpc always sets compress_type, content_type, checksum_type and checksum_value.
  w.u8(0x18);
  w.int32(c.compressType);
  w.u8(0x20);
  if (typeof c.correlationId === "number") w.uvarint(c.correlationId);
  else w.varint64(c.correlationId);
  if (c.attachmentSize > 0) {
    w.u8(0x28);
    w.uvarint(c.attachmentSize);
  }
  if (c.authenticationData !== undefined) {
    w.u8(0x3a);
    w.bytes(c.authenticationData);
  }
  if (c.streamSettings !== undefined) encodeStreamSettingsField(w, c.streamSettings);
  if (c.userFields !== undefined) {
    for (const k in c.userFields) {
      const v = c.userFields[k] as string;
      const kl = utf8Len(k);
      const vl = utf8Len(v);
      w.u8(0x4a);
      w.uvarint(1 + varintSize(kl) + kl + 1 + varintSize(vl) + vl);
      w.u8(0x0a);
      w.string(k);
      w.u8(0x12);
      w.string(v);
    }
  }
  w.u8(0x50);
  w.int32(c.contentType);
  w.u8(0x58);
  w.int32(c.checksumType);
  let checksumAt = -1;
  if (c.checksumType === 1) {
    w.ensure(6);
    w.u8(0x62);
    w.u8(4);
    checksumAt = w.mark();
    w.pos += 4;
    if (c.checksumWithAttachment) {
      w.u8(0x68);
      w.u8(1);
    }
  } else {
    w.u8(0x62);
    w.u8(0);
  }
  return checksumAt;
}

/** Append RpcMeta field 8 (stream_settings). */
export function encodeStreamSettingsField(w: Writer, s: StreamSettings): void {
  let len = 1 + varint64Size(s.streamId);
  if (s.needFeedback) len += 2;
  if (s.writable) len += 2;
  for (const id of s.extraStreamIds) len += 1 + varint64Size(id);
  w.u8(0x42);
  w.uvarint(len);
  w.u8(0x08);
  w.varint64(s.streamId);
  if (s.needFeedback) {
    w.u8(0x10);
    w.u8(1);
  }
  if (s.writable) {
    w.u8(0x18);
    w.u8(1);
  }
  for (const id of s.extraStreamIds) {
    w.u8(0x20);
    w.varint64(id);
  }
}
