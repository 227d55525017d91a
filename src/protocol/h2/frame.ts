/**
 * HTTP/2 frame layer (RFC 9113 §4, §6): constants, the 9-byte frame header, payload
 * validation and serializers.
 *
 * Parsing works on a Buffer at an offset so it can run inside a byte-stream parser:
 * {@link readFrameHeader} returns false when fewer than 9 bytes are available, the caller
 * then waits for `length` more payload bytes. Validation reports an {@link H2Error} whose
 * `streamId` is 0 for a connection error (GOAWAY) and the stream's id for a stream error
 * (RST_STREAM).
 *
 * Serializers append to a {@link Writer} (one connection writes many frames into one
 * buffer, handed to the socket with one write).
 */
import type { Writer } from "../../io/writer.js";

/** Frame types (RFC 9113 §6). */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags. */
export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** Error codes (RFC 9113 §7). */
export const H2ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

const ERROR_NAMES = [
  "NO_ERROR",
  "PROTOCOL_ERROR",
  "INTERNAL_ERROR",
  "FLOW_CONTROL_ERROR",
  "SETTINGS_TIMEOUT",
  "STREAM_CLOSED",
  "FRAME_SIZE_ERROR",
  "REFUSED_STREAM",
  "CANCEL",
  "COMPRESSION_ERROR",
  "CONNECT_ERROR",
  "ENHANCE_YOUR_CALM",
  "INADEQUATE_SECURITY",
  "HTTP_1_1_REQUIRED",
];

/** Name of an error code ("0x1f" style for unknown ones). */
export function errorCodeName(code: number): string {
  return ERROR_NAMES[code] ?? `0x${code.toString(16)}`;
}

/** SETTINGS identifiers (RFC 9113 §6.5.2). */
export const SettingId = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** Protocol defaults and limits (typed as plain numbers so they can initialise mutable fields). */
export const H2Default: {
  readonly HEADER_TABLE_SIZE: number;
  readonly INITIAL_WINDOW_SIZE: number;
  readonly MAX_FRAME_SIZE: number;
  readonly MAX_FRAME_SIZE_LIMIT: number;
  readonly MAX_WINDOW_SIZE: number;
  readonly MAX_STREAM_ID: number;
} = {
  HEADER_TABLE_SIZE: 4096,
  INITIAL_WINDOW_SIZE: 65_535,
  MAX_FRAME_SIZE: 16_384,
  MAX_FRAME_SIZE_LIMIT: 16_777_215,
  MAX_WINDOW_SIZE: 2_147_483_647,
  MAX_STREAM_ID: 2_147_483_647,
};

/** Bytes of a frame header. */
export const FRAME_HEADER_SIZE = 9;

/** The client connection preface (RFC 9113 §3.4). */
export const CLIENT_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/**
 * A protocol error. `streamId` 0 means a connection error (answered with GOAWAY), otherwise
 * a stream error on that stream (answered with RST_STREAM).
 */
export class H2Error extends Error {
  readonly code: number;
  readonly streamId: number;
  constructor(code: number, message: string, streamId = 0) {
    super(`${errorCodeName(code)}: ${message}`);
    this.name = "H2Error";
    this.code = code;
    this.streamId = streamId;
  }
}

/** A parsed frame header; one instance is reused by a parser. */
export class FrameHeader {
  length = 0;
  type = 0;
  flags = 0;
  streamId = 0;
}

/**
 * Read the frame header at `off` into `h`. Returns false when fewer than 9 bytes are
 * available in `[off, end)` (need more data).
 */
export function readFrameHeader(buf: Uint8Array, off: number, end: number, h: FrameHeader): boolean {
  if (end - off < FRAME_HEADER_SIZE) return false;
  h.length = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
  h.type = buf[off + 3]!;
  h.flags = buf[off + 4]!;
  h.streamId =
    ((buf[off + 5]! & 0x7f) * 0x1000000 + (buf[off + 6]! << 16)) | (buf[off + 7]! << 8) | buf[off + 8]!;
  return true;
}

/**
 * Check a frame header before its payload is read: size against our SETTINGS_MAX_FRAME_SIZE,
 * the stream-0 rules and the fixed sizes of control frames (RFC 9113 §4.2, §6).
 * Returns null when the header is acceptable. Unknown frame types are always acceptable
 * (they are ignored, §4.1) as long as they fit the size limit.
 */
export function checkFrameHeader(h: FrameHeader, maxFrameSize: number): H2Error | null {
  const { length, type, streamId } = h;
  if (length > maxFrameSize) return new H2Error(H2ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes`);
  switch (type) {
    case FrameType.DATA:
    case FrameType.HEADERS:
    case FrameType.CONTINUATION:
    case FrameType.PUSH_PROMISE:
      if (streamId === 0) return new H2Error(H2ErrorCode.PROTOCOL_ERROR, `frame type ${type} on stream 0`);
      return null;
    case FrameType.PRIORITY:
      if (streamId === 0) return new H2Error(H2ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0");
      if (length !== 5) return new H2Error(H2ErrorCode.FRAME_SIZE_ERROR, "PRIORITY length", streamId);
      return null;
    case FrameType.RST_STREAM:
      if (streamId === 0) return new H2Error(H2ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
      if (length !== 4) return new H2Error(H2ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM length");
      return null;
    case FrameType.SETTINGS:
      if (streamId !== 0) return new H2Error(H2ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
      if ((h.flags & Flag.ACK) !== 0 && length !== 0) {
        return new H2Error(H2ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
      }
      if (length % 6 !== 0) return new H2Error(H2ErrorCode.FRAME_SIZE_ERROR, "SETTINGS length");
      return null;
    case FrameType.PING:
      if (streamId !== 0) return new H2Error(H2ErrorCode.PROTOCOL_ERROR, "PING on a stream");
      if (length !== 8) return new H2Error(H2ErrorCode.FRAME_SIZE_ERROR, "PING length");
      return null;
    case FrameType.GOAWAY:
      if (streamId !== 0) return new H2Error(H2ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream");
      if (length < 8) return new H2Error(H2ErrorCode.FRAME_SIZE_ERROR, "GOAWAY length");
      return null;
    case FrameType.WINDOW_UPDATE:
      if (length !== 4) return new H2Error(H2ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE length");
      return null;
    default:
      return null;
  }
}

/**
 * Bounds of a frame's content once padding (and for HEADERS the priority fields) are
 * removed; one instance is reused by a parser.
 */
export class FramePayload {
  start = 0;
  end = 0;
}

/**
 * Strip padding (DATA, HEADERS) and the priority block (HEADERS) from the payload in
 * `[off, off + h.length)`, storing the content bounds in `out`. Padding that does not fit
 * is a connection PROTOCOL_ERROR (§6.1); a HEADERS frame depending on its own stream is a
 * stream PROTOCOL_ERROR (§5.3.1). Returns null on success.
 */
export function framePayload(
  h: FrameHeader,
  buf: Uint8Array,
  off: number,
  out: FramePayload,
): H2Error | null {
  let start = off;
  let end = off + h.length;
  if ((h.flags & Flag.PADDED) !== 0) {
    if (h.length < 1) return new H2Error(H2ErrorCode.PROTOCOL_ERROR, "PADDED frame without a pad length");
    const pad = buf[start++]!;
    end -= pad;
    if (end < start) return new H2Error(H2ErrorCode.PROTOCOL_ERROR, "padding exceeds the frame payload");
  }
  if (h.type === FrameType.HEADERS && (h.flags & Flag.PRIORITY) !== 0) {
    if (end - start < 5) return new H2Error(H2ErrorCode.PROTOCOL_ERROR, "HEADERS too short for its priority");
    const dep =
      ((buf[start]! & 0x7f) << 24) | (buf[start + 1]! << 16) | (buf[start + 2]! << 8) | buf[start + 3]!;
    start += 5;
    if (dep === h.streamId) {
      // A stream error: the bounds are still set so the caller can decode the block.
      out.start = start;
      out.end = end;
      return new H2Error(H2ErrorCode.PROTOCOL_ERROR, "stream depends on itself", h.streamId);
    }
  }
  out.start = start;
  out.end = end;
  return null;
}

/** Check a PRIORITY payload at `off` (5 bytes, already size-checked): a self-dependency is a stream error. */
export function checkPriority(h: FrameHeader, buf: Uint8Array, off: number): H2Error | null {
  const dep = ((buf[off]! & 0x7f) << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
  if (dep === h.streamId)
    return new H2Error(H2ErrorCode.PROTOCOL_ERROR, "stream depends on itself", h.streamId);
  return null;
}

/** Big-endian uint32 at `off` with the reserved top bit cleared. */
export function readU31(buf: Uint8Array, off: number): number {
  return (buf[off]! & 0x7f) * 0x1000000 + ((buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!);
}

/** Big-endian uint32 at `off`. */
export function readU32(buf: Uint8Array, off: number): number {
  return buf[off]! * 0x1000000 + ((buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!);
}

// ---- serializers ------------------------------------------------------------------

/** Append a frame header. */
export function writeFrameHeader(
  w: Writer,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): void {
  w.ensure(FRAME_HEADER_SIZE);
  const b = w.buf;
  let p = w.pos;
  b[p++] = length >>> 16;
  b[p++] = (length >>> 8) & 0xff;
  b[p++] = length & 0xff;
  b[p++] = type;
  b[p++] = flags;
  b[p++] = (streamId >>> 24) & 0x7f;
  b[p++] = (streamId >>> 16) & 0xff;
  b[p++] = (streamId >>> 8) & 0xff;
  b[p++] = streamId & 0xff;
  w.pos = p;
}

/** Patch the 24-bit length of the frame header written at `mark` (see `Writer.mark`). */
export function patchFrameLength(w: Writer, mark: number, length: number): void {
  const b = w.buf;
  const at = w.start + mark;
  b[at] = length >>> 16;
  b[at + 1] = (length >>> 8) & 0xff;
  b[at + 2] = length & 0xff;
}

/**
 * DATA frames carrying `data`, split at `maxFrameSize`; END_STREAM on the last one when
 * `endStream`. Empty `data` gives one empty frame.
 */
export function writeData(
  w: Writer,
  streamId: number,
  data: Uint8Array,
  endStream: boolean,
  maxFrameSize: number,
): void {
  const n = data.length;
  let off = 0;
  do {
    const len = Math.min(maxFrameSize, n - off);
    const last = off + len === n;
    writeFrameHeader(w, len, FrameType.DATA, last && endStream ? Flag.END_STREAM : 0, streamId);
    if (len > 0) w.raw(data.subarray(off, off + len));
    off += len;
  } while (off < n);
}

/**
 * A HEADERS frame with the header block `block`, followed by CONTINUATION frames when the
 * block exceeds `maxFrameSize`. END_STREAM goes on the HEADERS frame, END_HEADERS on the last one.
 */
export function writeHeaders(
  w: Writer,
  streamId: number,
  block: Uint8Array,
  endStream: boolean,
  maxFrameSize: number,
): void {
  const n = block.length;
  let len = Math.min(n, maxFrameSize);
  let flags = (endStream ? Flag.END_STREAM : 0) | (len === n ? Flag.END_HEADERS : 0);
  writeFrameHeader(w, len, FrameType.HEADERS, flags, streamId);
  w.raw(block.subarray(0, len));
  let off = len;
  while (off < n) {
    len = Math.min(n - off, maxFrameSize);
    flags = off + len === n ? Flag.END_HEADERS : 0;
    writeFrameHeader(w, len, FrameType.CONTINUATION, flags, streamId);
    w.raw(block.subarray(off, off + len));
    off += len;
  }
}

/** A SETTINGS frame from flat `[id0, value0, id1, value1, ...]`. */
export function writeSettings(w: Writer, settings: readonly number[]): void {
  const n = settings.length >>> 1;
  writeFrameHeader(w, n * 6, FrameType.SETTINGS, 0, 0);
  w.ensure(n * 6);
  for (let i = 0; i < settings.length; i += 2) {
    const id = settings[i]!;
    w.buf[w.pos++] = id >>> 8;
    w.buf[w.pos++] = id & 0xff;
    w.u32be(settings[i + 1]!);
  }
}

/** A SETTINGS frame with ACK. */
export function writeSettingsAck(w: Writer): void {
  writeFrameHeader(w, 0, FrameType.SETTINGS, Flag.ACK, 0);
}

/** A PING (8 opaque bytes from `data` at `off`), with ACK when answering one. */
export function writePing(w: Writer, data: Uint8Array, ack: boolean, off = 0): void {
  writeFrameHeader(w, 8, FrameType.PING, ack ? Flag.ACK : 0, 0);
  w.ensure(8);
  const b = w.buf;
  for (let i = 0; i < 8; i++) b[w.pos++] = data[off + i] ?? 0;
}

/** A RST_STREAM frame. */
export function writeRstStream(w: Writer, streamId: number, code: number): void {
  writeFrameHeader(w, 4, FrameType.RST_STREAM, 0, streamId);
  w.u32be(code);
}

/** A GOAWAY frame with optional debug data. */
export function writeGoaway(w: Writer, lastStreamId: number, code: number, debug?: Uint8Array): void {
  const dn = debug === undefined ? 0 : debug.length;
  writeFrameHeader(w, 8 + dn, FrameType.GOAWAY, 0, 0);
  w.u32be(lastStreamId & 0x7fffffff);
  w.u32be(code);
  if (dn > 0) w.raw(debug!);
}

/** A WINDOW_UPDATE frame (`increment` in 1 .. 2^31-1). */
export function writeWindowUpdate(w: Writer, streamId: number, increment: number): void {
  writeFrameHeader(w, 4, FrameType.WINDOW_UPDATE, 0, streamId);
  w.u32be(increment & 0x7fffffff);
}

/** A PRIORITY frame (only used by tests: we never send priorities). */
export function writePriority(
  w: Writer,
  streamId: number,
  dependency: number,
  weight: number,
  exclusive = false,
): void {
  writeFrameHeader(w, 5, FrameType.PRIORITY, 0, streamId);
  w.u32be(((exclusive ? 0x80000000 : 0) | dependency) >>> 0);
  w.u8(weight);
}
