/**
 * The response side of one h2 attempt, shared by both client engines (the builtin one,
 * `h2/client-attempt.ts`, and node:http2, `http-client/h2.ts`): status and headers, the
 * body of an HTTP response (bounded by maxBodySize) or the length-prefixed messages of a
 * gRPC one (collected, or decoded into the call's response stream), and the call's
 * completion when the stream ends.
 */
import { STATUS_CODES } from "node:http";
import type { ClientCall } from "../../client/call.js";
import { ErrorCode } from "../../errors/errno.js";
import { type GrpcMessage, MessageDecoder } from "../grpc/framing.js";
import { type BodyFormat, parseContentType } from "./content.js";
import { decodeGrpcResponseMessage, finishGrpcResponse } from "./grpc-response.js";
import { finishHttpCall } from "./response.js";
import type { StreamExchange } from "./streaming.js";

/** A failure to report (the attempt reports at most one outcome). */
export type Outcome = () => void;

/** Status, headers and body of one h2 response. */
export class H2ResponseBody {
  readonly call: ClientCall;
  readonly #grpc: boolean;
  readonly #ex: StreamExchange | undefined;
  readonly #maxBody: number;
  /** `:status` (0 until the response headers arrived). */
  status = 0;
  /** Headers and trailers as node:http2 presents them (no pseudo-headers). */
  readonly headers: Record<string, string> = {};
  #format: BodyFormat = "proto";
  #encoding: string | undefined = undefined;
  #compressedSeen = false;
  #reader: MessageDecoder | undefined = undefined;
  #messages: GrpcMessage[] = [];
  #chunks: Buffer[] = [];
  #size = 0;

  /** `grpc`: the call is a gRPC one (h2:grpc); `ex`: its streams, if streaming. */
  constructor(call: ClientCall, grpc: boolean, ex: StreamExchange | undefined, maxBody: number) {
    this.call = call;
    this.#grpc = grpc;
    this.#ex = ex;
    this.#maxBody = maxBody;
  }

  /** The response headers arrived (already added to {@link headers}): a gRPC content-type starts the message decoder. */
  start(status: number): void {
    this.status = status;
    if (!this.#grpc) return;
    const ct = parseContentType(this.headers["content-type"]);
    if (!ct.grpc) return;
    this.#format = ct.format;
    this.#encoding = this.headers["grpc-encoding"];
    this.#reader = new MessageDecoder(this.#maxBody);
  }

  /** A DATA chunk; returns the failure to report when it breaks the response. */
  push(d: Buffer): Outcome | undefined {
    const reader = this.#reader;
    const call = this.call;
    if (reader === undefined) {
      this.#size += d.length;
      if (this.#size > this.#maxBody) {
        const text = `The response body is larger than maxBodySize=${this.#maxBody} @${call.remoteSide}`;
        return () => call.fail(ErrorCode.ERESPONSE, text, false);
      }
      this.#chunks.push(d);
      return undefined;
    }
    const out = this.#ex?.output;
    const msgs = out === undefined ? this.#messages : [];
    try {
      reader.pushTo(d, msgs);
    } catch (err) {
      const text = `Invalid gRPC response: ${(err as Error).message}`;
      return () => call.fail(ErrorCode.ERESPONSE, text, false);
    }
    if (out === undefined) return undefined;
    for (const m of msgs) {
      let v: unknown;
      try {
        if (m.compressed) this.#compressedSeen = true;
        v = decodeGrpcResponseMessage(call, m, this.#encoding, this.#format, this.#maxBody);
      } catch (err) {
        const text = (err as Error).message;
        return () => call.fail(ErrorCode.ERESPONSE, text, false);
      }
      out.push(v);
    }
    return undefined;
  }

  /** The stream ended normally: what completes the call. */
  finish(): Outcome {
    const call = this.call;
    if (!this.#grpc) {
      const chunks = this.#chunks;
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, this.#size);
      const status = this.status;
      const headers = this.headers;
      return () =>
        finishHttpCall(call, {
          status,
          reason: STATUS_CODES[status] ?? "Unknown",
          version: "2.0",
          headers,
          body,
        });
    }
    return () =>
      finishGrpcResponse(call, {
        status: this.status,
        headers: this.headers,
        chunks: this.#chunks,
        streaming: this.#ex?.output !== undefined,
        retryable: this.#ex === undefined,
        truncated: (this.#reader?.bufferedBytes ?? 0) > 0,
        messages: this.#messages,
        compressed: this.#compressedSeen,
        encoding: this.#encoding,
        format: this.#format,
        maxBody: this.#maxBody,
      });
  }
}
