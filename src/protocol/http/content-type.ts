/** HTTP content types of protobuf bodies, brpc's `ParseContentType` and error -> status mapping. */
import { ErrorCode } from "../../errors/errno.js";

/** Body codecs chosen by Content-Type (brpc `HttpContentType`). */
export const HttpContentType = {
  /** Absent or unknown: JSON (json2pb). */
  OTHERS: 0,
  JSON: 1,
  PROTO: 2,
  PROTO_JSON: 3,
  PROTO_TEXT: 4,
} as const;
export type HttpContentType = (typeof HttpContentType)[keyof typeof HttpContentType];

/** The codec of a content type and whether it is gRPC's (`application/grpc[+...]`). */
export interface ParsedContentType {
  readonly type: HttpContentType;
  readonly grpc: boolean;
}

/** The results, one shared object per (type, grpc): parsing allocates nothing. */
const PARSED: readonly (readonly [ParsedContentType, ParsedContentType])[] = [0, 1, 2, 3, 4].map(
  (t) =>
    [
      Object.freeze({ type: t as HttpContentType, grpc: false }),
      Object.freeze({ type: t as HttpContentType, grpc: true }),
    ] as const,
);

function parsed(type: HttpContentType, grpc: boolean): ParsedContentType {
  return PARSED[type]![grpc ? 1 : 0];
}

const OTHERS: ParsedContentType = parsed(HttpContentType.OTHERS, false);
const GRPC: ParsedContentType = parsed(HttpContentType.PROTO, true);
const JSON_TYPE: ParsedContentType = parsed(HttpContentType.JSON, false);

/**
 * brpc's `ParseContentType`: "application/json", "application/proto",
 * "application/x-protobuf", "application/proto-json", "application/proto-text",
 * "application/grpc[+proto|+json]", parameters after ';' allowed.
 */
export function parseContentType(ct: string | undefined): ParsedContentType {
  if (ct === undefined) return OTHERS;
  // The usual ones first.
  if (ct === "application/grpc") return GRPC;
  if (ct === "application/json") return JSON_TYPE;
  const prefix = "application/";
  if (!ct.startsWith(prefix)) return OTHERS;
  let rest = ct.slice(prefix.length);
  let grpc = false;
  if (rest.startsWith("grpc")) {
    if (rest.length === 4 || rest[4] === ";") return GRPC;
    if (rest[4] === "+") {
      rest = rest.slice(5);
      grpc = true;
    }
  }
  let type: HttpContentType;
  if (rest.startsWith("json")) {
    type = HttpContentType.JSON;
    rest = rest.slice(4);
  } else if (rest.startsWith("proto-json")) {
    type = HttpContentType.PROTO_JSON;
    rest = rest.slice(10);
  } else if (rest.startsWith("proto-text")) {
    type = HttpContentType.PROTO_TEXT;
    rest = rest.slice(10);
  } else if (rest.startsWith("proto")) {
    type = HttpContentType.PROTO;
    rest = rest.slice(5);
  } else if (rest.startsWith("x-protobuf")) {
    type = HttpContentType.PROTO;
    rest = rest.slice(10);
  } else {
    return parsed(HttpContentType.OTHERS, grpc);
  }
  return rest === "" || rest[0] === ";" ? parsed(type, grpc) : parsed(HttpContentType.OTHERS, grpc);
}

/** True for gRPC content types ("application/grpc", "application/grpc+proto", "application/grpc;..."). */
export function isGrpcContentType(ct: string | undefined): boolean {
  return ct?.startsWith("application/grpc") === true && parseContentType(ct).grpc;
}

/** `ServerContext.contentType` value (baidu_std numbering) of an HTTP codec. */
export function rpcContentTypeOf(t: HttpContentType): number {
  switch (t) {
    case HttpContentType.PROTO:
      return 0;
    case HttpContentType.PROTO_JSON:
      return 2;
    case HttpContentType.PROTO_TEXT:
      return 3;
    default:
      return 1;
  }
}

/** Content-Type of a protobuf response written with codec `t`. */
export function contentTypeHeaderOf(t: HttpContentType): string {
  switch (t) {
    case HttpContentType.PROTO:
      return "application/proto";
    case HttpContentType.PROTO_JSON:
      return "application/proto-json";
    case HttpContentType.PROTO_TEXT:
      return "application/proto-text";
    default:
      return "application/json";
  }
}

/** brpc's `ErrorCodeToStatusCode` (src/brpc/http_status_code.cpp). */
export function errorCodeToStatus(code: number): number {
  switch (code) {
    case 0:
      return 200;
    case ErrorCode.ENOSERVICE:
    case ErrorCode.ENOMETHOD:
      return 404;
    case ErrorCode.ERPCAUTH:
      return 401;
    case ErrorCode.EREQUEST:
    case ErrorCode.EINVAL:
      return 400;
    case ErrorCode.ELIMIT:
    case ErrorCode.ELOGOFF:
      return 503;
    case ErrorCode.EPERM:
      return 403;
    case ErrorCode.ERPCTIMEDOUT:
    case ErrorCode.ETIMEDOUT:
      return 504;
    default:
      return 500;
  }
}
