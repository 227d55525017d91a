/**
 * TLS settings of servers and channels (brpc's `ServerSSLOptions` / `ChannelSSLOptions`)
 * and what a server call can learn about its TLS connection. A server detects TLS on the
 * same port as its plain protocols (see src/protocol/tls); channels connect with TLS when
 * `ChannelOptions.tls` is set.
 */
import {
  type DetailedPeerCertificate,
  type ConnectionOptions as NodeTlsConnectOptions,
  type SecureContextOptions,
  TLSSocket,
  type TlsOptions,
  type Server as TlsServer,
  createServer as tlsCreateServer,
} from "node:tls";
import type { Connection } from "./connection.js";

/** ALPN protocols a server offers by default, in preference order. */
export const DEFAULT_SERVER_ALPN: readonly string[] = ["h2", "http/1.1"];
/** Default of {@link ServerTlsOptions.handshakeTimeoutMs}. */
export const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * TLS on a server port (brpc `ServerOptions.ssl_options`). Any `tls.SecureContextOptions`
 * is passed through to Node (`cert`, `key`, `ca`, `ciphers`, `minVersion`, `pfx`, ...).
 * Plain connections keep working on the same port.
 */
export interface ServerTlsOptions extends SecureContextOptions {
  /**
   * Mutual TLS (brpc `ssl_options.verify.verify_depth > 0`): ask every client for a
   * certificate and refuse the connection when it sends none or one that does not verify
   * against `ca`. Default false.
   */
  verifyClient?: boolean;
  /** Ask clients for a certificate (Node `requestCert`); default `verifyClient`. */
  requestCert?: boolean;
  /**
   * With `requestCert`: refuse clients without a valid certificate (Node
   * `rejectUnauthorized`, default true). Set false to accept them anyway and look at
   * `ctx.tls.authorized` in handlers.
   */
  rejectUnauthorized?: boolean;
  /** ALPN protocols offered, in preference order (brpc `ssl_options.alpns`); default ["h2", "http/1.1"]. */
  alpnProtocols?: string[];
  /** Close connections whose handshake has not finished after this many ms (default 10000; 0 = never). */
  handshakeTimeoutMs?: number;
  /** Choose the certificate by the client's SNI name (Node `SNICallback`, brpc `sni_filters`). */
  SNICallback?: TlsOptions["SNICallback"];
}

/**
 * TLS of a channel (brpc `ChannelOptions.mutable_ssl_options()`, `ChannelSSLOptions`).
 * Any `tls.SecureContextOptions` is passed through (`ca`, `cert`/`key` for mutual TLS,
 * `ciphers`, `minVersion`, ...).
 */
export interface ClientTlsOptions extends SecureContextOptions {
  /** SNI host name sent to the server and checked against its certificate (brpc `sni_name`); default the host of the address unless it is an IP. */
  sniName?: string;
  /**
   * Verify the server's certificate chain and name (default true, as Node and gRPC do).
   * brpc's default `verify.verify_depth = 0` does not verify: set false to match it.
   */
  rejectUnauthorized?: boolean;
  /** Replace the host name check (Node `checkServerIdentity`). */
  checkServerIdentity?: NodeTlsConnectOptions["checkServerIdentity"];
  /**
   * ALPN protocols offered (brpc `alpn_protocols`). Default by protocol: "h2" for h2 and
   * h2:grpc, "http/1.1" for http, none for baidu_std (the server then detects the protocol).
   */
  alpnProtocols?: string[];
  /** A session to resume (Node `session`). */
  session?: Buffer;
}

/** What a server call knows about its TLS connection (`ServerContext.tls`). */
export interface TlsInfo {
  /** Negotiated version: "TLSv1.3", "TLSv1.2" ... */
  readonly protocol: string;
  /** Negotiated cipher (OpenSSL name), e.g. "TLS_AES_256_GCM_SHA384". */
  readonly cipher: string;
  /** ALPN protocol agreed on ("h2", "http/1.1"), or undefined when the client offered none (baidu_std ...). */
  readonly alpnProtocol: string | undefined;
  /** SNI host name the client sent, if any. */
  readonly serverName: string | undefined;
  /** The client's certificate (mutual TLS), or undefined when it sent none. */
  readonly peerCertificate: DetailedPeerCertificate | undefined;
  /** True when the client's certificate verified against the server's `ca`. */
  readonly authorized: boolean;
  /** Why the client's certificate did not verify (e.g. "DEPTH_ZERO_SELF_SIGNED_CERT"), if it did not. */
  readonly authorizationError: string | undefined;
}

/** Build the (never listening) node:tls server doing the handshakes of a brpc-ts server port. Throws on bad settings. */
export function createTlsServer(o: ServerTlsOptions): TlsServer {
  const { verifyClient, alpnProtocols, handshakeTimeoutMs, requestCert, rejectUnauthorized, ...rest } = o;
  if (rest.cert === undefined && rest.pfx === undefined && o.SNICallback === undefined) {
    throw new TypeError("tls: a certificate is needed (cert and key, or pfx)");
  }
  const timeout = handshakeTimeoutMs ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS;
  if (!(timeout >= 0)) throw new TypeError(`tls: bad handshakeTimeoutMs ${String(handshakeTimeoutMs)}`);
  return tlsCreateServer({
    ...rest,
    requestCert: requestCert ?? verifyClient ?? false,
    rejectUnauthorized: rejectUnauthorized ?? true,
    ALPNProtocols: [...(alpnProtocols ?? DEFAULT_SERVER_ALPN)],
    handshakeTimeout: timeout,
  });
}

/** Options of `tls.connect` for a channel to `host` offering `alpn` unless the user chose. */
export function tlsConnectOptions(
  o: ClientTlsOptions,
  host: string | undefined,
  alpn: readonly string[] | undefined,
): NodeTlsConnectOptions {
  const { sniName, alpnProtocols, ...rest } = o;
  const protocols = alpnProtocols ?? alpn;
  const name = sniName ?? (host !== undefined && !isIp(host) ? host : undefined);
  return {
    ...rest,
    ...(name !== undefined ? { servername: name } : {}),
    ...(protocols !== undefined && protocols.length > 0 ? { ALPNProtocols: [...protocols] } : {}),
  };
}

/** ChannelOptions.tls as options (true = defaults: verify against the system CAs). */
export function clientTlsOf(tls: boolean | ClientTlsOptions | undefined): ClientTlsOptions | undefined {
  if (tls === undefined || tls === false) return undefined;
  return tls === true ? {} : tls;
}

function isIp(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(":");
}

/** The TLS details of `conn`, or undefined when it is not a TLS connection. */
export function tlsInfoOf(conn: Connection): TlsInfo | undefined {
  const socket = conn.socket;
  if (!(socket instanceof TLSSocket)) return undefined;
  const cached = conn.state.tlsInfo as TlsInfo | undefined;
  if (cached !== undefined) return cached;
  const peer = socket.getPeerCertificate(true);
  const alpn = "tlsAlpn" in conn.state ? conn.state.tlsAlpn : socket.alpnProtocol;
  const err = socket.authorizationError as unknown;
  const info: TlsInfo = {
    protocol: socket.getProtocol() ?? "",
    cipher: socket.getCipher()?.name ?? "",
    alpnProtocol: typeof alpn === "string" && alpn !== "" ? alpn : undefined,
    serverName:
      typeof (socket as { servername?: unknown }).servername === "string"
        ? (socket as unknown as { servername: string }).servername
        : undefined,
    peerCertificate: peer !== null && Object.keys(peer).length > 0 ? peer : undefined,
    authorized: socket.authorized === true,
    authorizationError:
      err === null || err === undefined ? undefined : err instanceof Error ? err.message : String(err),
  };
  conn.state.tlsInfo = info;
  return info;
}

export type { TlsServer };
