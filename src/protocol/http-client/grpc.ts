/**
 * gRPC wire details of the client (brpc `grpc.cpp`, `http2_rpc_protocol.cpp`): message
 * framing, the gRPC -> brpc status mapping, `grpc-timeout` and `grpc-message` coding.
 */
import { gunzipSync, inflateSync } from "node:zlib";
import { ErrorCode } from "../../errors/errno.js";

/** gRPC status codes. */
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

/** brpc's `GrpcStatusToString`. */
const statusNames = [
  "GRPC_OK",
  "GRPC_CANCELED",
  "GRPC_UNKNOWN",
  "GRPC_INVALIDARGUMENT",
  "GRPC_DEADLINEEXCEEDED",
  "GRPC_NOTFOUND",
  "GRPC_ALREADYEXISTS",
  "GRPC_PERMISSIONDENIED",
  "GRPC_RESOURCEEXHAUSTED",
  "GRPC_FAILEDPRECONDITION",
  "GRPC_ABORTED",
  "GRPC_OUTOFRANGE",
  "GRPC_UNIMPLEMENTED",
  "GRPC_INTERNAL",
  "GRPC_UNAVAILABLE",
  "GRPC_DATALOSS",
  "GRPC_UNAUTHENTICATED",
];

/** brpc's name of a gRPC status ("GRPC_INTERNAL"), used as error text when grpc-message is absent. */
export function grpcStatusName(status: number): string {
  return statusNames[status] ?? "Unknown-GrpcStatus";
}

/** brpc's `GrpcStatusToErrorCode`: the brpc error code a client reports for a gRPC status. */
export function grpcStatusToErrorCode(status: number): number {
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

/** Parse a `grpc-status` value; anything that is not a status number is UNKNOWN. */
export function parseGrpcStatus(v: string): number {
  return /^\d{1,3}$/.test(v.trim()) ? Number(v.trim()) : GrpcStatus.UNKNOWN;
}

/** `grpc-timeout` for `ms` milliseconds: at most 8 digits and a unit, as the spec wants. */
export function grpcTimeout(ms: number): string {
  if (ms <= 99_999_999) return `${ms}m`;
  const s = Math.ceil(ms / 1000);
  if (s <= 99_999_999) return `${s}S`;
  return `${Math.min(99_999_999, Math.ceil(s / 3600))}H`;
}

const HEX = /^[0-9a-fA-F]{2}$/;

/** Decode a percent-encoded `grpc-message` (invalid escapes are kept as they are). */
export function percentDecode(s: string): string {
  if (!s.includes("%")) return s;
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && HEX.test(s.slice(i + 1, i + 3))) {
      out.push(Number.parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) {
      out.push(c);
    } else {
      for (const b of Buffer.from(s[i] as string, "utf8")) out.push(b);
    }
  }
  return Buffer.from(out).toString("utf8");
}

/** Decompress a gRPC message compressed with `encoding` (gzip or deflate). Throws otherwise. */
export function grpcDecompress(encoding: string | undefined, data: Buffer, maxSize: number): Buffer {
  switch (encoding?.trim().toLowerCase()) {
    case "gzip":
      return gunzipSync(data, { maxOutputLength: maxSize });
    case "deflate":
      return inflateSync(data, { maxOutputLength: maxSize });
    case undefined:
      throw new Error("Fail to find header `grpc-encoding' in compressed gRPC response");
    default:
      throw new Error(`unsupported grpc-encoding=${encoding}`);
  }
}

/** One length-prefixed gRPC message. */
export interface GrpcMessage {
  compressed: boolean;
  data: Buffer;
}

/** Cuts length-prefixed gRPC messages (1-byte flag, uint32 BE length) out of DATA chunks. */
export class GrpcMessageReader {
  /** Received bytes not yet cut into messages, in order. */
  #chunks: Buffer[] = [];
  #buffered = 0;
  readonly #maxSize: number;

  constructor(maxSize: number) {
    this.#maxSize = maxSize;
  }

  /** True when bytes of an incomplete message are buffered. */
  get partial(): boolean {
    return this.#buffered > 0;
  }

  /** Copy the first `n` buffered bytes into one buffer (joining chunks once). */
  #head(n: number): Buffer {
    const first = this.#chunks[0] as Buffer;
    if (first.length >= n) return first;
    const joined = Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = [joined];
    return joined;
  }

  #consume(n: number): void {
    let left = n;
    while (left > 0) {
      const c = this.#chunks[0] as Buffer;
      if (c.length <= left) {
        this.#chunks.shift();
        left -= c.length;
      } else {
        this.#chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.#buffered -= n;
  }

  /**
   * Add `chunk` and return the messages it completes. Throws when a message is larger
   * than the limit or the flag byte is invalid. A large message spread over many chunks
   * is joined once, when it is complete.
   */
  push(chunk: Buffer): GrpcMessage[] {
    const out: GrpcMessage[] = [];
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    while (this.#buffered >= 5) {
      const h = this.#head(5);
      const flag = h[0] as number;
      if (flag > 1) throw new Error(`invalid gRPC message flag ${flag}`);
      const len = h.readUInt32BE(1);
      if (len > this.#maxSize) {
        throw new Error(`gRPC message of ${len} bytes is larger than the limit of ${this.#maxSize}`);
      }
      if (this.#buffered < 5 + len) break;
      const whole = this.#head(5 + len);
      out.push({ compressed: flag === 1, data: whole.subarray(5, 5 + len) });
      this.#consume(5 + len);
    }
    return out;
  }
}
