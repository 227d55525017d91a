/**
 * The protocol plug-in interface, after brpc's `protocol.h`.
 *
 * How to add a protocol:
 *  1. Implement {@link Protocol} in its own module under `src/protocol/<name>/`.
 *  2. Give it `parse` (frame boundaries) plus `processRequest` to serve it and/or
 *     `processResponse` to use it from a Channel.
 *  3. Register it in `registerBuiltins()` (src/global.ts) with {@link registerProtocol}.
 *     Server ports try protocols in registration order, the connection's last winner first.
 */

import type { ClientCall } from "../client/call.js";
import { Registry } from "../registry.js";
import type { Connection } from "../transport/connection.js";

/** `parse` results other than a frame length. */
export const ParseError = {
  /** The bytes so far are a valid prefix; wait for more. */
  NOT_ENOUGH_DATA: -1,
  /** Not this protocol; try the next one. */
  TRY_OTHERS: -2,
  /** The frame is larger than the connection allows: close it. */
  TOO_BIG: -3,
  /** Recognised, but irrecoverably malformed: close the connection. */
  ABSOLUTELY_WRONG: -4,
  /**
   * Recognised a byte-stream protocol (HTTP/1.x, h2, TLS) that takes the whole
   * connection from here: the messenger hands the socket to `takeOver`.
   */
  TAKE_OVER: -5,
} as const;

/** A protocol spoken on brpc-ts connections. */
export interface Protocol {
  /** Registry name, e.g. "baidu_std". */
  readonly name: string;
  /**
   * Look at the unread bytes `buf[off, end)` of `conn`. Returns the total length of
   * the frame at `off` (> 0) once its header is recognised, even if the rest has not
   * arrived yet, or a {@link ParseError} value. Must not consume or keep `buf`.
   */
  parse(buf: Buffer, off: number, end: number, conn: Connection): number;
  /** [Server] Handle one complete frame `buf[off, off+len)` received on a server connection. */
  processRequest?(buf: Buffer, off: number, len: number, conn: Connection): void;
  /**
   * [Server] After `parse` returned TAKE_OVER: the connection stopped reading and gives
   * `socket` to this protocol, with `head` (the bytes read but not consumed) pushed back
   * into it. The socket is paused; the protocol resumes it as its parser needs.
   */
  takeOver?(conn: Connection, head: Buffer): void;
  /** [Client] Handle one complete frame `buf[off, off+len)` received on a client connection. */
  processResponse?(buf: Buffer, off: number, len: number, conn: Connection): void;
  /**
   * [Client] Encode the request of `call` into `conn.writer` (the caller flushes).
   * Throws on serialization errors, which fail the call with EREQUEST.
   */
  packRequest?(conn: Connection, call: ClientCall): void;
  /**
   * [Client] Stream-oriented client protocols (HTTP/1.1, h2, gRPC) that run each attempt
   * on their own transport (node:http, node:http2) instead of a connection source +
   * `packRequest`: start the current attempt of `call`. The attempt sets `call.attempt`
   * (ended when the attempt or the call ends, e.g. on timeout or cancellation) and
   * finishes through `call.complete()` / `call.fail()` / `call.onAttemptFailed()`.
   */
  startAttempt?(call: ClientCall): void;
  /**
   * [Client] A response that arrived wrapped in a stream's first message (baidu_std
   * with streaming RPC): a whole frame of this protocol.
   */
  processStreamedResponse?(frame: Buffer, conn: Connection): void;
  /**
   * [Client] Other protocols whose frames arrive on this protocol's client connections
   * (baidu_std: streaming_rpc), tried when a frame is not this protocol's.
   */
  readonly companions?: readonly string[];
}

/** All protocols by name. */
export const protocols = new Registry<Protocol>("protocol");

/** Register a protocol (see the recipe at the top of this module). */
export function registerProtocol(p: Protocol): void {
  protocols.register(p.name, p);
}

/** The protocols a client connection of `p` parses: `p` first, then its companions. */
export function clientProtocols(p: Protocol): Protocol[] {
  return [p, ...(p.companions ?? []).map((name) => protocols.get(name))];
}

/** Protocols a server port detects, in trial order. */
export function serverProtocols(): Protocol[] {
  return protocols.list().filter((p) => p.processRequest !== undefined);
}
