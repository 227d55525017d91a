/**
 * Every error code brpc-ts puts on the wire or reports to callers: brpc's own codes
 * (`src/brpc/errno.proto`, 1001-3002) and the Linux errno values brpc sends as-is.
 * Linux numbers are used on every platform, because they are what a brpc peer sends.
 */
export const ErrorCode = {
  OK: 0,
  // Linux errno values used by brpc.
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EEXIST: 17,
  EINVAL: 22,
  EPIPE: 32,
  ENODATA: 61,
  EPROTO: 71,
  EMSGSIZE: 90,
  ENETUNREACH: 101,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTDOWN: 112,
  EHOSTUNREACH: 113,
  ECANCELED: 125,
  // brpc: caused by the client side.
  ENOSERVICE: 1001,
  ENOMETHOD: 1002,
  EREQUEST: 1003,
  ERPCAUTH: 1004,
  ETOOMANYFAILS: 1005,
  EPCHANFINISH: 1006,
  EBACKUPREQUEST: 1007,
  ERPCTIMEDOUT: 1008,
  EFAILEDSOCKET: 1009,
  EHTTP: 1010,
  EOVERCROWDED: 1011,
  ERTMPPUBLISHABLE: 1012,
  ERTMPCREATESTREAM: 1013,
  EEOF: 1014,
  EUNUSED: 1015,
  ESSL: 1016,
  EH2RUNOUTSTREAMS: 1017,
  EREJECT: 1018,
  EPROGREADTIMEOUT: 1019,
  // brpc: caused by the server side.
  EINTERNAL: 2001,
  ERESPONSE: 2002,
  ELOGOFF: 2003,
  ELIMIT: 2004,
  ECLOSE: 2005,
  EITP: 2006,
  ESHUTDOWNWRITE: 2007,
  // brpc: RDMA.
  ERDMA: 3001,
  ERDMAMEM: 3002,
} as const;

/** Name of an error code, e.g. `"ERPCTIMEDOUT"`. */
export type ErrorCodeName = keyof typeof ErrorCode;

/** Short descriptions, as brpc's `berror()` prints them. */
const descriptions: Record<number, string> = {
  0: "OK",
  1: "Operation not permitted",
  2: "No such file or directory",
  4: "Interrupted system call",
  9: "Bad file descriptor",
  11: "Resource temporarily unavailable",
  12: "Cannot allocate memory",
  13: "Permission denied",
  17: "File exists",
  22: "Invalid argument",
  32: "Broken pipe",
  61: "No data available",
  71: "Protocol error",
  90: "Message too long",
  101: "Network is unreachable",
  103: "Software caused connection abort",
  104: "Connection reset by peer",
  110: "Connection timed out",
  111: "Connection refused",
  112: "Host is down",
  113: "No route to host",
  125: "Operation canceled",
  1001: "Service not found",
  1002: "Method not found",
  1003: "Bad Request",
  1004: "Unauthorized",
  1005: "Too many sub calls failed",
  1006: "[Internal] ParallelChannel finished",
  1007: "Sending backup request",
  1008: "RPC call is timed out",
  1009: "Broken socket",
  1010: "Bad http call",
  1011: "The server is overcrowded",
  1012: "RtmpRetryingClientStream is publishable",
  1013: "createStream was rejected by the RTMP server",
  1014: "Got EOF",
  1015: "The socket was not needed",
  1016: "SSL related error",
  1017: "The H2 socket was run out of streams",
  1018: "Reject by cluster recover",
  1019: "Progressive read timed out",
  2001: "Internal Server Error",
  2002: "Bad Response",
  2003: "Server is stopping",
  2004: "Reached server's limit on resources",
  2005: "Close socket initiatively",
  2006: "Failed Itp response",
  2007: "Shutdown write",
  3001: "RDMA verbs error",
  3002: "Memory not registered for RDMA",
};

const names: Record<number, string> = {};
for (const [name, code] of Object.entries(ErrorCode)) names[code] = name;

/** Name of `code` (`"ELIMIT"`), or `"E<code>"` for codes outside the table (user codes). */
export function errorName(code: number): string {
  return names[code] ?? `E${code}`;
}

/** brpc's description of `code`, or `"Unknown error <code>"`. */
export function describeError(code: number): string {
  return descriptions[code] ?? `Unknown error ${code}`;
}

/**
 * Errors brpc's default retry policy retries (`RpcRetryPolicy::DoRetry`).
 * ERPCTIMEDOUT and ECANCELED are never retried, whatever the policy says.
 */
export const RETRYABLE_BY_DEFAULT: ReadonlySet<number> = new Set<number>([
  ErrorCode.EFAILEDSOCKET,
  ErrorCode.EEOF,
  ErrorCode.EHOSTDOWN,
  ErrorCode.ELOGOFF,
  ErrorCode.ETIMEDOUT,
  ErrorCode.ELIMIT,
  ErrorCode.ENOENT,
  ErrorCode.EPIPE,
  ErrorCode.ECONNREFUSED,
  ErrorCode.ECONNRESET,
  ErrorCode.ENODATA,
  ErrorCode.EOVERCROWDED,
  ErrorCode.EH2RUNOUTSTREAMS,
]);

/** Map a Node.js system error (`err.code` like "ECONNRESET") to the Linux errno brpc uses. */
export function errnoFromNodeError(err: unknown): number {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case "ECONNREFUSED":
      return ErrorCode.ECONNREFUSED;
    case "ECONNRESET":
      return ErrorCode.ECONNRESET;
    case "EPIPE":
      return ErrorCode.EPIPE;
    case "ETIMEDOUT":
      return ErrorCode.ETIMEDOUT;
    case "EHOSTUNREACH":
      return ErrorCode.EHOSTUNREACH;
    case "ENETUNREACH":
      return ErrorCode.ENETUNREACH;
    case "EHOSTDOWN":
      return ErrorCode.EHOSTDOWN;
    case "ECONNABORTED":
      return ErrorCode.ECONNABORTED;
    case "ENOENT":
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return ErrorCode.ENOENT;
    case "EACCES":
      return ErrorCode.EACCES;
    case "EPERM":
      return ErrorCode.EPERM;
    case "EINVAL":
    case "EADDRNOTAVAIL":
      return ErrorCode.EINVAL;
    default:
      return ErrorCode.EFAILEDSOCKET;
  }
}
