/**
 * brpc's `internal_port`: a second listener of the server where the builtin pages are
 * served (every protocol is served there too, as in brpc); the main port then refuses
 * builtin pages with 403 `EPERM` (see `builtinAllowed` in registry.ts).
 */
import { unlink } from "node:fs/promises";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import { log } from "../log.js";
import { type Endpoint, formatEndpoint, parseEndpoint } from "../transport/endpoint.js";

/**
 * The address of the internal port: a number is a port on the host of the main address
 * (brpc); a string is an address of its own ("127.0.0.1:9000", "unix:/run/admin.sock").
 */
export function internalEndpoint(option: number | string, main: Endpoint): Endpoint {
  if (typeof option === "number") {
    if (!Number.isInteger(option) || option < 0 || option > 65535) {
      throw new RangeError(`ServerOptions.internalPort must be a port number, got ${option}`);
    }
    if (main.kind !== "tcp") {
      throw new RangeError(
        'ServerOptions.internalPort: give an address ("ip:port") for a server on a unix socket',
      );
    }
    if (option !== 0 && option === main.port) {
      throw new RangeError(`ServerOptions.internalPort=${option} is the same as the server port`);
    }
    return { kind: "tcp", host: main.host, port: option };
  }
  const ep = parseEndpoint(option);
  if (ep.kind === "tcp" && main.kind === "tcp" && ep.port !== 0 && ep.port === main.port) {
    throw new RangeError(`ServerOptions.internalPort=${option} is the same as the server port`);
  }
  if (ep.kind === "unix" && main.kind === "unix" && ep.path === main.path) {
    throw new RangeError(`ServerOptions.internalPort=${option} is the same as the server address`);
  }
  return ep;
}

/** A listening internal port. */
export interface InternalListener {
  readonly net: NetServer;
  /** The bound address (the real port when 0 was asked). */
  readonly endpoint: Endpoint;
}

/** Listen on `ep`, handing accepted sockets to `onSocket`. Rejects with node's error (EADDRINUSE...). */
export async function listenInternal(ep: Endpoint, onSocket: (s: Socket) => void): Promise<InternalListener> {
  const net = createServer({ noDelay: true, pauseOnConnect: false }, onSocket);
  net.on("error", (err) => log.error(`server internal port ${formatEndpoint(ep)}: listener error`, err));
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

/** Stop listening (connections are closed by the server); removes a unix socket file. */
export async function closeInternal(l: InternalListener | undefined): Promise<void> {
  if (l === undefined) return;
  await new Promise<void>((resolve) => l.net.close(() => resolve()));
  if (l.endpoint.kind === "unix") await unlink(l.endpoint.path).catch(() => {});
}
