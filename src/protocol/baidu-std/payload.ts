/**
 * Message bodies of baidu_std frames: protobuf (via the compiled codec) or JSON
 * (content_type 1/2), optionally compressed; raw bytes for untyped methods.
 */
import { create, type DescMessage, fromJson, isMessage, type JsonValue, toJson } from "@bufbuild/protobuf";
import type { MessageCodec } from "../../codec/index.js";
import type { Writer } from "../../io/writer.js";
import { log } from "../../log.js";
import { checksumTypeName, crc32cUpdate, unmaskCrc } from "../checksum.js";
import { compressorOf, compressTypeName } from "../compress.js";
import type { RpcMeta } from "./meta.js";

/** brpc's ContentType values (`RpcMeta.content_type`). */
export const ContentType = { PB: 0, JSON: 1, PROTO_JSON: 2, PROTO_TEXT: 3 } as const;

/** brpc's `ContentTypeToCStr`. */
export function contentTypeName(ct: number): string {
  return ["pb", "json", "proto-json", "proto-text"][ct] ?? "unknown";
}

/** How to turn a message into bytes and back; `undefined` codec = raw bytes. */
export interface BodyType {
  readonly desc: DescMessage | undefined;
  readonly codec: MessageCodec | undefined;
}

/** Message type name for error texts ("brpc.SerializedRequest"-like for raw bodies). */
export function bodyTypeName(t: BodyType, side: "request" | "response"): string {
  return t.desc?.typeName ?? (side === "request" ? "brpc.SerializedRequest" : "brpc.SerializedResponse");
}

const EMPTY = Buffer.alloc(0);

/** Bytes of a raw method's body (string as UTF-8, undefined as empty). */
export function rawBytes(v: unknown): Uint8Array {
  if (v === undefined || v === null) return EMPTY;
  if (v instanceof Uint8Array) return v;
  if (typeof v === "string") return Buffer.from(v, "utf8");
  throw new TypeError(`raw method must return bytes or a string, got ${typeof v}`);
}

/**
 * Append the body of `msg` to `w`, then compress it in place when `compressType` != 0.
 * Throws on serialization errors (callers map them to EREQUEST / ERESPONSE).
 */
export function writeBody(
  w: Writer,
  t: BodyType,
  msg: unknown,
  contentType: number,
  compressType: number,
): void {
  const start = w.mark();
  if (t.codec === undefined) {
    w.raw(rawBytes(msg));
  } else if (contentType === ContentType.PB) {
    t.codec.encode(msg, w);
  } else if (contentType === ContentType.JSON || contentType === ContentType.PROTO_JSON) {
    const desc = t.desc as DescMessage;
    const m = isMessage(msg, desc) ? msg : create(desc, msg as never);
    const json = toJson(desc, m, { useProtoFieldName: contentType === ContentType.JSON });
    w.raw(Buffer.from(JSON.stringify(json), "utf8"));
  } else {
    throw new Error(`unsupported content_type=${contentType}`);
  }
  if (compressType !== 0) {
    const c = compressorOf(compressType);
    if (c === undefined) throw new Error(`unsupported CompressType=${compressTypeName(compressType)}`);
    const packed = c.compress(w.buf.subarray(w.start + start, w.pos));
    w.rewind(start);
    w.raw(packed);
  }
}

/**
 * Decode a body from `buf[start, end)`: decompress, then parse per content type.
 * Throws on any failure (callers map it to EREQUEST / ERESPONSE).
 */
export function readBody(
  buf: Buffer,
  start: number,
  end: number,
  t: BodyType,
  contentType: number,
  compressType: number,
  maxSize: number,
): unknown {
  if (compressType !== 0) {
    const c = compressorOf(compressType);
    if (c === undefined) throw new Error(`unsupported CompressType=${compressType}`);
    buf = c.decompress(buf.subarray(start, end), maxSize);
    start = 0;
    end = buf.length;
  }
  if (t.codec === undefined) return buf.subarray(start, end);
  if (contentType === ContentType.PB) {
    const msg = t.codec.decode(buf, start, end);
    const missing = t.codec.missingRequired(msg);
    if (missing !== undefined) throw new Error(`missing required field ${missing}`);
    return msg;
  }
  if (contentType === ContentType.JSON || contentType === ContentType.PROTO_JSON) {
    const text = buf.toString("utf8", start, end);
    const json = (text.trim() === "" ? {} : JSON.parse(text)) as JsonValue;
    const msg = fromJson(t.desc as DescMessage, json, { ignoreUnknownFields: true });
    const missing = t.codec.missingRequired(msg);
    if (missing !== undefined) throw new Error(`missing required field ${missing}`);
    return msg;
  }
  throw new Error(`unsupported content_type=${contentType}`);
}

/** A frame body that failed to verify or decode; `message` is brpc's error text. */
export class BodyParseError extends Error {}

/**
 * Verify the checksum of `buf[start, msgEnd)` (plus the attachment up to `end` when the
 * meta says so) and decode the message. Throws a {@link BodyParseError} carrying brpc's
 * text: "Fail to parse request=<type>, ContentType=..., CompressType=..., ChecksumType=...,
 * request_size=<n>" (brpc says request_size for responses too).
 */
export function parseFrameBody(
  meta: RpcMeta,
  buf: Buffer,
  start: number,
  msgEnd: number,
  end: number,
  t: BodyType,
  maxSize: number,
  side: "request" | "response",
): unknown {
  try {
    if (meta.checksumType !== 0 && !checksumMatches(meta, buf, start, msgEnd, end)) {
      throw new Error("checksum mismatch");
    }
    return readBody(buf, start, msgEnd, t, meta.contentType, meta.compressType, maxSize);
  } catch (err) {
    log.debug(`Fail to parse ${side} ${bodyTypeName(t, side)}`, err);
    throw new BodyParseError(
      `Fail to parse ${side}=${bodyTypeName(t, side)}, ContentType=${contentTypeName(meta.contentType)}, ` +
        `CompressType=${compressTypeName(meta.compressType)}, ChecksumType=${checksumTypeName(meta.checksumType)}, ` +
        `request_size=${end - start}`,
    );
  }
}

/** True if the CRC32C in `meta` matches the body (and attachment, when it says so). */
export function checksumMatches(
  meta: RpcMeta,
  buf: Buffer,
  start: number,
  msgEnd: number,
  end: number,
): boolean {
  const v = meta.checksumValue;
  // CRC32C is the only checksum brpc defines; anything else cannot be verified.
  if (meta.checksumType !== 1 || v === undefined || v.length !== 4) return false;
  let crc = crc32cUpdate(0, buf.subarray(start, msgEnd));
  if (meta.checksumWithAttachment) crc = crc32cUpdate(crc, buf.subarray(msgEnd, end));
  const got =
    ((v[0] as number) << 24) | ((v[1] as number) << 16) | ((v[2] as number) << 8) | (v[3] as number);
  return unmaskCrc(got >>> 0) === crc;
}
