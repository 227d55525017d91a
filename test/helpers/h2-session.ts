/** Helpers for the h2 session tests: sessions over sockets and in memory, an echo app, frame decoding. */
import type { Socket } from "node:net";
import { Writer } from "../../src/io/writer.js";
import type { H2Error } from "../../src/protocol/h2/frame.js";
import {
  CLIENT_PREFACE,
  FRAME_HEADER_SIZE,
  FrameHeader,
  readFrameHeader,
  writeFrameHeader,
  writeSettings,
} from "../../src/protocol/h2/frame.js";
import { HpackEncoder } from "../../src/protocol/h2/hpack.js";
import { type H2Handler, H2Session, type H2SessionOptions } from "../../src/protocol/h2/session.js";

/** Headers list -> object (last value wins). */
export function obj(flat: readonly string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) o[flat[i]!] = flat[i + 1]!;
  return o;
}

/** Run an H2Session over a socket: socket bytes -> receive(), write() -> socket (one cork per batch). */
export function attach(
  socket: Socket,
  role: "server" | "client",
  handler: H2Handler,
  opts: Partial<H2SessionOptions> = {},
): H2Session {
  const s = new H2Session({
    ...opts,
    role,
    handler,
    write: (bufs) => {
      if (socket.destroyed) return;
      if (bufs.length === 1) socket.write(bufs[0]!);
      else {
        socket.cork();
        for (const b of bufs) socket.write(b);
        socket.uncork();
      }
    },
  });
  socket.on("data", (b: Buffer) => s.receive(b));
  socket.on("close", () => s.close());
  socket.on("error", () => {});
  s.start();
  return s;
}

/** One length-prefixed gRPC message. */
export function lpm(payload: Buffer): Buffer {
  const b = Buffer.alloc(5 + payload.length);
  b.writeUInt32BE(payload.length, 1);
  payload.copy(b, 5);
  return b;
}

/**
 * Server-side app on an H2Session:
 * - `/echo`: streams the request body back (backpressure: request bytes are consumed only
 *   once their echo left our queue), then trailers `x-trailer: yes` (and grpc-status 0).
 * - `/slow`: never answers (for client resets).
 * - `/grpc.Echo/Echo` (content-type application/grpc): echoes the message; `/grpc.Echo/Fail`: trailers-only status 5.
 * - `/big?n=<bytes>`: a response body of n bytes.
 */
export class EchoServerApp implements H2Handler {
  session!: H2Session;
  readonly resets: [number, number][] = [];
  readonly goaways: [number, number, string][] = [];
  readonly errors: H2Error[] = [];
  readonly requests: Record<string, string>[] = [];
  readonly #paths = new Map<number, string>();
  readonly #held = new Map<number, number>();
  readonly #bodies = new Map<number, Buffer[]>();
  onClose?: () => void;

  onHeaders(id: number, headers: string[], endStream: boolean): void {
    if (this.#paths.has(id)) {
      // Request trailers.
      if (endStream) this.#end(id);
      return;
    }
    const h = obj(headers);
    this.requests.push(h);
    const path = h[":path"] ?? "/";
    this.#paths.set(id, path);
    if (path === "/slow") return;
    if (path.startsWith("/grpc.")) {
      this.#bodies.set(id, []);
      if (endStream) this.#end(id);
      return;
    }
    if (path.startsWith("/big")) {
      const n = Number(new URL(path, "http://x").searchParams.get("n") ?? "0");
      this.session.respond(id, [":status", "200", "content-type", "application/octet-stream"], false);
      const body = Buffer.alloc(n);
      for (let i = 0; i < n; i++) body[i] = i & 0xff;
      this.session.sendData(id, body, false);
      this.session.sendTrailers(id, ["x-trailer", "yes"]);
      return;
    }
    this.session.respond(
      id,
      [":status", "200", "content-type", "application/octet-stream", "x-path", path],
      false,
    );
    if (endStream) this.#end(id);
  }

  onData(id: number, data: Buffer, endStream: boolean): void {
    const path = this.#paths.get(id);
    if (path?.startsWith("/grpc.")) {
      this.#bodies.get(id)?.push(Buffer.from(data));
      this.session.consumed(id, data.length);
    } else if (path === "/slow") {
      this.session.consumed(id, data.length);
    } else if (data.length > 0) {
      this.session.sendData(id, Buffer.from(data), false);
      if (this.session.queuedBytes(id) === 0) this.session.consumed(id, data.length);
      else this.#held.set(id, (this.#held.get(id) ?? 0) + data.length);
    }
    if (endStream) this.#end(id);
  }

  onDrain(id: number): void {
    const n = this.#held.get(id);
    if (n !== undefined) {
      this.#held.delete(id);
      this.session.consumed(id, n);
    }
  }

  #end(id: number): void {
    const path = this.#paths.get(id) ?? "";
    if (path === "/slow") return;
    if (path.startsWith("/grpc.")) {
      const body = Buffer.concat(this.#bodies.get(id) ?? []);
      if (path === "/grpc.Echo/Fail") {
        this.session.respond(
          id,
          [":status", "200", "content-type", "application/grpc", "grpc-status", "5", "grpc-message", "nope"],
          true,
        );
        return;
      }
      this.session.respond(id, [":status", "200", "content-type", "application/grpc"], false);
      this.session.sendData(id, lpm(body.subarray(5)), false);
      this.session.sendTrailers(id, ["grpc-status", "0", "grpc-message", ""]);
      return;
    }
    this.session.sendTrailers(id, ["x-trailer", "yes", "grpc-status", "0"]);
  }

  onReset(id: number, code: number): void {
    this.resets.push([id, code]);
  }
  onGoaway(last: number, code: number, debug: Buffer): void {
    this.goaways.push([last, code, debug.toString()]);
  }
  onError(err: H2Error): void {
    this.errors.push(err);
  }
  onStreamClose(id: number): void {
    this.#paths.delete(id);
    this.#held.delete(id);
    this.#bodies.delete(id);
  }
}

/** What came back on a client stream. */
export interface ClientResult {
  headers: Record<string, string>;
  body: Buffer;
  trailers: Record<string, string> | undefined;
  reset: number | undefined;
}

interface Pending {
  result: ClientResult;
  chunks: Buffer[];
  resolve: (r: ClientResult) => void;
  consume: boolean;
  unconsumed: number;
}

/** Client-side app: `request()` resolves with the response; bytes consumed at once unless `consume` is false. */
export class ClientApp implements H2Handler {
  session!: H2Session;
  readonly goaways: [number, number, string][] = [];
  readonly errors: H2Error[] = [];
  readonly #pending = new Map<number, Pending>();
  /** Bytes received on streams that are not auto-consumed. */
  received = 0;

  request(headers: string[], body?: Buffer, consume = true): { id: number; done: Promise<ClientResult> } {
    const end = body === undefined;
    const id = this.session.request(headers, end);
    if (body !== undefined) this.session.sendData(id, body, true);
    let resolve!: (r: ClientResult) => void;
    const done = new Promise<ClientResult>((r) => {
      resolve = r;
    });
    this.#pending.set(id, {
      result: { headers: {}, body: Buffer.alloc(0), trailers: undefined, reset: undefined },
      chunks: [],
      resolve,
      consume,
      unconsumed: 0,
    });
    return { id, done };
  }

  onHeaders(id: number, headers: string[], endStream: boolean): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    if (Object.keys(p.result.headers).length === 0) p.result.headers = obj(headers);
    else p.result.trailers = obj(headers);
    if (endStream) this.#finish(id, p);
  }
  onData(id: number, data: Buffer, endStream: boolean): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    p.chunks.push(Buffer.from(data));
    this.received += data.length;
    if (p.consume) this.session.consumed(id, data.length);
    else p.unconsumed += data.length;
    if (endStream) this.#finish(id, p);
  }
  /** Start consuming a stream opened with `consume` false (acknowledging what it holds). */
  resume(id: number): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    p.consume = true;
    this.session.consumed(id, p.unconsumed);
    p.unconsumed = 0;
  }
  #finish(id: number, p: Pending): void {
    this.#pending.delete(id);
    p.result.body = Buffer.concat(p.chunks);
    p.resolve(p.result);
  }
  onReset(id: number, code: number): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    p.result.reset = code;
    this.#finish(id, p);
  }
  onGoaway(last: number, code: number, debug: Buffer): void {
    this.goaways.push([last, code, debug.toString()]);
  }
  onError(err: H2Error): void {
    this.errors.push(err);
  }
}

/** A decoded frame of captured output. */
export interface RawFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** Split captured bytes into frames (skips a leading client preface). */
export function parseFrames(bytes: Buffer): RawFrame[] {
  let off = bytes.subarray(0, CLIENT_PREFACE.length).equals(CLIENT_PREFACE) ? CLIENT_PREFACE.length : 0;
  const h = new FrameHeader();
  const out: RawFrame[] = [];
  while (readFrameHeader(bytes, off, bytes.length, h)) {
    const end = off + FRAME_HEADER_SIZE + h.length;
    if (end > bytes.length) break;
    out.push({
      type: h.type,
      flags: h.flags,
      streamId: h.streamId,
      payload: bytes.subarray(off + FRAME_HEADER_SIZE, end),
    });
    off = end;
  }
  return out;
}

/** A session whose output is captured, for feeding crafted bytes. */
export function captured(
  role: "server" | "client",
  handler: H2Handler,
  opts: Partial<H2SessionOptions> = {},
): { session: H2Session; out: () => Buffer; frames: () => RawFrame[] } {
  const chunks: Buffer[] = [];
  const session = new H2Session({ ...opts, role, handler, write: (bufs) => chunks.push(...bufs) });
  session.start();
  session.flush();
  const out = (): Buffer => {
    session.flush();
    const b = Buffer.concat(chunks);
    chunks.length = 0;
    return b;
  };
  return { session, out, frames: () => parseFrames(out()) };
}

/** Bytes builder for crafted input. */
export class Bytes {
  readonly w = new Writer(1024);
  readonly enc = new HpackEncoder();
  preface(): this {
    this.w.raw(CLIENT_PREFACE);
    return this;
  }
  settings(s: number[] = []): this {
    writeSettings(this.w, s);
    return this;
  }
  frame(
    type: number,
    flags: number,
    streamId: number,
    payload: Uint8Array = Buffer.alloc(0),
    length?: number,
  ): this {
    writeFrameHeader(this.w, length ?? payload.length, type, flags, streamId);
    this.w.raw(payload);
    return this;
  }
  /** HEADERS with END_HEADERS (flags added). */
  headers(streamId: number, headers: string[], endStream: boolean, extraFlags = 0): this {
    const bw = new Writer(256);
    this.enc.encode(headers, bw);
    return this.frame(1, 0x4 | (endStream ? 1 : 0) | extraFlags, streamId, bw.take());
  }
  take(): Buffer {
    return Buffer.from(this.w.take());
  }
}

/** A GET-ish request header list for crafted input. */
export const REQ = [":method", "POST", ":scheme", "http", ":path", "/echo", ":authority", "x"];

/** A client-role and a server-role session wired together in memory; `pump()` delivers until quiet. */
export function memoryPair(
  clientHandler: H2Handler,
  serverHandler: H2Handler,
  clientOpts: Partial<H2SessionOptions> = {},
  serverOpts: Partial<H2SessionOptions> = {},
): { client: H2Session; server: H2Session; pump: () => void; toClient: Buffer[]; toServer: Buffer[] } {
  const toServer: Buffer[] = [];
  const toClient: Buffer[] = [];
  const server = new H2Session({
    ...serverOpts,
    role: "server",
    handler: serverHandler,
    write: (b) => toClient.push(...b),
  });
  const client = new H2Session({
    ...clientOpts,
    role: "client",
    handler: clientHandler,
    write: (b) => toServer.push(...b),
  });
  const pump = (): void => {
    for (let i = 0; i < 100_000; i++) {
      client.flush();
      server.flush();
      if (toServer.length === 0 && toClient.length === 0) return;
      while (toServer.length > 0) server.receive(toServer.shift()!);
      while (toClient.length > 0) client.receive(toClient.shift()!);
    }
    throw new Error("pump: no quiescence");
  };
  server.start();
  client.start();
  pump();
  return { client, server, pump, toClient, toServer };
}
