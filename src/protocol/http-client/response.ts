/** Turning an HTTP response into the outcome of a call, as brpc's `ProcessHttpResponse`. */

import type { IncomingHttpHeaders } from "node:http";
import { gunzipSync } from "node:zlib";
import { create, type DescMessage } from "@bufbuild/protobuf";
import type { ClientCall } from "../../client/call.js";
import { ErrorCode } from "../../errors/errno.js";
import { CompressType } from "../compress.js";
import { userFieldsOfHeaders } from "../http/user-fields.js";
import { decodeMessage, hasNoFields, parseContentType } from "./content.js";

/** brpc `-http_max_error_length`: how much of an error body goes into the error text. */
export const HTTP_MAX_ERROR_LENGTH = 2048;

const EMPTY = Buffer.alloc(0);

/** Node's header object as plain strings (repeated headers joined with ", "), pseudo-headers left out. */
export function headersRecord(
  h: IncomingHttpHeaders | undefined,
  into: Record<string, string> = {},
): Record<string, string> {
  if (h === undefined) return into;
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || k.startsWith(":")) continue;
    into[k] = Array.isArray(v) ? v.join(", ") : String(v);
  }
  return into;
}

/** The response headers a call reports as user fields (everything but protocol machinery). */
export function userFieldsOf(h: Record<string, string>): Record<string, string> | undefined {
  return userFieldsOfHeaders(h);
}

/** brpc's EHTTP text: `HTTP/<version> <status> <reason>[: <body prefix>]`. */
export function httpErrorText(version: string, status: number, reason: string, body: Buffer): string {
  const head = `HTTP/${version} ${status} ${reason}`;
  if (body.length === 0) return head;
  return `${head}: ${body.subarray(0, HTTP_MAX_ERROR_LENGTH).toString("utf8")}`;
}

/** A whole HTTP response. */
export interface HttpResult {
  status: number;
  reason: string;
  /** "1.1", "1.0", "2.0". */
  version: string;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Complete or fail `call` with a (non-gRPC) HTTP response: non-2xx -> EHTTP (body in
 * the response attachment for calls without a protobuf response); else the body
 * decoded per Content-Type (json, proto, proto-json), or handed back raw.
 */
export function finishHttpCall(call: ClientCall, r: HttpResult): void {
  const cntl = call.cntl;
  if (cntl !== undefined) {
    cntl.httpStatusCode = r.status;
    cntl.httpResponseHeaders = r.headers;
  }
  if (call.span !== undefined) call.span.responseSize = r.body.length;
  const t = call.method.output;
  const plainHttp = t.codec === undefined || hasNoFields(t);
  if (r.status < 200 || r.status >= 300) {
    if (plainHttp && cntl !== undefined) cntl.responseAttachment = r.body;
    call.fail(
      ErrorCode.EHTTP,
      httpErrorText(r.version, r.status, r.reason, r.body),
      call.channel.retryable(ErrorCode.EHTTP),
      true,
    );
    return;
  }
  const userFields = userFieldsOf(r.headers);
  if (t.codec === undefined) {
    call.complete(r.body, EMPTY, userFields, 0);
    return;
  }
  if (hasNoFields(t)) {
    call.complete(create(t.desc as DescMessage), r.body, userFields, 0);
    return;
  }
  let body = r.body;
  let compressType = 0;
  if (r.headers["content-encoding"]?.trim().toLowerCase() === "gzip") {
    try {
      body = gunzipSync(body, { maxOutputLength: call.channel.options.maxBodySize });
      compressType = CompressType.GZIP;
    } catch {
      call.fail(ErrorCode.ERESPONSE, "Fail to un-gzip response body", false, true);
      return;
    }
  }
  const ct = r.headers["content-type"];
  const { format } = parseContentType(ct);
  if (format !== "json" && format !== "proto" && format !== "proto-json") {
    call.fail(ErrorCode.ERESPONSE, `Unknown content-type=${ct ?? ""} when response is not NULL`, false, true);
    return;
  }
  let res: unknown;
  try {
    res = decodeMessage(t, body, format, call.channel.options.maxBodySize);
  } catch (err) {
    call.fail(ErrorCode.ERESPONSE, (err as Error).message, false, true);
    return;
  }
  call.complete(res, EMPTY, userFields, compressType);
}
