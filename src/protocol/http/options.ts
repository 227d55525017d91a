/**
 * Limits and timeouts of the HTTP/1.1 and h2 side of a server port. The body size
 * limit is the server's `maxBodySize` and keep-alive follows its `idleTimeoutSec`;
 * the rest is `ServerOptions.http`.
 */
import type { Server } from "../../server/server.js";

/** HTTP-specific options of a {@link Server}. */
export interface HttpServerOptions {
  /**
   * Close an HTTP/1.x connection whose request headers are not complete this long (ms)
   * after the request started: the slowloris guard (answered with 408, then closed).
   * Default 30000; 0 = off.
   */
  headerTimeoutMs?: number;
  /** Close an HTTP/1.x connection whose whole request (headers and body) takes longer (ms). Default 300000; 0 = off. */
  requestTimeoutMs?: number;
  /** Largest request head (request line + headers), in bytes; larger ones get 431. Default 65536. */
  maxHeaderSize?: number;
  /** h2: SETTINGS_MAX_CONCURRENT_STREAMS announced to clients. Default unlimited (brpc's default). */
  h2MaxConcurrentStreams?: number;
  /** h2: stream flow-control window (SETTINGS_INITIAL_WINDOW_SIZE). Default 256 KiB (brpc's). */
  h2StreamWindowSize?: number;
  /** h2: connection flow-control window. Default 1 MiB (brpc's). */
  h2ConnectionWindowSize?: number;
  /**
   * The h2 implementation serving h2c (prior knowledge) and TLS+ALPN h2 connections:
   * "builtin" (brpc-ts's own HTTP/2 engine, src/protocol/h2, several times faster for
   * gRPC) or "node" (node:http2 / nghttp2). Default "builtin".
   */
  h2Engine?: "builtin" | "node";
}

/** Options with defaults applied. */
export type ResolvedHttpOptions = Required<HttpServerOptions>;

const DEFAULTS: ResolvedHttpOptions = {
  headerTimeoutMs: 30_000,
  requestTimeoutMs: 300_000,
  maxHeaderSize: 64 * 1024,
  h2MaxConcurrentStreams: 0,
  h2StreamWindowSize: 256 * 1024,
  h2ConnectionWindowSize: 1024 * 1024,
  // BRPC_TS_H2_ENGINE=node switches the default (to run a test suite against both engines).
  h2Engine: process.env.BRPC_TS_H2_ENGINE === "node" ? "node" : "builtin",
};

const perServer = new WeakMap<Server, ResolvedHttpOptions>();
const listeners = new WeakMap<Server, () => void>();

/**
 * Set the HTTP options of `server` (what `new Server({ http })` does). Takes effect for
 * connections accepted afterwards. @internal
 */
export function setHttpServerOptions(server: Server, options: HttpServerOptions): void {
  const o: ResolvedHttpOptions = { ...DEFAULTS };
  const { h2Engine, ...numeric } = options;
  if (h2Engine !== undefined) {
    if (h2Engine !== "builtin" && h2Engine !== "node")
      throw new RangeError(`http option h2Engine must be "builtin" or "node", got ${String(h2Engine)}`);
    o.h2Engine = h2Engine;
  }
  for (const [k, v] of Object.entries(numeric) as [
    Exclude<keyof HttpServerOptions, "h2Engine">,
    number | undefined,
  ][]) {
    if (v === undefined) continue;
    if (!Number.isFinite(v) || v < 0)
      throw new RangeError(`http option ${k} must be a number >= 0, got ${v}`);
    o[k] = v;
  }
  if (o.requestTimeoutMs > 0 && o.headerTimeoutMs > o.requestTimeoutMs) {
    throw new RangeError("headerTimeoutMs must not exceed requestTimeoutMs");
  }
  perServer.set(server, o);
  listeners.get(server)?.();
}

/** The HTTP options of `server`. @internal */
export function httpOptionsOf(server: Server): ResolvedHttpOptions {
  return perServer.get(server) ?? DEFAULTS;
}

/** Call `fn` when the options of `server` change. @internal */
export function onHttpOptionsChange(server: Server, fn: () => void): void {
  listeners.set(server, fn);
}
