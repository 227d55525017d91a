/** baidu_std on the server: requests in, responses out (brpc's ProcessRpcRequest / SendRpcResponse). */
import type { AuthContext } from "../../auth.js";
import { ErrorCode } from "../../errors/errno.js";
import type { Writer } from "../../io/writer.js";
import { log } from "../../log.js";
import type { AuthState } from "../../server/connection-auth.js";
import type { ServerContext } from "../../server/context.js";
import type { Server } from "../../server/server.js";
import type { MethodEntry } from "../../server/service-registry.js";
import { streamSettingsOf } from "../../stream/stream.js";
import type { Connection } from "../../transport/connection.js";
import { checksumTypeName, crc32cUpdate, maskCrc } from "../checksum.js";
import { compressTypeName } from "../compress.js";
import { beginStreamFrame, finishStreamFrame } from "../streaming-rpc/frame.js";
import { FrameType, wireIdOf } from "../streaming-rpc/meta.js";
import { beginFrame, finishHeader, HEADER_SIZE } from "./frame.js";
import { type CommonMetaFields, decodeRpcMeta, encodeRpcMeta, RpcMeta, type StreamSettings } from "./meta.js";
import {
  type BodyType,
  bodyTypeName,
  contentTypeName,
  parseFrameBody,
  rawBytes,
  writeBody,
} from "./payload.js";

const PROTOCOL = "baidu_std";
/** brpc's INVALID_STREAM_ID (2^64-1) as int64 on the wire. */
const INVALID_STREAM_ID = -1n;
const EMPTY = Buffer.alloc(0);

const OK_RESPONSE = { errorCode: 0, errorText: "" };
const common: CommonMetaFields = {
  compressType: 0,
  correlationId: 0,
  attachmentSize: 0,
  contentType: 0,
  checksumType: 0,
};

/** Reused for every request: everything needed later is copied out synchronously. */
const scratch = new RpcMeta();

/** Handle one request frame on a server connection. */
export function processRequest(buf: Buffer, off: number, len: number, conn: Connection): void {
  const server = conn.state.server as Server;
  const metaSize = buf.readUInt32BE(off + 8);
  const metaStart = off + HEADER_SIZE;
  const payloadStart = metaStart + metaSize;
  // The first request of an authenticated connection may wait for an async verifier: own meta.
  const verify = server.options.auth?.verifyCredential !== undefined && conn.state.auth === undefined;
  let meta: RpcMeta;
  try {
    meta = decodeRpcMeta(buf, metaStart, payloadStart, verify ? undefined : scratch);
    if (!meta.hasRequest) throw new Error("no request meta");
  } catch (err) {
    const text = `Fail to parse RpcMeta from ${conn.remoteSide}`;
    log.warn(text, err);
    conn.fail(ErrorCode.EREQUEST, text);
    return;
  }
  if (verify) {
    verifyFirst(server, conn, meta, buf, payloadStart, off + len);
    return;
  }
  handleRequest(server, conn, meta, buf, payloadStart, off + len);
}

/** Verify the credential of the first request of `conn` (pausing input while it runs). */
function verifyFirst(
  server: Server,
  conn: Connection,
  meta: RpcMeta,
  buf: Buffer,
  start: number,
  end: number,
): void {
  const auth = server.options.auth!;
  const accept = (r: boolean | AuthContext) => {
    if (r === false) return reject();
    conn.state.auth = { ok: true, context: r === true ? undefined : r } satisfies AuthState;
    handleRequest(server, conn, meta, buf, start, end);
  };
  const reject = (err?: unknown) => {
    conn.state.auth = { ok: false, context: undefined } satisfies AuthState;
    const extra = auth.unauthorizedErrorText?.() ?? (err instanceof Error ? err.message : "");
    log.warn(`Fail to authenticate ${conn.remoteSide}${extra ? `: ${extra}` : ""}`);
    if (conn.failed) return;
    // brpc answers with ERPCAUTH (meta only) and closes the connection.
    const w = conn.writer;
    writeErrorMeta(
      w,
      beginFrame(w),
      meta.correlationId,
      ErrorCode.ERPCAUTH,
      `Fail to authenticate${extra ? `: ${extra}` : ""}`,
    );
    conn.close();
  };
  let r: boolean | AuthContext | Promise<boolean | AuthContext>;
  try {
    r = auth.verifyCredential!(Buffer.from(meta.authenticationData ?? EMPTY), conn.remoteSide);
  } catch (err) {
    reject(err);
    return;
  }
  if (r instanceof Promise) {
    conn.pause();
    r.then(
      (v) => {
        if (conn.failed) return;
        accept(v);
        conn.resume();
      },
      (err) => reject(err),
    );
  } else {
    accept(r);
  }
}

function handleRequest(
  server: Server,
  conn: Connection,
  meta: RpcMeta,
  buf: Buffer,
  start: number,
  end: number,
): void {
  const ctx = server.newContext(PROTOCOL, conn);
  ctx.protocolData = meta.correlationId;
  ctx.serviceName = meta.serviceName;
  ctx.methodName = meta.methodName;
  ctx.logId = meta.logId;
  ctx.requestId = meta.requestId;
  ctx.traceId = meta.traceId;
  ctx.spanId = meta.spanId;
  ctx.parentSpanId = meta.parentSpanId;
  ctx.timeoutMs = meta.timeoutMs;
  ctx.requestCompressType = meta.compressType;
  ctx.contentType = meta.contentType;
  ctx.requestUserFields = meta.userFields;
  ctx.authContext = (conn.state.auth as AuthState | undefined)?.context;
  ctx.remoteStreamSettings = meta.streamSettings;

  // brpc's order: ELOGOFF, server ELIMIT, attachment_size, routing, EOVERCROWDED, method ELIMIT.
  const admitted = server.admit(ctx);
  if (ctx.span !== undefined) ctx.span.requestSize = end - start;
  if (!admitted) {
    sendResponse(ctx, undefined);
    return;
  }
  const payloadLen = end - start;
  if (meta.attachmentSize > payloadLen) {
    ctx.setFailed(
      ErrorCode.EREQUEST,
      `attachment_size=${meta.attachmentSize} is larger than request_size=${payloadLen}`,
    );
    sendResponse(ctx, undefined);
    return;
  }
  const method = server.route(ctx, meta.serviceName, meta.methodName);
  if (method === undefined) {
    sendResponse(ctx, undefined);
    return;
  }
  const msgEnd = end - meta.attachmentSize;
  if (meta.attachmentSize > 0) ctx.requestAttachment = buf.subarray(msgEnd, end);
  let req: unknown;
  try {
    req = parseFrameBody(
      meta,
      buf,
      start,
      msgEnd,
      end,
      inputType(method),
      server.options.maxBodySize,
      "request",
    );
  } catch (err) {
    ctx.setFailed(ErrorCode.EREQUEST, (err as Error).message);
    sendResponse(ctx, undefined);
    return;
  }
  server.invoke(method, req, ctx, sendResponse);
}

const inputTypes = new WeakMap<MethodEntry, BodyType>();
const outputTypes = new WeakMap<MethodEntry, BodyType>();

function inputType(m: MethodEntry): BodyType {
  let t = inputTypes.get(m);
  if (t === undefined) {
    t = { desc: m.input, codec: m.inputCodec };
    inputTypes.set(m, t);
  }
  return t;
}

function outputType(m: MethodEntry): BodyType {
  let t = outputTypes.get(m);
  if (t === undefined) {
    t = { desc: m.output, codec: m.outputCodec };
    outputTypes.set(m, t);
  }
  return t;
}

/** Send the response of `ctx` (an error if it failed) and end the call. */
function sendResponse(ctx: ServerContext, res: unknown): void {
  const conn = ctx.connection;
  try {
    if (!conn.failed) writeResponse(conn, ctx, res);
  } finally {
    (conn.state.server as Server).endCall(ctx);
  }
}

function writeResponse(conn: Connection, ctx: ServerContext, res: unknown): void {
  const w = conn.writer;
  const method = ctx.method;
  if (!ctx.failed && method !== undefined && method.outputCodec !== undefined) {
    if (res === undefined || res === null) res = {};
    const missing = method.outputCodec.missingRequired(res);
    if (missing !== undefined)
      ctx.setFailed(ErrorCode.ERESPONSE, `Missing required fields in response: ${missing}`);
  }
  // A request that created streams gets its response wrapped in one STRM DATA frame to
  // the client's first stream, whether or not the streams were accepted (as brpc does).
  const rs = ctx.remoteStreamSettings;
  const accepted = ctx.acceptedStreams;
  const settings = accepted !== undefined ? streamSettingsOf(accepted) : undefined;
  const strmAt =
    rs === undefined
      ? -1
      : beginStreamFrame(w, wireIdOf(rs.streamId), accepted?.[0]?.id ?? INVALID_STREAM_ID, FrameType.DATA);
  const at = beginFrame(w);
  let attachment: Uint8Array = EMPTY;
  if (!ctx.failed && method !== undefined) {
    try {
      attachment = writeSuccess(w, ctx, method, res, at, settings);
    } catch (err) {
      w.rewind(at + HEADER_SIZE);
      log.warn(`Fail to serialize response of ${method.fullName}`, err);
      ctx.setFailed(
        ErrorCode.ERESPONSE,
        `Fail to serialize response=${bodyTypeName(outputType(method), "response")}, ` +
          `ContentType=${contentTypeName(ctx.contentType)}, CompressType=${compressTypeName(ctx.responseCompressType)}, ` +
          `ChecksumType=${checksumTypeName(ctx.responseChecksum ? 1 : 0)}`,
      );
    }
  }
  // A failed call carries the meta only: no body, no attachment.
  if (ctx.failed)
    writeErrorMeta(w, at, ctx.protocolData as number | bigint, ctx.errorCode, ctx.errorText, ctx, settings);
  // rpcz: the payload (message + attachment) is the body size less the meta size of the header.
  if (ctx.span !== undefined) {
    const h = w.start + at;
    ctx.span.responseSize = w.buf.readUInt32BE(h + 4) - w.buf.readUInt32BE(h + 8);
  }
  if (strmAt >= 0) finishStreamFrame(w, strmAt, attachment.length);
  if (attachment.length > 0) conn.writeExternal(attachment);
  conn.messagesOut++;
  conn.scheduleFlush();
  // Accepted streams are connected once the response is queued: what they wrote so far
  // follows it on the wire.
  if (accepted !== undefined) for (const s of accepted) s.connect(undefined);
}

/** Finish the frame begun at `at` as an error response: meta only, no body, no attachment. */
function writeErrorMeta(
  w: Writer,
  at: number,
  correlationId: number | bigint,
  errorCode: number,
  errorText: string,
  ctx?: ServerContext,
  streamSettings?: StreamSettings,
): void {
  const metaStart = w.mark();
  encodeRpcMeta(
    w,
    undefined,
    { errorCode, errorText },
    {
      compressType: ctx?.responseCompressType ?? 0,
      correlationId,
      attachmentSize: 0,
      streamSettings,
      userFields: ctx?.responseUserFields,
      contentType: ctx?.contentType ?? 0,
      checksumType: 0,
    },
  );
  finishHeader(w, at, w.mark() - metaStart, 0);
}

/** Write a successful response frame begun at `at` except its attachment, which is returned for the caller to append. */
function writeSuccess(
  w: Writer,
  ctx: ServerContext,
  method: MethodEntry,
  res: unknown,
  at: number,
  streamSettings: StreamSettings | undefined,
): Uint8Array {
  const attachment = rawBytes(ctx.responseAttachment);
  const checksumType = ctx.responseChecksum ? 1 : 0;
  const metaStart = w.mark();
  // A reused option bag: no allocation per response.
  common.compressType = ctx.responseCompressType;
  common.correlationId = ctx.protocolData as number | bigint;
  common.attachmentSize = attachment.length;
  common.streamSettings = streamSettings;
  common.userFields = ctx.responseUserFields;
  common.contentType = ctx.contentType;
  common.checksumType = checksumType;
  const ckAt = encodeRpcMeta(w, undefined, OK_RESPONSE, common);
  const metaSize = w.mark() - metaStart;
  const bodyStart = w.mark();
  writeBody(w, outputType(method), res, ctx.contentType, ctx.responseCompressType);
  if (ckAt >= 0) w.u32beAt(ckAt, maskCrc(crc32cUpdate(0, w.buf.subarray(w.start + bodyStart, w.pos))));
  finishHeader(w, at, metaSize, attachment.length);
  return attachment;
}
