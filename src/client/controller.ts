/**
 * The client side of one call (brpc's `Controller`). Pass one in
 * `CallOptions.controller` to set brpc-style options and to read what happened:
 * error code and text, latency, retries, remote side and the response attachment.
 */
export class Controller {
  // ---- settings (CallOptions take precedence) ----
  /** Per-call timeout in ms (-1 = none). */
  timeoutMs: number | undefined = undefined;
  /** Max retries of this call. */
  maxRetry: number | undefined = undefined;
  /** log_id sent with the request. */
  logId: bigint | number | undefined = undefined;
  /** request_id sent with the request. */
  requestId: string | undefined = undefined;
  /** Attachment sent after the request message. */
  requestAttachment: Uint8Array | string | undefined = undefined;
  /** Compression of the request: 0/"none", 1/"snappy", 2/"gzip", 3/"zlib". */
  requestCompressType: number | string | undefined = undefined;
  /** user_fields sent with the request. */
  requestUserFields: Record<string, string> | undefined = undefined;
  /** Send a CRC32C checksum with the request (brpc `set_request_checksum_type`). */
  requestChecksum: boolean | undefined = undefined;
  /** [http, h2, gRPC] Extra request headers / metadata (brpc `http_request().SetHeader`). */
  httpRequestHeaders: Record<string, string> | undefined = undefined;

  // ---- results ----
  /** 0 on success, else the brpc error code. */
  errorCode = 0;
  /** brpc-formatted error text, "" on success. */
  errorText = "";
  /** Whole-call latency in microseconds (retries included). */
  latencyUs = 0;
  /** How many times the call was retried. */
  retriedCount = 0;
  /** Server address the last attempt went to. */
  remoteSide = "";
  /** Local address of the last attempt's connection. */
  localSide = "";
  /** Attachment that came with the response (empty when none). */
  responseAttachment: Buffer = Buffer.alloc(0);
  /** user_fields that came with the response. */
  responseUserFields: Record<string, string> | undefined = undefined;
  /** Compression the server used for the response. */
  responseCompressType = 0;
  /** Correlation id of the last attempt (diagnostics). */
  correlationId = 0;
  /** [http, h2, gRPC] HTTP status of the response (0 when none arrived). */
  httpStatusCode = 0;
  /** [http, h2, gRPC] Response headers, lower-case names (gRPC: trailers included). */
  httpResponseHeaders: Record<string, string> | undefined = undefined;

  /** True when the call failed. */
  get failed(): boolean {
    return this.errorCode !== 0;
  }

  /** Clear the results so the controller can be used for another call (settings are kept). */
  reset(): void {
    this.errorCode = 0;
    this.errorText = "";
    this.latencyUs = 0;
    this.retriedCount = 0;
    this.remoteSide = "";
    this.localSide = "";
    this.responseAttachment = Buffer.alloc(0);
    this.responseUserFields = undefined;
    this.responseCompressType = 0;
    this.correlationId = 0;
    this.httpStatusCode = 0;
    this.httpResponseHeaders = undefined;
  }
}
