/** gRPC metadata (custom headers and trailers) and the gRPC part of a server call's context. */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http2";

/** A metadata value: text, or bytes for keys ending in `-bin` (base64 on the wire). */
export type MetadataValue = string | Uint8Array;

/** What a gRPC call adds to its {@link ServerContext} (`ctx.grpc`). */
export interface GrpcCallInfo {
  /**
   * Custom metadata of the request: every header except pseudo-headers, `grpc-*`,
   * `content-type`, `te`, `content-length`, `connection`, `host`. Keys are lower-case;
   * values of `-bin` keys are the decoded bytes (a Buffer; several comma-separated values
   * are decoded one by one and concatenated), others the text as received.
   */
  readonly requestMetadata: Readonly<Record<string, string | Buffer>>;
  /**
   * Metadata to send in the response HEADERS. Read when the headers go out: before the
   * first response message, or with the status when there is none. Reserved names
   * (`grpc-*`, `content-type`, pseudo-headers...) are skipped.
   */
  readonly responseHeaders: Record<string, MetadataValue>;
  /** Metadata to send in the trailers, after `grpc-status` / `grpc-message`. */
  readonly responseTrailers: Record<string, MetadataValue>;
  /**
   * gRPC status to send instead of the one mapped from `ctx.errorCode`, for statuses brpc
   * codes cannot express (e.g. `GrpcStatus.NOT_FOUND`). Used only when the call failed
   * (`ctx.setFailed`); `grpc-message` is still `ctx.errorText`.
   */
  status: number | undefined;
  /** Message encoding of the request: "identity", "gzip" or "deflate". */
  readonly requestEncoding: string;
  /** Message format: "proto" (application/grpc, application/grpc+proto) or "json" (application/grpc+json). */
  readonly subtype: "proto" | "json";
}

const SKIPPED_REQUEST_HEADERS = new Set(["content-type", "te", "content-length", "connection", "host"]);

function isReserved(name: string): boolean {
  return name.startsWith(":") || name.startsWith("grpc-") || SKIPPED_REQUEST_HEADERS.has(name);
}

function decodeBin(v: string): Buffer {
  if (!v.includes(",")) return Buffer.from(v, "base64");
  return Buffer.concat(v.split(",").map((p) => Buffer.from(p.trim(), "base64")));
}

/** Custom metadata of request headers (see {@link GrpcCallInfo.requestMetadata}). */
export function metadataOfHeaders(headers: IncomingHttpHeaders): Record<string, string | Buffer> {
  const out: Record<string, string | Buffer> = {};
  for (const k of Object.keys(headers)) {
    if (isReserved(k)) continue;
    const raw = headers[k];
    if (raw === undefined) continue;
    const v = Array.isArray(raw) ? raw.join(", ") : String(raw);
    out[k] = k.endsWith("-bin") ? decodeBin(v) : v;
  }
  return out;
}

const VALID_KEY = /^[0-9a-z_.-]+$/;

/**
 * Add the metadata `md` to outgoing headers `out`, skipping reserved or invalid names.
 * Bytes go base64-encoded; text under a `-bin` key is sent as its UTF-8 bytes.
 */
export function addMetadata(out: OutgoingHttpHeaders, md: Record<string, MetadataValue>): void {
  for (const key of Object.keys(md)) {
    const k = key.toLowerCase();
    if (isReserved(k) || !VALID_KEY.test(k)) continue;
    const v = md[key]!;
    if (k.endsWith("-bin")) {
      const bytes =
        typeof v === "string" ? Buffer.from(v, "utf8") : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      out[k] = bytes.toString("base64");
    } else {
      out[k] =
        typeof v === "string" ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("latin1");
    }
  }
}
