/** baidu_std on the client: requests out, responses in (brpc's PackRpcRequest / ProcessRpcResponse). */
import type { ClientCall } from "../../client/call.js";
import { RequestError } from "../../client/request-error.js";
import { ErrorCode } from "../../errors/errno.js";
import { log } from "../../log.js";
import { streamSettingsOf } from "../../stream/stream.js";
import type { Connection } from "../../transport/connection.js";
import { crc32cUpdate, maskCrc } from "../checksum.js";
import { sendRst } from "../streaming-rpc/frame.js";
import { wireIdOf } from "../streaming-rpc/meta.js";
import { beginFrame, finishHeader, HEADER_SIZE, parseFrame } from "./frame.js";
import {
  type CommonMetaFields,
  decodeRpcMeta,
  encodeRpcMeta,
  encodeTracingFields,
  type RequestMetaFields,
  RpcMeta,
} from "./meta.js";
import { parseFrameBody, writeBody } from "./payload.js";

const reqFields: RequestMetaFields = { methodPrefix: new Uint8Array(0) };
const common: CommonMetaFields = {
  compressType: 0,
  correlationId: 0,
  attachmentSize: 0,
  contentType: 0,
  checksumType: 0,
};

/** Encode the request frame of `call` into `conn.writer`. */
export function packRequest(conn: Connection, call: ClientCall): void {
  const codec = call.method.input.codec;
  if (codec !== undefined) {
    const missing = codec.missingRequired(call.request);
    if (missing !== undefined) throw new RequestError(`Missing required fields in request: ${missing}`);
  }
  const w = conn.writer;
  const at = beginFrame(w);
  const metaStart = w.mark();
  const attachment = call.attachment;
  // Reused option bags: no allocation per request.
  reqFields.methodPrefix = call.method.methodPrefix;
  reqFields.logId = call.logId;
  reqFields.requestId = call.requestId;
  reqFields.timeoutMs = call.channel.options.deliverTimeoutMs ? call.remainingMs() : undefined;
  // rpcz: a traced call sends its ids (brpc sets all three when the call has a span).
  const span = call.span;
  if (span === undefined) reqFields.tracing = undefined;
  else {
    if (span.wireIds === undefined)
      span.wireIds = encodeTracingFields(span.traceId, span.spanId, span.parentSpanId);
    reqFields.tracing = span.wireIds;
  }
  common.compressType = call.compressType;
  common.correlationId = call.correlationId;
  common.attachmentSize = attachment.length;
  common.authenticationData = call.credential;
  common.userFields = call.userFields;
  common.contentType = call.contentType;
  common.checksumType = call.checksum ? 1 : 0;
  common.streamSettings = call.streams !== undefined ? streamSettingsOf(call.streams) : undefined;
  const ckAt = encodeRpcMeta(w, reqFields, undefined, common);
  const metaSize = w.mark() - metaStart;
  const bodyStart = w.mark();
  writeBody(w, call.method.input, call.request, call.contentType, call.compressType);
  if (ckAt >= 0) w.u32beAt(ckAt, maskCrc(crc32cUpdate(0, w.buf.subarray(w.start + bodyStart, w.pos))));
  finishHeader(w, at, metaSize, attachment.length);
  if (span !== undefined) span.requestSize = w.mark() - bodyStart + attachment.length;
  if (attachment.length > 0) conn.writeExternal(attachment);
}

/**
 * The RPC response that arrived as the first message of a client stream: a whole PRPC
 * frame, handled like any response (brpc Stream::HandleRpcResponse).
 */
export function processStreamedResponse(frame: Buffer, conn: Connection): void {
  const len = parseFrame(frame, 0, frame.length, conn);
  if (len !== frame.length) {
    log.warn(`a stream from ${conn.remoteSide} carried a malformed RPC response`);
    conn.fail(ErrorCode.EINVAL, `Close ${conn.remoteSide}: malformed RPC response in a stream`);
    return;
  }
  processResponse(frame, 0, len, conn);
}

/** Reused for every response; nothing of it is kept past processResponse. */
const scratch = new RpcMeta();

/** Handle a response frame on a client connection. */
export function processResponse(buf: Buffer, off: number, len: number, conn: Connection): void {
  const metaSize = buf.readUInt32BE(off + 8);
  const metaStart = off + HEADER_SIZE;
  const start = metaStart + metaSize;
  const end = off + len;
  let meta: RpcMeta;
  try {
    meta = decodeRpcMeta(buf, metaStart, start, scratch);
  } catch (err) {
    const text = `Fail to parse response meta from ${conn.remoteSide}`;
    log.warn(text, err);
    conn.fail(ErrorCode.ERESPONSE, text);
    return;
  }
  const id = meta.correlationId;
  const call = typeof id === "number" ? (conn.pending.get(id) as ClientCall | undefined) : undefined;
  if (call === undefined) {
    // Late response of a call that timed out or was canceled; reset the streams it announces.
    log.debug(`dropping response with unknown correlation_id=${String(id)} from ${conn.remoteSide}`);
    const ss = meta.streamSettings;
    if (ss !== undefined) for (const sid of [ss.streamId, ...ss.extraStreamIds]) sendRst(conn, wireIdOf(sid));
    return;
  }
  conn.pending.delete(id as number);
  call.responseStreamSettings = meta.streamSettings;
  if (call.span !== undefined) call.span.responseSize = end - start;
  if (meta.errorCode !== 0) {
    call.fail(meta.errorCode, meta.errorText, call.channel.retryable(meta.errorCode), true);
    return;
  }
  const payloadLen = end - start;
  if (meta.attachmentSize > payloadLen) {
    call.fail(
      ErrorCode.ERESPONSE,
      `attachment_size=${meta.attachmentSize} is larger than response_size=${payloadLen}`,
      false,
      true,
    );
    return;
  }
  const msgEnd = end - meta.attachmentSize;
  let res: unknown;
  try {
    res = parseFrameBody(
      meta,
      buf,
      start,
      msgEnd,
      end,
      call.method.output,
      conn.options.maxBodySize,
      "response",
    );
  } catch (err) {
    // brpc reports undecodable responses as EREQUEST.
    call.fail(ErrorCode.EREQUEST, (err as Error).message, false, true);
    return;
  }
  call.complete(
    res,
    meta.attachmentSize > 0 ? buf.subarray(msgEnd, end) : EMPTY,
    meta.userFields,
    meta.compressType,
  );
}

const EMPTY = Buffer.alloc(0);
