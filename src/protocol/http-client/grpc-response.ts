/**
 * The end of a gRPC call on the client, shared by both h2 engines' attempts: response
 * messages decoded into the method's output type, and the call completed or failed from
 * the status, trailers and messages as brpc's `ProcessGrpcResponse` does.
 */
import { STATUS_CODES } from "node:http";
import type { ClientCall } from "../../client/call.js";
import { ErrorCode } from "../../errors/errno.js";
import { CompressType } from "../compress.js";
import { decodeGrpcMessage, errorCodeOfGrpcStatus, type GrpcMessage } from "../grpc/framing.js";
import { type BodyFormat, decodeMessage } from "./content.js";
import { grpcDecompress, grpcStatusName, parseGrpcStatus } from "./grpc.js";
import { httpErrorText, userFieldsOf } from "./response.js";

const EMPTY = Buffer.alloc(0);

/** One response message of `call` as its output type (raw Buffer for untyped calls). */
export function decodeGrpcResponseMessage(
  call: ClientCall,
  m: GrpcMessage,
  encoding: string | undefined,
  format: BodyFormat,
  maxBody: number,
): unknown {
  const data = m.compressed ? grpcDecompress(encoding, m.data, maxBody) : m.data;
  const t = call.method.output;
  if (t.codec === undefined) return Buffer.from(data);
  return decodeMessage(t, data, format, maxBody);
}

/** What an attempt saw of a gRPC response when the stream ended. */
export interface GrpcResponseEnd {
  /** HTTP status (`:status`). */
  status: number;
  /** Response headers and trailers. */
  headers: Record<string, string>;
  /** Body bytes of a non-gRPC answer (error pages). */
  chunks: Buffer[];
  /** Server or bidi streaming: messages were delivered as they came. */
  streaming: boolean;
  /** May a failure be retried (never for streaming calls of any kind). */
  retryable: boolean;
  /** Bytes of an incomplete message were left. */
  truncated: boolean;
  /** Messages of a unary response. */
  messages: GrpcMessage[];
  /** A compressed message was seen. */
  compressed: boolean;
  /** `grpc-encoding` and format of the messages, and the size limit. */
  encoding: string | undefined;
  format: BodyFormat;
  maxBody: number;
}

/** Complete or fail `call` from the end of its gRPC response (brpc's mapping, retries as brpc). */
export function finishGrpcResponse(call: ClientCall, r: GrpcResponseEnd): void {
  const h = r.headers;
  const cntl = call.cntl;
  if (cntl !== undefined) {
    cntl.httpStatusCode = r.status;
    cntl.httpResponseHeaders = h;
  }
  if (call.span !== undefined) {
    let n = 0;
    for (const m of r.messages) n += m.data.length + 5;
    call.span.responseSize = n;
  }
  const gs = h["grpc-status"];
  if (gs === undefined) {
    if (r.status < 200 || r.status >= 300) {
      const text = httpErrorText(
        "2.0",
        r.status,
        STATUS_CODES[r.status] ?? "Unknown",
        Buffer.concat(r.chunks),
      );
      call.fail(ErrorCode.EHTTP, text, r.retryable && call.channel.retryable(ErrorCode.EHTTP), true);
      return;
    }
    call.fail(ErrorCode.EINTERNAL, "Missing grpc-status in the gRPC response", false, true);
    return;
  }
  const status = parseGrpcStatus(gs);
  if (status !== 0) {
    const code = errorCodeOfGrpcStatus(status);
    const msg = h["grpc-message"];
    const text = msg !== undefined ? decodeGrpcMessage(msg) : grpcStatusName(status);
    call.fail(code, text, r.retryable && call.channel.retryable(code), true);
    return;
  }
  const userFields = userFieldsOf(h);
  if (r.truncated) {
    call.fail(ErrorCode.ERESPONSE, "Invalid gRPC response: truncated message", false, true);
    return;
  }
  let compressed = r.compressed;
  if (r.streaming) {
    call.complete(undefined, EMPTY, userFields, compressed ? CompressType.GZIP : 0);
    return;
  }
  const n = r.messages.length;
  if (n !== 1) {
    call.fail(ErrorCode.ERESPONSE, `Invalid gRPC response: ${n} messages for a unary response`, false, true);
    return;
  }
  const m = r.messages[0] as GrpcMessage;
  let res: unknown;
  try {
    res = decodeGrpcResponseMessage(call, m, r.encoding, r.format, r.maxBody);
  } catch (err) {
    call.fail(ErrorCode.ERESPONSE, (err as Error).message, false, true);
    return;
  }
  compressed ||= m.compressed;
  call.complete(res, EMPTY, userFields, compressed ? CompressType.GZIP : 0);
}
