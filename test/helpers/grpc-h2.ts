/** Raw h2 helpers for the gRPC tests: calls with full control of frames, and decoding of captured server bytes. */
import http2, {
  type ClientHttp2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from "node:http2";
import { Duplex } from "node:stream";
import { MessageDecoder } from "../../src/protocol/grpc/framing.js";

/** What came back on one h2 stream. */
export interface H2Result {
  headers: IncomingHttpHeaders | undefined;
  data: Buffer;
  trailers: IncomingHttpHeaders | undefined;
  /** RST_STREAM code the stream closed with (0 = none / NO_ERROR). */
  rstCode: number;
  /** An 'error' the stream emitted, if any. */
  error: Error | undefined;
}

/** Length-prefixed messages of a gRPC response body (flag and payload each). */
export function splitMessages(data: Buffer): { compressed: boolean; data: Buffer }[] {
  const out: { compressed: boolean; data: Buffer }[] = [];
  new MessageDecoder(1 << 30).pushTo(data, out);
  return out;
}

/** One length-prefixed message. */
export function lpm(payload: Uint8Array, compressed = false): Buffer {
  const b = Buffer.alloc(5 + payload.length);
  b[0] = compressed ? 1 : 0;
  b.writeUInt32BE(payload.length, 1);
  b.set(payload, 5);
  return b;
}

/** Open an h2 session to 127.0.0.1:port. */
export async function h2connect(
  port: number,
  options?: http2.ClientSessionOptions,
): Promise<ClientHttp2Session> {
  const s = http2.connect(`http://127.0.0.1:${port}`, options);
  s.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    s.once("connect", () => resolve());
    s.once("error", reject);
  });
  return s;
}

/** gRPC request headers for `path`. */
export function grpcHeaders(path: string, extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  return {
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    te: "trailers",
    ...extra,
  };
}

/**
 * Make one request on `session`: send `body` chunks (each written as it is), end the
 * request unless `end` is false, and collect the response.
 */
export function h2request(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body: Buffer[] = [],
  end = true,
): { stream: http2.ClientHttp2Stream; result: Promise<H2Result> } {
  const stream = session.request(headers, { endStream: false });
  const chunks: Buffer[] = [];
  const r: H2Result = {
    headers: undefined,
    data: Buffer.alloc(0),
    trailers: undefined,
    rstCode: 0,
    error: undefined,
  };
  const result = new Promise<H2Result>((resolve) => {
    stream.on("response", (h) => {
      r.headers = h;
    });
    stream.on("data", (d: Buffer) => chunks.push(d));
    stream.on("trailers", (t) => {
      r.trailers = t;
    });
    stream.on("error", (e) => {
      r.error = e;
    });
    stream.on("close", () => {
      r.data = Buffer.concat(chunks);
      r.rstCode = stream.rstCode ?? 0;
      resolve(r);
    });
  });
  for (const b of body) stream.write(b);
  if (end) stream.end();
  return { stream, result };
}

/** One call on a fresh session, closed afterwards. */
export async function h2call(
  port: number,
  headers: OutgoingHttpHeaders,
  body: Buffer[] = [],
): Promise<H2Result> {
  const s = await h2connect(port);
  try {
    return await h2request(s, headers, body).result;
  } finally {
    s.close();
  }
}

/**
 * Decode what an h2 server sent (e.g. the s2c bytes of a capture) with node:http2's own
 * client parser: a client session on a fake socket opens `requests` streams (ids 1, 3, ...,
 * like the captured client), its output is dropped, and `serverBytes` are fed to it.
 */
export async function decodeServerBytes(serverBytes: Buffer, requests: number): Promise<H2Result[]> {
  const sock = new Duplex({
    read() {},
    write(_chunk, _enc, cb) {
      cb();
    },
  });
  const session = http2.connect("http://capture.invalid", { createConnection: () => sock as never });
  session.on("error", () => {});
  await new Promise<void>((resolve) => session.once("connect", () => resolve()));
  const results: Promise<H2Result>[] = [];
  for (let i = 0; i < requests; i++) {
    results.push(h2request(session, grpcHeaders(`/replay/${i}`), [], true).result);
  }
  // Let the session submit the requests' HEADERS first.
  await new Promise<void>((resolve) => setImmediate(resolve));
  sock.push(serverBytes);
  const out = await Promise.race([
    Promise.all(results),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("server bytes did not complete")), 5000),
    ),
  ]);
  session.destroy();
  return out;
}

// ---- hand-made h2 frames (for what node:http2 refuses to send) --------------------------

/** The client connection preface. */
export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** Frame types and flags used by the tests. */
export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
} as const;
export const Flag = { END_STREAM: 1, ACK: 1, END_HEADERS: 4, PADDED: 8 } as const;

/** One h2 frame. */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = Buffer.alloc(0),
): Buffer {
  const b = Buffer.alloc(9 + payload.length);
  b.writeUIntBE(payload.length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(streamId & 0x7fffffff, 5);
  b.set(payload, 9);
  return b;
}

function hpackInt(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  value -= max;
  while (value >= 128) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/** An HPACK block of literal fields without indexing (no Huffman, no table): always decodable. */
export function hpack(headers: [string, string][]): Buffer {
  const out: number[] = [];
  for (const [name, value] of headers) {
    out.push(0x00);
    const n = Buffer.from(name, "latin1");
    const v = Buffer.from(value, "latin1");
    out.push(...hpackInt(n.length, 7, 0), ...n);
    out.push(...hpackInt(v.length, 7, 0), ...v);
  }
  return Buffer.from(out);
}

/** A HEADERS frame opening a gRPC call on `streamId`. */
export function grpcHeadersFrame(
  streamId: number,
  path: string,
  extra: [string, string][] = [],
  endStream = false,
): Buffer {
  const block = hpack([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "test"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ...extra,
  ]);
  return frame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), streamId, block);
}

/** A parsed frame from a byte stream. */
export interface ParsedFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** Split whole frames off `buf` (a trailing partial frame is left out). */
export function parseFrames(buf: Buffer): ParsedFrame[] {
  const out: ParsedFrame[] = [];
  let off = 0;
  while (off + 9 <= buf.length) {
    const len = buf.readUIntBE(off, 3);
    if (off + 9 + len > buf.length) break;
    out.push({
      type: buf[off + 3]!,
      flags: buf[off + 4]!,
      streamId: buf.readUInt32BE(off + 5) & 0x7fffffff,
      payload: buf.subarray(off + 9, off + 9 + len),
    });
    off += 9 + len;
  }
  return out;
}

/** True once the server ended `streamId` (END_STREAM or RST_STREAM) in `buf`. */
export function streamEnded(buf: Buffer, streamId: number): boolean {
  return parseFrames(buf).some(
    (f) =>
      f.streamId === streamId &&
      (f.type === FrameType.RST_STREAM ||
        ((f.type === FrameType.HEADERS || f.type === FrameType.DATA) && (f.flags & Flag.END_STREAM) !== 0)),
  );
}
