/** In-process servers for tests. */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { EchoService } from "../../examples/gen/peer_pb.js";
import { peerService } from "../../examples/interop/peer-service.js";
import { RpcError, Server, type ServerOptions } from "../../src/index.js";

/** Start a server with the interop EchoService on 127.0.0.1:0. */
export async function startEchoServer(options: ServerOptions = {}): Promise<Server> {
  const server = new Server(options);
  server.addService(EchoService, peerService);
  await server.start("127.0.0.1:0");
  return server;
}

/** Poll `pred` until it holds or `ms` pass. */
export async function eventually(pred: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

/** Settle `p` to { ok, value | error } without throwing. */
/** The RpcError `p` rejects with (the assertion fails if it resolves or rejects with something else). */
export async function failure(p: Promise<unknown>): Promise<RpcError> {
  const r = await settle(p);
  assert.equal(r.ok, false, "call should fail");
  const e = (r as { error: unknown }).error;
  assert.ok(e instanceof RpcError, String(e));
  return e;
}

export async function settle<T>(
  p: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}
