/**
 * Raw peers for the client tests: a node:http2 (h2c) server and a node:http server whose
 * answers each test scripts, recording every request (headers and whole body).
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import {
  createServer as createH2Server,
  type Http2Server,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import type { AddressInfo, Socket } from "node:net";

/** A request a raw h2 server received. */
export interface H2Request {
  headers: IncomingHttpHeaders;
  body: Buffer;
  stream: ServerHttp2Stream;
}

/** A running raw h2 server. */
export interface H2Peer {
  server: Http2Server;
  port: number;
  address: string;
  requests: H2Request[];
  /** Replace the handler. */
  handle(h: (r: H2Request) => void): void;
  close(): Promise<void>;
}

/** Start an h2c server on 127.0.0.1:0 answering with `handler` once a request's body ended. */
export async function startH2Peer(handler: (r: H2Request) => void = () => {}): Promise<H2Peer> {
  let h = handler;
  const requests: H2Request[] = [];
  const server = createH2Server();
  const sessions = new Set<import("node:http2").ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
    s.on("error", () => {});
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    const chunks: Buffer[] = [];
    stream.on("data", (d: Buffer) => chunks.push(d));
    stream.on("end", () => {
      const r = { headers, body: Buffer.concat(chunks), stream };
      requests.push(r);
      h(r);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    address: `127.0.0.1:${port}`,
    requests,
    handle(next) {
      h = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A gRPC frame: 1-byte compressed flag, uint32 BE length, payload. */
export function grpcFrame(payload: Uint8Array, compressed = false): Buffer {
  const out = Buffer.alloc(5 + payload.length);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, 5);
  return out;
}

/** Split a request body into its gRPC messages. */
export function grpcMessages(body: Buffer): { compressed: boolean; data: Buffer }[] {
  const out: { compressed: boolean; data: Buffer }[] = [];
  let off = 0;
  while (off + 5 <= body.length) {
    const len = body.readUInt32BE(off + 1);
    out.push({ compressed: body[off] === 1, data: body.subarray(off + 5, off + 5 + len) });
    off += 5 + len;
  }
  if (off !== body.length) throw new Error("trailing bytes after the gRPC messages");
  return out;
}

/** Answer a gRPC request: headers, DATA (`body`), then trailers. */
export function grpcRespond(
  stream: ServerHttp2Stream,
  body: Buffer,
  trailers: OutgoingHttpHeaders,
  headers: OutgoingHttpHeaders = {},
): void {
  stream.respond(
    { ":status": 200, "content-type": "application/grpc", ...headers },
    { waitForTrailers: true },
  );
  stream.on("wantTrailers", () => stream.sendTrailers(trailers));
  stream.end(body);
}

/** A request a raw HTTP/1.1 server received. */
export interface HttpRequestSeen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  rawHeaders: string[];
  body: Buffer;
  res: ServerResponse;
  socket: Socket;
}

/** A running raw HTTP/1.1 server. */
export interface HttpPeer {
  server: Server;
  port: number;
  address: string;
  requests: HttpRequestSeen[];
  /** Sockets accepted so far. */
  connections: number;
  /** Requests whose connection closed before the response ended. */
  aborted: number;
  handle(h: (r: HttpRequestSeen) => void): void;
  close(): Promise<void>;
}

/** Start an HTTP/1.1 server on 127.0.0.1:0 answering with `handler` once a request's body ended. */
export async function startHttpPeer(handler: (r: HttpRequestSeen) => void = () => {}): Promise<HttpPeer> {
  let h = handler;
  const requests: HttpRequestSeen[] = [];
  const sockets = new Set<Socket>();
  const server = createHttpServer();
  const peer: HttpPeer = {
    server,
    port: 0,
    address: "",
    requests,
    connections: 0,
    aborted: 0,
    handle(next) {
      h = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  server.on("connection", (s: Socket) => {
    peer.connections++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (d: Buffer) => chunks.push(d));
    res.on("close", () => {
      if (!res.writableFinished) peer.aborted++;
    });
    req.on("end", () => {
      const r = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks),
        res,
        socket: req.socket,
      };
      requests.push(r);
      h(r);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  peer.port = (server.address() as AddressInfo).port;
  peer.address = `127.0.0.1:${peer.port}`;
  return peer;
}
