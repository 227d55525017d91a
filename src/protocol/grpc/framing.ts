/**
 * gRPC over h2, the parts shared by the server and the client: length-prefixed messages,
 * per-message compression, the brpc <-> gRPC status mapping, `grpc-timeout` and
 * `grpc-message` encodings (brpc's `src/brpc/grpc.cpp`, `policy/http2_rpc_protocol.cpp`).
 */
import { promisify } from "node:util";
import { deflate, gunzip, gzip, inflate } from "node:zlib";
import { ErrorCode } from "../../errors/errno.js";
import { RpcError } from "../../errors/rpc-error.js";

/** gRPC status codes (grpc/doc/statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** brpc error code -> gRPC status (brpc `ErrorCodeToGrpcStatus`). */
export function grpcStatusOf(code: number): number {
  switch (code) {
    case 0:
      return GrpcStatus.OK;
    case ErrorCode.ENOSERVICE:
    case ErrorCode.ENOMETHOD:
      return GrpcStatus.UNIMPLEMENTED;
    case ErrorCode.ERPCAUTH:
      return GrpcStatus.UNAUTHENTICATED;
    case ErrorCode.EREQUEST:
    case ErrorCode.EINVAL:
      return GrpcStatus.INVALID_ARGUMENT;
    case ErrorCode.ELIMIT:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case ErrorCode.ELOGOFF:
      return GrpcStatus.UNAVAILABLE;
    case ErrorCode.EPERM:
      return GrpcStatus.PERMISSION_DENIED;
    case ErrorCode.ERPCTIMEDOUT:
      return GrpcStatus.DEADLINE_EXCEEDED;
    case ErrorCode.ECANCELED:
      return GrpcStatus.CANCELLED;
    default:
      // ETIMEDOUT (a connect timeout) included, as brpc does.
      return GrpcStatus.INTERNAL;
  }
}

/** gRPC status -> brpc error code (brpc `GrpcStatusToErrorCode`). */
export function errorCodeOfGrpcStatus(status: number): number {
  switch (status) {
    case GrpcStatus.OK:
      return 0;
    case GrpcStatus.CANCELLED:
      return ErrorCode.ECANCELED;
    case GrpcStatus.INVALID_ARGUMENT:
      return ErrorCode.EINVAL;
    case GrpcStatus.DEADLINE_EXCEEDED:
      return ErrorCode.ERPCTIMEDOUT;
    case GrpcStatus.ALREADY_EXISTS:
      return ErrorCode.EEXIST;
    case GrpcStatus.PERMISSION_DENIED:
      return ErrorCode.EPERM;
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return ErrorCode.ELIMIT;
    case GrpcStatus.UNIMPLEMENTED:
      return ErrorCode.ENOMETHOD;
    case GrpcStatus.UNAUTHENTICATED:
      return ErrorCode.ERPCAUTH;
    default:
      return ErrorCode.EINTERNAL;
  }
}

// ---- grpc-timeout ----------------------------------------------------------------

/**
 * The `grpc-timeout` header value in microseconds, or undefined when absent or malformed
 * (digits, then exactly one unit of H M S m u n; brpc `ConvertGrpcTimeoutToUS`).
 * Nanoseconds round to the nearest microsecond, at least 1.
 */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const last = value.length - 1;
  if (last < 1) return undefined;
  let n = 0;
  for (let i = 0; i < last; i++) {
    const d = value.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  switch (value.charCodeAt(last)) {
    case 0x48 /* H */:
      return n * 3_600_000_000;
    case 0x4d /* M */:
      return n * 60_000_000;
    case 0x53 /* S */:
      return n * 1_000_000;
    case 0x6d /* m */:
      return n * 1000;
    case 0x75 /* u */:
      return n;
    case 0x6e /* n */:
      {
        const us = Math.floor((n + 500) / 1000);
        return us === 0 ? 1 : us;
      }
    default:
      return undefined;
  }
}

/**
 * A `grpc-timeout` value for `ms` milliseconds: `<ms>m` as brpc's client sends it, in a
 * coarser unit when the number would exceed the 8 digits gRPC allows.
 */
export function formatGrpcTimeout(ms: number): string {
  const v = Math.max(0, Math.ceil(ms));
  if (v < 1e8) return `${v}m`;
  const s = Math.ceil(v / 1000);
  if (s < 1e8) return `${s}S`;
  const min = Math.ceil(s / 60);
  if (min < 1e8) return `${min}M`;
  return `${Math.min(99_999_999, Math.ceil(min / 60))}H`;
}

// ---- grpc-message ----------------------------------------------------------------

const HEX = "0123456789abcdef";

/** brpc's unreserved bytes: letters and -_.~ (digits are escaped too, see the h2_grpc_error capture). */
function brpcUnreserved(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    c === 0x2d ||
    c === 0x5f ||
    c === 0x2e ||
    c === 0x7e
  );
}

/** gRPC's unescaped bytes: printable ASCII except '%'. */
function grpcUnreserved(c: number): boolean {
  return c >= 0x20 && c <= 0x7e && c !== 0x25;
}

/**
 * Percent-encode a `grpc-message`: the UTF-8 bytes, with bytes outside printable ASCII and
 * '%' as %xx (the gRPC spec's encoding, `style` "grpc", what the server sends), or, with
 * `style` "brpc", byte for byte as brpc does (all but A-Za-z-_.~ escaped, lower-case hex).
 * Any percent-decoder reads both, brpc's included; grpc-js's `decodeURI` leaves reserved
 * characters such as ':' of brpc's style escaped, hence the default.
 */
export function encodeGrpcMessage(text: string, style: "grpc" | "brpc" = "grpc"): string {
  const keep = style === "brpc" ? brpcUnreserved : grpcUnreserved;
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    if (!keep(text.charCodeAt(i))) {
      plain = false;
      break;
    }
  }
  if (plain) return text;
  const bytes = Buffer.from(text, "utf8");
  let out = "";
  for (const b of bytes) {
    out += keep(b) ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/**
 * Decode a percent-encoded `grpc-message` (any encoder's). Malformed escapes are kept
 * as they are, as the gRPC spec asks; the bytes are read as UTF-8.
 */
export function decodeGrpcMessage(value: string): string {
  if (!value.includes("%")) return value;
  const src = Buffer.from(value, "utf8");
  const out = Buffer.allocUnsafe(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === 0x25 && i + 2 < src.length) {
      const hi = hexValue(src[i + 1]!);
      const lo = hexValue(src[i + 2]!);
      if (hi >= 0 && lo >= 0) {
        out[n++] = (hi << 4) | lo;
        i += 2;
        continue;
      }
    }
    out[n++] = c;
  }
  return out.toString("utf8", 0, n);
}

// ---- compression -------------------------------------------------------------------

/** Message encodings this implementation speaks (`grpc-encoding`). */
export type GrpcEncoding = "identity" | "gzip" | "deflate";

/** What we send in `grpc-accept-encoding`. */
export const ACCEPT_ENCODING = "identity,deflate,gzip";

/** The brpc compress type of a `grpc-encoding` (0 none, 2 gzip, 3 zlib), undefined if unsupported. */
export function compressTypeOfEncoding(encoding: string | undefined): number | undefined {
  switch (encoding) {
    case undefined:
    case "":
    case "identity":
      return 0;
    case "gzip":
      return 2;
    case "deflate":
      return 3;
    default:
      return undefined;
  }
}

/** The `grpc-encoding` of a brpc compress type, undefined for types gRPC has no name for (snappy). */
export function encodingOfCompressType(type: number): GrpcEncoding | undefined {
  switch (type) {
    case 0:
      return "identity";
    case 2:
      return "gzip";
    case 3:
      return "deflate";
    default:
      return undefined;
  }
}

/** True if a `grpc-accept-encoding` header lists `encoding`. */
export function acceptsEncoding(header: string | undefined, encoding: GrpcEncoding): boolean {
  if (encoding === "identity") return true;
  if (header === undefined) return false;
  for (const part of header.split(",")) if (part.trim() === encoding) return true;
  return false;
}

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);
const deflateAsync = promisify(deflate);
const inflateAsync = promisify(inflate);

/** Compress one message payload. */
export function compressMessage(encoding: GrpcEncoding, data: Uint8Array): Promise<Buffer> {
  if (encoding === "gzip") return gzipAsync(data);
  if (encoding === "deflate") return deflateAsync(data);
  return Promise.resolve(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

/**
 * Decompress one message payload, refusing output over `maxSize` bytes (ELIMIT, i.e.
 * RESOURCE_EXHAUSTED) and corrupt input (EINTERNAL).
 */
export async function decompressMessage(
  encoding: GrpcEncoding,
  data: Uint8Array,
  maxSize: number,
): Promise<Buffer> {
  if (encoding === "identity") {
    throw new RpcError(ErrorCode.EINTERNAL, "Compressed message without grpc-encoding");
  }
  try {
    const opts = { maxOutputLength: Math.max(1, maxSize) };
    return await (encoding === "gzip" ? gunzipAsync(data, opts) : inflateAsync(data, opts));
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      throw new RpcError(ErrorCode.ELIMIT, `Decompressed message larger than max (${maxSize})`);
    }
    throw new RpcError(
      ErrorCode.EINTERNAL,
      `Fail to decompress message (${encoding}): ${(err as Error).message}`,
    );
  }
}

// ---- length-prefixed messages --------------------------------------------------------

/** Bytes before each message: 1-byte compressed flag + uint32 BE length. */
export const MESSAGE_HEADER_SIZE = 5;

/** `payload` as one length-prefixed message. */
export function frameMessage(payload: Uint8Array, compressed: boolean): Buffer {
  const out = Buffer.allocUnsafe(MESSAGE_HEADER_SIZE + payload.length);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, MESSAGE_HEADER_SIZE);
  return out;
}

/** One received message: its payload as sent (still compressed if `compressed`). */
export interface GrpcMessage {
  compressed: boolean;
  data: Buffer;
}

const EMPTY = Buffer.alloc(0);

/**
 * Incremental decoder of length-prefixed messages from DATA chunks. Messages larger than
 * `maxMessageSize` are refused as soon as their header arrives (ELIMIT); a flag other
 * than 0/1 is EINTERNAL. After a throw the decoder is unusable.
 */
export class MessageDecoder {
  readonly maxMessageSize: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Length of the message being received, -1 while its header is incomplete. */
  #need = -1;
  #compressed = false;

  constructor(maxMessageSize: number) {
    this.maxMessageSize = maxMessageSize;
  }

  /** Bytes of an incomplete message held (0 at a message boundary). */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** What an incomplete message lacks, for error texts ("10 of 100 bytes"); "" at a boundary. */
  describePartial(): string {
    if (this.#need < 0) return this.#buffered === 0 ? "" : `${this.#buffered} of 5 prefix bytes`;
    return `${this.#buffered} of ${this.#need} bytes`;
  }

  /** Feed one chunk; `sink.onMessage` gets every message it completes, in order. */
  push(chunk: Buffer, sink: { onMessage(m: GrpcMessage): void }): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (let m = this.#next(); m !== undefined; m = this.#next()) sink.onMessage(m);
  }

  /** Feed one chunk; every message it completes is appended to `out`, in order. */
  pushTo(chunk: Buffer, out: GrpcMessage[]): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (let m = this.#next(); m !== undefined; m = this.#next()) out.push(m);
  }

  /** The next complete message of what is buffered, or undefined. Throws on a bad prefix. */
  #next(): GrpcMessage | undefined {
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < MESSAGE_HEADER_SIZE) return undefined;
        const head = this.#take(MESSAGE_HEADER_SIZE);
        const flag = head[0]!;
        if (flag > 1) throw new RpcError(ErrorCode.EINTERNAL, `Invalid gRPC message flag ${flag}`);
        const len = head.readUInt32BE(1);
        if (len > this.maxMessageSize) {
          throw new RpcError(
            ErrorCode.ELIMIT,
            `Received message larger than max (${len} vs. ${this.maxMessageSize})`,
          );
        }
        this.#compressed = flag === 1;
        this.#need = len;
      }
      if (this.#buffered < this.#need) return undefined;
      const data = this.#need === 0 ? EMPTY : this.#take(this.#need);
      this.#need = -1;
      return { compressed: this.#compressed, data };
    }
  }

  /** Remove and return the first `n` buffered bytes (n <= buffered). */
  #take(n: number): Buffer {
    this.#buffered -= n;
    const first = this.#chunks[0]!;
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.#chunks[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    return out;
  }
}
