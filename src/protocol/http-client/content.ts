/**
 * Message bodies of HTTP/h2/gRPC calls: brpc's content types (`ParseContentType` in
 * http_rpc_protocol.cpp) and encoding / decoding of protobuf messages as JSON (brpc
 * json2pb names), protobuf binary or canonical proto JSON.
 */
import type { DescMessage } from "@bufbuild/protobuf";
import { Writer } from "../../io/writer.js";
import { type BodyType, ContentType, readBody, writeBody } from "../baidu-std/payload.js";

/** How a body is encoded. */
export type BodyFormat = "json" | "proto" | "proto-json" | "proto-text" | "others";

/** What a Content-Type says. */
export interface ParsedContentType {
  format: BodyFormat;
  /** `application/grpc[+...]`. */
  grpc: boolean;
}

/** brpc's `ParseContentType`: `application/{json,proto,proto-json,proto-text,x-protobuf,grpc[+x]}[;...]`. */
export function parseContentType(ct: string | undefined): ParsedContentType {
  let s = (ct ?? "").trim().toLowerCase();
  if (!s.startsWith("application/")) return { format: "others", grpc: false };
  s = s.slice(12);
  let grpc = false;
  if (s.startsWith("grpc")) {
    if (s.length === 4 || s[4] === ";") return { format: "proto", grpc: true };
    if (s[4] === "+") {
      s = s.slice(5);
      grpc = true;
    }
  }
  let format: BodyFormat;
  let rest: string;
  if (s.startsWith("json")) {
    format = "json";
    rest = s.slice(4);
  } else if (s.startsWith("proto-json")) {
    format = "proto-json";
    rest = s.slice(10);
  } else if (s.startsWith("proto-text")) {
    format = "proto-text";
    rest = s.slice(10);
  } else if (s.startsWith("proto")) {
    format = "proto";
    rest = s.slice(5);
  } else if (s.startsWith("x-protobuf")) {
    format = "proto";
    rest = s.slice(10);
  } else {
    return { format: "others", grpc };
  }
  return rest === "" || rest[0] === ";" ? { format, grpc } : { format: "others", grpc };
}

/** The baidu_std ContentType number of a format the codecs handle, else undefined. */
function contentTypeNumber(f: BodyFormat): number | undefined {
  switch (f) {
    case "proto":
      return ContentType.PB;
    case "json":
      return ContentType.JSON;
    case "proto-json":
      return ContentType.PROTO_JSON;
    default:
      return undefined;
  }
}

/** True if `t` is a message type without fields (brpc "http service" bodies). */
export function hasNoFields(t: BodyType): boolean {
  return t.desc !== undefined && (t.desc as DescMessage).fields.length === 0;
}

const writer = new Writer();

/**
 * Encode `msg` as `format` after `prefix` bytes reserved at the start (gRPC: 5). Returns
 * the whole buffer (prefix included). Throws an Error with brpc's text on failure.
 */
export function encodeMessage(
  t: BodyType,
  msg: unknown,
  format: BodyFormat,
  contentType: string,
  prefix = 0,
): Buffer {
  const ct = contentTypeNumber(format);
  if (ct === undefined)
    throw new Error(`Cannot serialize pb request according to content_type=${contentType}`);
  const missing = t.codec?.missingRequired(msg);
  if (missing !== undefined) throw new Error(`Missing required fields in request: ${missing}`);
  const mark = writer.mark();
  try {
    for (let i = 0; i < prefix; i++) writer.u8(0);
    writeBody(writer, t, msg, ct, 0);
  } catch (err) {
    writer.rewind(mark);
    throw new Error(`Fail to serialize ${t.desc?.typeName ?? "request"}: ${(err as Error).message}`);
  }
  return writer.take();
}

/** Decode a message body of `format`. Throws an Error with brpc's text on failure. */
export function decodeMessage(t: BodyType, body: Buffer, format: BodyFormat, maxSize: number): unknown {
  const ct = contentTypeNumber(format);
  if (ct === undefined) throw new Error(`Unknown content-type when response is not NULL`);
  try {
    return readBody(body, 0, body.length, t, ct, 0, maxSize);
  } catch (err) {
    throw new Error(`Fail to parse content as ${t.desc?.typeName ?? "response"}: ${(err as Error).message}`);
  }
}
