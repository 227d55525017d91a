/**
 * gRPC details only the client needs (brpc `grpc.cpp`, `http2_rpc_protocol.cpp`): status
 * names used as error texts, lenient `grpc-status` parsing, synchronous decompression of
 * response messages. Framing, the status mapping and header codings are shared with the
 * server in ../grpc/framing.ts.
 */
import { gunzipSync, inflateSync } from "node:zlib";
import { errorCodeOfGrpcStatus, GrpcStatus } from "../grpc/framing.js";

export { GrpcStatus };

/** brpc's `GrpcStatusToErrorCode`: the brpc error code a client reports for a gRPC status. */
export const grpcStatusToErrorCode: (status: number) => number = errorCodeOfGrpcStatus;

/** brpc's `GrpcStatusToString`. */
const statusNames = [
  "GRPC_OK",
  "GRPC_CANCELED",
  "GRPC_UNKNOWN",
  "GRPC_INVALIDARGUMENT",
  "GRPC_DEADLINEEXCEEDED",
  "GRPC_NOTFOUND",
  "GRPC_ALREADYEXISTS",
  "GRPC_PERMISSIONDENIED",
  "GRPC_RESOURCEEXHAUSTED",
  "GRPC_FAILEDPRECONDITION",
  "GRPC_ABORTED",
  "GRPC_OUTOFRANGE",
  "GRPC_UNIMPLEMENTED",
  "GRPC_INTERNAL",
  "GRPC_UNAVAILABLE",
  "GRPC_DATALOSS",
  "GRPC_UNAUTHENTICATED",
];

/** brpc's name of a gRPC status ("GRPC_INTERNAL"), used as error text when grpc-message is absent. */
export function grpcStatusName(status: number): string {
  return statusNames[status] ?? "Unknown-GrpcStatus";
}

/** Parse a `grpc-status` value; anything that is not a status number is UNKNOWN. */
export function parseGrpcStatus(v: string): number {
  return /^\d{1,3}$/.test(v.trim()) ? Number(v.trim()) : GrpcStatus.UNKNOWN;
}

/** Decompress a gRPC message compressed with `encoding` (gzip or deflate). Throws otherwise. */
export function grpcDecompress(encoding: string | undefined, data: Buffer, maxSize: number): Buffer {
  switch (encoding?.trim().toLowerCase()) {
    case "gzip":
      return gunzipSync(data, { maxOutputLength: maxSize });
    case "deflate":
      return inflateSync(data, { maxOutputLength: maxSize });
    case undefined:
      throw new Error("Fail to find header `grpc-encoding' in compressed gRPC response");
    default:
      throw new Error(`unsupported grpc-encoding=${encoding}`);
  }
}
