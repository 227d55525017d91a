/**
 * brpc-ts user_fields over HTTP and gRPC: brpc's baidu_std `user_fields` have no HTTP
 * counterpart, so a brpc-ts channel sends them as headers (gRPC: metadata) and a brpc-ts
 * server reads back every header that is not protocol machinery. Shared by both sides.
 */
import type { IncomingHttpHeaders } from "node:http";

/** Headers that are protocol machinery or standard request/response headers, never user fields. */
const NOT_USER_FIELDS = new Set([
  "accept",
  "accept-encoding",
  "authorization",
  "connection",
  "content-encoding",
  "content-length",
  "content-type",
  "date",
  "expect",
  "grpc-accept-encoding",
  "grpc-encoding",
  "grpc-message",
  "grpc-status",
  "grpc-timeout",
  "host",
  "keep-alive",
  "log-id",
  "server",
  "te",
  "transfer-encoding",
  "upgrade",
  "user-agent",
  "x-bd-error-code",
  "x-bd-parent-span-id",
  "x-bd-span-id",
  "x-bd-trace-id",
  "x-request-id",
]);

/** True for a header name (lower-case) that can carry a user field. */
export function isUserField(name: string): boolean {
  return !NOT_USER_FIELDS.has(name) && name.charCodeAt(0) !== 0x3a; /* ':' pseudo-header */
}

/**
 * The user fields among `headers` (repeated headers joined with ", "), or undefined when
 * there are none. `-bin` gRPC metadata values (Buffers) are left out.
 */
export function userFieldsOfHeaders(
  headers: IncomingHttpHeaders | Readonly<Record<string, string | string[] | Buffer | undefined>>,
): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  for (const k of Object.keys(headers)) {
    if (!isUserField(k)) continue;
    const v = headers[k];
    if (v === undefined || Buffer.isBuffer(v)) continue;
    out ??= {};
    out[k] = Array.isArray(v) ? v.join(", ") : String(v);
  }
  return out;
}
