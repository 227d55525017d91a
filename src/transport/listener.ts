/** A listening socket of a server (its port, or an internal port): open and close. */
import { unlink } from "node:fs/promises";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import { log } from "../log.js";
import { type Endpoint, formatEndpoint } from "./endpoint.js";

/** A listening socket. */
export interface Listener {
  readonly net: NetServer;
  /** The bound address (the real port when 0 was asked). */
  readonly endpoint: Endpoint;
}

/**
 * Listen on `ep`, handing accepted sockets to `onSocket`; `what` names it in logs ("server",
 * "server internal port"). Rejects with node's error (EADDRINUSE...).
 */
export async function listen(ep: Endpoint, onSocket: (s: Socket) => void, what: string): Promise<Listener> {
  const net = createServer({ noDelay: true, pauseOnConnect: false }, onSocket);
  net.on("error", (err) => log.error(`${what} ${formatEndpoint(ep)}: listener error`, err));
  await new Promise<void>((resolve, reject) => {
    net.once("error", reject);
    const done = () => {
      net.off("error", reject);
      resolve();
    };
    if (ep.kind === "unix") net.listen({ path: ep.path }, done);
    else net.listen({ host: ep.host, port: ep.port }, done);
  });
  const a = net.address();
  const endpoint: Endpoint =
    ep.kind === "tcp" && a !== null && typeof a === "object" ? { ...ep, port: a.port } : ep;
  return { net, endpoint };
}

/** Stop listening (accepted connections stay); removes a unix socket file. */
export async function closeListener(l: Listener | undefined): Promise<void> {
  if (l === undefined) return;
  await new Promise<void>((resolve) => l.net.close(() => resolve()));
  if (l.endpoint.kind === "unix") await unlink(l.endpoint.path).catch(() => {});
}
