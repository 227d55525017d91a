/** Opening client connections with a connect timeout and, when configured, a credential. */
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Authenticator } from "../auth.js";
import { ErrorCode, errnoFromNodeError } from "../errors/errno.js";
import { RpcError } from "../errors/rpc-error.js";
import { timers } from "../io/timers.js";
import { clientProtocols, type Protocol } from "../protocol/protocol.js";
import { Connection, type ConnectionOptions, type ConnectionOwner } from "../transport/connection.js";
import { type Endpoint, formatEndpoint } from "../transport/endpoint.js";
import { type ClientTlsOptions, tlsConnectOptions } from "../transport/tls.js";

/** What {@link openConnection} needs. */
export interface ConnectParams {
  endpoint: Endpoint;
  timeoutMs: number;
  owner: ConnectionOwner;
  protocol: Protocol;
  options: ConnectionOptions;
  auth: Authenticator | undefined;
  /** Connect with TLS (handshake included in the connect timeout). */
  tls?: ClientTlsOptions | undefined;
}

/** A TLS failure (not a system error) fails the connect with ESSL. */
function connectErrno(err: Error, tls: boolean): number {
  return tls && typeof (err as { syscall?: unknown }).syscall !== "string"
    ? ErrorCode.ESSL
    : errnoFromNodeError(err);
}

/**
 * Connect to `p.endpoint`. Rejects with ECONNREFUSED / ETIMEDOUT / ... as an RpcError
 * whose text names the address. With an authenticator, the credential is generated
 * before the connection is handed out and is sent with its first request.
 */
export function openConnection(p: ConnectParams): Promise<Connection> {
  const addr = formatEndpoint(p.endpoint);
  return new Promise<Connection>((resolve, reject) => {
    let socket: Socket;
    const tls = p.tls;
    try {
      if (tls !== undefined) {
        const ep = p.endpoint;
        socket = tlsConnect({
          ...tlsConnectOptions(tls, ep.kind === "tcp" ? ep.host : undefined, undefined),
          ...(ep.kind === "unix" ? { path: ep.path } : { host: ep.host, port: ep.port }),
        });
      } else {
        socket =
          p.endpoint.kind === "unix"
            ? netConnect({ path: p.endpoint.path })
            : netConnect({ host: p.endpoint.host, port: p.endpoint.port, noDelay: true });
      }
    } catch (err) {
      reject(new RpcError(ErrorCode.EINVAL, `Fail to connect ${addr}: ${String(err)}`));
      return;
    }
    let settled = false;
    const timer = timers.after(
      Math.max(0, p.timeoutMs),
      () => {
        if (settled) return;
        settled = true;
        socket.destroy();
        reject(new RpcError(ErrorCode.ETIMEDOUT, `Fail to connect ${addr}: Connection timed out`));
      },
      undefined,
    );
    socket.once("error", (err) => {
      if (settled) return;
      settled = true;
      timers.cancel(timer);
      socket.destroy();
      reject(new RpcError(connectErrno(err, tls !== undefined), `Fail to connect ${addr}: ${err.message}`));
    });
    socket.once(tls !== undefined ? "secureConnect" : "connect", () => {
      if (settled) return;
      settled = true;
      timers.cancel(timer);
      socket.removeAllListeners("error");
      const options = p.endpoint.kind === "unix" ? { ...p.options, unixPath: p.endpoint.path } : p.options;
      const conn = new Connection(socket, "client", p.owner, clientProtocols(p.protocol), options);
      const gen = p.auth?.generateCredential;
      if (gen === undefined) {
        resolve(conn);
        return;
      }
      Promise.resolve()
        .then(() => gen.call(p.auth))
        .then(
          (cred) => {
            conn.state.credential = typeof cred === "string" ? Buffer.from(cred, "utf8") : cred;
            resolve(conn);
          },
          (err: unknown) => {
            conn.fail(ErrorCode.EREQUEST, "Fail to generate credential");
            reject(new RpcError(ErrorCode.EREQUEST, `Fail to generate credential: ${String(err)}`));
          },
        );
    });
  });
}
