/**
 * "http-brpc-ts-async" (information): "http-brpc-ts" with an `async` handler, the usual
 * style of an RPC handler; the difference to "http-brpc-ts" is the promise of the handler.
 */
import type { LoadContext } from "../lib/system.js";
import { serveEcho, load as syncLoad } from "./http-brpc-ts.js";

/** Start the echo server (async handler) on 127.0.0.1; resolves with its port. */
export function serve(): Promise<number> {
  return serveEcho(true);
}

/** Keep `ctx.inflight` JSON echo requests in flight until `ctx.active` is false. */
export function load(port: number, ctx: LoadContext): Promise<void> {
  return syncLoad(port, ctx);
}
