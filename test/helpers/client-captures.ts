/**
 * Reading the HTTP/1.1 and h2 captures of brpc's client (http_pb_*, h2_grpc_*) so a test
 * server can answer our client with brpc's recorded responses: HTTP/1.1 message
 * splitting, h2 frame splitting and a small HPACK decoder (static + dynamic table,
 * no Huffman, which brpc's encoder does not use).
 */
import { type Capture, stream } from "./captures.js";

/** One HTTP/1.1 message cut from a byte stream. */
export interface Http1Message {
  startLine: string;
  /** Header lines in order, as sent. */
  headers: [string, string][];
  body: Buffer;
  raw: Buffer;
}

/** Split a byte stream of HTTP/1.1 messages with Content-Length bodies. */
export function splitHttp1(buf: Buffer): Http1Message[] {
  const out: Http1Message[] = [];
  let off = 0;
  while (off < buf.length) {
    const end = buf.indexOf("\r\n\r\n", off, "latin1");
    if (end < 0) throw new Error("incomplete HTTP head in capture");
    const lines = buf.toString("latin1", off, end).split("\r\n");
    const startLine = lines.shift() as string;
    const headers = lines.map((l): [string, string] => {
      const i = l.indexOf(":");
      return [l.slice(0, i), l.slice(i + 1).trim()];
    });
    const cl = Number(headers.find(([k]) => k.toLowerCase() === "content-length")?.[1] ?? "0");
    const bodyStart = end + 4;
    out.push({
      startLine,
      headers,
      body: buf.subarray(bodyStart, bodyStart + cl),
      raw: buf.subarray(off, bodyStart + cl),
    });
    off = bodyStart + cl;
  }
  return out;
}

/** brpc's HTTP/1.1 exchanges of a capture: requests (c2s) and responses (s2c), in order. */
export function http1Exchanges(c: Capture): { requests: Http1Message[]; responses: Http1Message[] } {
  return { requests: splitHttp1(stream(c, 0, "c2s")), responses: splitHttp1(stream(c, 0, "s2c")) };
}

/** One h2 frame. */
export interface H2Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/** Split an h2 byte stream (client side: after the preface) into frames. */
export function splitH2(buf: Buffer): H2Frame[] {
  let off = buf.toString("latin1", 0, PREFACE.length) === PREFACE ? PREFACE.length : 0;
  const out: H2Frame[] = [];
  while (off < buf.length) {
    const len = buf.readUIntBE(off, 3);
    out.push({
      type: buf[off + 3] as number,
      flags: buf[off + 4] as number,
      streamId: buf.readUInt32BE(off + 5) & 0x7fffffff,
      payload: buf.subarray(off + 9, off + 9 + len),
    });
    off += 9 + len;
  }
  return out;
}

const STATIC_TABLE: [string, string][] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

/** HPACK decoder of one direction of a connection (RFC 7541, without Huffman strings). */
export class HpackDecoder {
  #dynamic: [string, string][] = [];

  #entry(index: number): [string, string] {
    const e = index <= 61 ? STATIC_TABLE[index - 1] : this.#dynamic[index - 62];
    if (e === undefined) throw new Error(`HPACK index ${index} out of range`);
    return e;
  }

  decode(block: Buffer): [string, string][] {
    const out: [string, string][] = [];
    let off = 0;
    const int = (prefixBits: number): number => {
      const max = (1 << prefixBits) - 1;
      let v = (block[off++] as number) & max;
      if (v < max) return v;
      let m = 0;
      for (;;) {
        const b = block[off++] as number;
        v += (b & 0x7f) << m;
        m += 7;
        if ((b & 0x80) === 0) return v;
      }
    };
    const str = (): string => {
      if (((block[off] as number) & 0x80) !== 0) throw new Error("Huffman-coded string in capture");
      const len = int(7);
      const s = block.toString("latin1", off, off + len);
      off += len;
      return s;
    };
    while (off < block.length) {
      const b = block[off] as number;
      if (b & 0x80) {
        out.push(this.#entry(int(7)));
      } else if ((b & 0xc0) === 0x40) {
        const idx = int(6);
        const name = idx === 0 ? str() : this.#entry(idx)[0];
        const e: [string, string] = [name, str()];
        this.#dynamic.unshift(e);
        out.push(e);
      } else if ((b & 0xe0) === 0x20) {
        int(5); // dynamic table size update: our tables never overflow 4096 here.
      } else {
        const idx = int(4);
        const name = idx === 0 ? str() : this.#entry(idx)[0];
        out.push([name, str()]);
      }
    }
    return out;
  }
}

/** One h2 request/response exchange of a capture. */
export interface H2Exchange {
  streamId: number;
  requestHeaders: [string, string][];
  requestData: Buffer;
  responseHeaders: [string, string][];
  responseData: Buffer;
  responseTrailers: [string, string][];
}

/** brpc's h2 exchanges of a capture, by stream id. */
export function h2Exchanges(c: Capture): H2Exchange[] {
  const byId = new Map<number, H2Exchange>();
  const get = (id: number) => {
    let e = byId.get(id);
    if (e === undefined) {
      e = {
        streamId: id,
        requestHeaders: [],
        requestData: Buffer.alloc(0),
        responseHeaders: [],
        responseData: Buffer.alloc(0),
        responseTrailers: [],
      };
      byId.set(id, e);
    }
    return e;
  };
  for (const dir of ["c2s", "s2c"] as const) {
    const hpack = new HpackDecoder();
    for (const f of splitH2(stream(c, 0, dir))) {
      if (f.streamId === 0) continue;
      const e = get(f.streamId);
      if (f.type === 1) {
        let p = f.payload;
        if (f.flags & 0x8) p = p.subarray(1, p.length - (p[0] as number));
        if (f.flags & 0x20) p = p.subarray(5);
        const h = hpack.decode(p);
        if (dir === "c2s") e.requestHeaders.push(...h);
        else if (e.responseHeaders.length === 0) e.responseHeaders = h;
        else e.responseTrailers = h;
      } else if (f.type === 0) {
        if (dir === "c2s") e.requestData = Buffer.concat([e.requestData, f.payload]);
        else e.responseData = Buffer.concat([e.responseData, f.payload]);
      }
    }
  }
  return [...byId.values()].sort((a, b) => a.streamId - b.streamId);
}
