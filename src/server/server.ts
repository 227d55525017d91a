/**
 * The brpc-ts server: one port, every registered protocol detected per connection,
 * typed and raw services, concurrency limits, idle connection reaping and graceful stop.
 */
import { unlink } from "node:fs/promises";
import type { Server as NetServer, Socket } from "node:net";
import type { DescService } from "@bufbuild/protobuf";
import type { Authenticator } from "../auth.js";
import { internalEndpoint } from "../builtin/internal-port.js";
import { ErrorCode } from "../errors/errno.js";
import { RpcError } from "../errors/rpc-error.js";
import { registerBuiltins } from "../global.js";
import { log } from "../log.js";
import { toUnderscoredName } from "../metrics/name.js";
import { type HttpServerOptions, httpOptionsOf, setHttpServerOptions } from "../protocol/http/options.js";
import { RestfulRouter } from "../protocol/http/restful.js";
import { type Protocol, serverProtocols } from "../protocol/protocol.js";
import { type RpczOptions, rpczState } from "../rpcz/store.js";
import { applyRpczOption, beginServerSpan, endServerSpan, runInSpan, spanDone } from "../rpcz/trace.js";
import {
  Connection,
  type ConnectionOwner,
  DEFAULT_KEEPALIVE_MS,
  DEFAULT_MAX_BODY_SIZE,
  DEFAULT_MAX_UNWRITTEN_BYTES,
  DEFAULT_WRITE_STALL_TIMEOUT_MS,
} from "../transport/connection.js";
import { type Endpoint, formatEndpoint, parseEndpoint } from "../transport/endpoint.js";
import { closeListener, type Listener, listen } from "../transport/listener.js";
import { createTlsServer, type ServerTlsOptions, type TlsServer } from "../transport/tls.js";
import { ServerContext } from "./context.js";
import { MethodStatus } from "./method-status.js";
import { ServerMetrics } from "./server-metrics.js";
import type { ServiceImpl } from "./service-impl.js";
import {
  type MethodEntry,
  type RawMethodHandler,
  type ServiceEntry,
  ServiceRegistry,
} from "./service-registry.js";

/** Options of a {@link Server} (brpc `ServerOptions` and the related flags). */
export interface ServerOptions {
  /** Max concurrent requests of the whole server; 0 = unlimited (brpc `max_concurrency`). Excess gets ELIMIT. */
  maxConcurrency?: number;
  /** Default max concurrency of each method; 0 = unlimited (brpc `method_max_concurrency`). */
  methodMaxConcurrency?: number;
  /** Close connections idle for this many seconds; <= 0 = never (brpc `idle_timeout_sec`, default -1). */
  idleTimeoutSec?: number;
  /** Largest frame accepted, in bytes (brpc `-max_body_size`, default 64 MiB). Bigger frames close the connection. */
  maxBodySize?: number;
  /** Unsent bytes per connection above which requests get EOVERCROWDED (brpc `-socket_max_unwritten_bytes`, 64 MiB). */
  maxUnwrittenBytes?: number;
  /**
   * Fail a connection whose unsent bytes make no progress for this long, in ms: the
   * equivalent of TCP_USER_TIMEOUT (brpc `-socket_tcp_user_timeout_ms`) for a client that
   * stopped reading or vanished. Default 30000; 0 = off.
   */
  writeStallTimeoutMs?: number;
  /** TCP keepalive idle time in ms before the first probe (brpc `-socket_keepalive_idle_s`). Default 60000; 0 = off. */
  keepAliveMs?: number;
  /** Verifies the credential of the first request on each connection (brpc `auth`). */
  auth?: Authenticator;
  /** Default grace period of {@link Server.stop}, in ms (default 5000). */
  stopGraceMs?: number;
  /**
   * Hide the server address in error texts (brpc's security mode prints an md5 instead).
   * Default false: texts start with "[ip:port]" as brpc's do.
   */
  hideAddressInErrors?: boolean;
  /**
   * Serve TLS on the same port as the plain protocols (brpc `ssl_options`): certificate,
   * key, mutual TLS, ALPN, handshake timeout (see docs/tls.md). Plain connections keep
   * working; handlers see `ctx.tls` on TLS connections.
   */
  tls?: ServerTlsOptions;
  /**
   * Limits and timeouts of HTTP/1.x and h2 on this server's port: header and request
   * timeouts (slowloris guard), max header size, h2 settings (brpc `h2_settings`). See
   * docs/http.md.
   */
  http?: HttpServerOptions;
  /**
   * Serve the builtin pages: `/status`, `/vars`, `/flags`, `/connections`, `/brpc_metrics`...
   * (brpc `has_builtin_services`). Default true; false answers them 404 on every port.
   * See docs/builtin.md.
   */
  builtinServices?: boolean;
  /**
   * Serve the builtin pages only on this extra listener (brpc `internal_port`): a port on
   * the host of the server's address, or an address of its own ("127.0.0.1:9000",
   * "unix:/run/admin.sock"; port 0 picks one, see `server.internalAddress`). Every protocol
   * is served there too; the main port answers builtin pages with 403 EPERM.
   */
  internalPort?: number | string;
  /** Text of `/version` (brpc `Server::set_version()`); default the services' names joined by "+". */
  version?: string;
  /**
   * Let `/flags/NAME?setvalue=VALUE` change reloadable flags at run time. Default false:
   * such requests get 403 EPERM (brpc allows it unless `-immutable_flags`).
   */
  allowFlagChanges?: boolean;
  /**
   * Automatic metrics (brpc's server and method bvars, the process variables, connection
   * traffic rates): default true; false records and exposes nothing. See docs/metrics.md.
   */
  metrics?: boolean;
  /**
   * Name in the metrics prefix instead of the port: `rpc_server_<serverInfoName>_...`
   * (brpc `server_info_name`). Default "": `rpc_server_<port>`.
   */
  serverInfoName?: string;
  /**
   * Trace the calls of this server into rpcz (brpc `-enable_rpcz`, default off; see
   * docs/rpcz.md). An object also sets rpcz's process-wide settings (`maxSpans`, ...).
   * `setRpczEnabled(true)` turns it on for every server and channel.
   */
  rpcz?: boolean | RpczOptions;
}

/** Per-service options of {@link Server.addService}. */
export interface AddServiceOptions {
  /** Max concurrency per method, by method name ("Echo") or local name ("echo"). */
  maxConcurrency?: Record<string, number>;
  /**
   * HTTP restful mappings, e.g. `"/v1/echo/* => Echo, /v1/ping => Ping"` (brpc's
   * `AddService(svc, ownership, "PATH => METHOD, ...")`, see docs/http.md).
   */
  restful?: string;
  /** Keep methods that have restful paths reachable at /Service/Method too (brpc `allow_default_url`). */
  allowDefaultUrl?: boolean;
}

type State = "idle" | "starting" | "running" | "stopping" | "stopped";

/** A brpc-ts server. */
export class Server implements ConnectionOwner {
  readonly options: Readonly<
    Required<Omit<ServerOptions, "auth" | "tls" | "http" | "internalPort" | "version">>
  > & {
    auth: Authenticator | undefined;
    tls: ServerTlsOptions | undefined;
    internalPort: number | string | undefined;
    version: string | undefined;
  };
  readonly #registry = new ServiceRegistry();
  readonly #restful = new RestfulRouter();
  readonly #connections = new Set<Connection>();
  #net: NetServer | undefined;
  #endpoint: Endpoint | undefined;
  #state: State = "idle";
  #protocols: readonly Protocol[] = [];
  #tls: TlsServer | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #drained: (() => void) | undefined;
  #concurrency = 0;
  /** The automatic metrics; undefined when `options.metrics` is false. */
  readonly #metrics: ServerMetrics | undefined;
  /** Bumped by stop(): requests admitted before it no longer count once it gave up on them. */
  #generation = 0;
  /** @internal This server traces its calls (`ServerOptions.rpcz`, /rpcz/enable|disable). */
  rpczEnabled = false;
  /** The listener of `options.internalPort` while running. */
  #internal: Listener | undefined;
  /** Connections accepted on the internal port. */
  readonly #internalConns = new WeakSet<Connection>();

  constructor(options: ServerOptions = {}) {
    registerBuiltins();
    this.options = {
      maxConcurrency: options.maxConcurrency ?? 0,
      methodMaxConcurrency: options.methodMaxConcurrency ?? 0,
      idleTimeoutSec: options.idleTimeoutSec ?? -1,
      maxBodySize: options.maxBodySize ?? DEFAULT_MAX_BODY_SIZE,
      maxUnwrittenBytes: options.maxUnwrittenBytes ?? DEFAULT_MAX_UNWRITTEN_BYTES,
      auth: options.auth,
      stopGraceMs: options.stopGraceMs ?? 5000,
      // brpc's security mode (internal port, or no builtin pages) hides the address too.
      hideAddressInErrors:
        options.hideAddressInErrors ??
        (options.internalPort !== undefined || options.builtinServices === false),
      writeStallTimeoutMs: options.writeStallTimeoutMs ?? DEFAULT_WRITE_STALL_TIMEOUT_MS,
      keepAliveMs: options.keepAliveMs ?? DEFAULT_KEEPALIVE_MS,
      tls: options.tls,
      metrics: options.metrics ?? true,
      serverInfoName: options.serverInfoName ?? "",
      rpcz: options.rpcz ?? false,
      builtinServices: options.builtinServices ?? true,
      internalPort: options.internalPort,
      version: options.version,
      allowFlagChanges: options.allowFlagChanges ?? false,
    };
    if (options.internalPort !== undefined && !this.options.builtinServices) {
      throw new TypeError("ServerOptions.internalPort serves the builtin pages: it needs builtinServices");
    }
    this.rpczEnabled = applyRpczOption(options.rpcz);
    this.#metrics = this.options.metrics ? new ServerMetrics(this) : undefined;
    // Validates them (RangeError) and applies them to this server's HTTP frontend.
    if (options.http !== undefined) setHttpServerOptions(this, options.http);
  }

  /**
   * Add a protobuf service with typed handlers keyed by method local name (`echo`) or
   * proto name (`Echo`). Methods without a handler fail with EINTERNAL as brpc's
   * generated base class does.
   */
  addService<S extends DescService>(desc: S, impl: ServiceImpl<S>, opts: AddServiceOptions = {}): this {
    this.#checkIdle("addService");
    for (const k of Object.keys(opts.maxConcurrency ?? {})) {
      if (!desc.methods.some((m) => m.name === k || m.localName === k)) {
        throw new TypeError(`maxConcurrency: ${desc.typeName} has no method "${k}"`);
      }
    }
    const mappings = this.#restful.prepare(
      desc.typeName,
      desc.methods.map((m) => m.name),
      opts.restful,
      opts.allowDefaultUrl ?? false,
      this.#registry,
    );
    const svc = this.#registry.addTyped(desc, impl as Record<string, unknown>);
    this.#restful.commit(svc, mappings);
    for (const m of svc.methods.values()) {
      m.maxConcurrency =
        opts.maxConcurrency?.[m.name] ??
        opts.maxConcurrency?.[m.desc?.localName ?? ""] ??
        this.options.methodMaxConcurrency;
      if (this.#metrics !== undefined) m.status = new MethodStatus(m);
    }
    return this;
  }

  /**
   * Add an untyped service: request bytes in, response bytes out, for proxies and tools.
   * `fullName` is the service's full name ("example.EchoService"); keys are method names ("Echo").
   */
  addRawService(fullName: string, handlers: Record<string, RawMethodHandler>): this {
    this.#checkIdle("addRawService");
    const svc = this.#registry.addRaw(fullName, handlers);
    for (const m of svc.methods.values()) {
      m.maxConcurrency = this.options.methodMaxConcurrency;
      if (this.#metrics !== undefined) m.status = new MethodStatus(m);
    }
    return this;
  }

  /** Set the max concurrency of one method by full name ("example.EchoService.Echo"); 0 = unlimited. */
  setMethodMaxConcurrency(fullMethodName: string, max: number): this {
    const m = this.#registry.method(fullMethodName);
    if (m === undefined) throw new Error(`no method ${fullMethodName} on this server`);
    m.maxConcurrency = max;
    return this;
  }

  /** Requests being processed now (all methods). */
  get concurrency(): number {
    return this.#concurrency;
  }

  /**
   * Prefix of this server's variables (brpc's `ServerPrefix()`): `rpc_server_<port>`, or
   * `rpc_server_<serverInfoName>` when that option is set (underscored, as exposed). A server
   * on a Unix socket that has no serverInfoName uses its path. Throws before start() then.
   */
  get metricsPrefix(): string {
    const name = this.options.serverInfoName;
    if (name !== "") return toUnderscoredName(`rpc_server_${name}`);
    const ep = this.#endpoint;
    if (ep === undefined) throw new Error("server is not started");
    return toUnderscoredName(`rpc_server_${ep.kind === "tcp" ? ep.port : ep.path}`);
  }

  /**
   * Requests that failed before reaching a method: unknown service or method, server
   * stopping or at its limit, bad requests (brpc's `non_service_error`). 0 with metrics off.
   */
  get nonServiceErrors(): number {
    return this.#metrics?.nonServiceErrors.value ?? 0;
  }

  /**
   * The statistics of a method by full name ("example.EchoService.Echo"): count, errors,
   * latency, concurrency. Undefined for an unknown method or with metrics off.
   */
  methodStatus(fullMethodName: string): MethodStatus | undefined {
    return this.#registry.method(fullMethodName)?.status;
  }

  /** The registered services. @internal */
  get registry(): ServiceRegistry {
    return this.#registry;
  }

  /** Bumped by every stop(): what was derived from the services (e.g. HTTP routes) is stale. @internal */
  get generation(): number {
    return this.#generation;
  }

  /** Restful mappings of the services. @internal */
  get restful(): RestfulRouter {
    return this.#restful;
  }

  /** True while serving (between start() and stop()). */
  get running(): boolean {
    return this.#state === "running";
  }

  /** Listening address as brpc prints it ("127.0.0.1:8000" or "unix:/path"). */
  get address(): string {
    if (this.#endpoint === undefined) throw new Error("server is not started");
    return formatEndpoint(this.#endpoint);
  }

  /** Listening TCP port (useful after starting on port 0). */
  get port(): number {
    if (this.#endpoint?.kind !== "tcp") throw new Error("server is not listening on TCP");
    return this.#endpoint.port;
  }

  /** The node:tls server doing this server's handshakes (when it has a `tls` option and started). @internal */
  get tlsServer(): TlsServer | undefined {
    return this.#tls;
  }

  /** Open connections. */
  get connections(): ReadonlySet<Connection> {
    return this.#connections;
  }

  /** Address of the internal port (`options.internalPort`) while running, as brpc prints it. */
  get internalAddress(): string | undefined {
    const ep = this.#internal?.endpoint;
    return ep === undefined ? undefined : formatEndpoint(ep);
  }

  /** @internal True if `conn` came in on the internal port. */
  isInternalConnection(conn: Connection): boolean {
    return this.#internalConns.has(conn);
  }

  /** @internal Change `idleTimeoutSec` at run time (the /flags page): the reaper follows. */
  setIdleTimeoutSec(sec: number): void {
    (this.options as { idleTimeoutSec: number }).idleTimeoutSec = sec;
    if (this.#idleTimer !== undefined) clearInterval(this.#idleTimer);
    this.#idleTimer = undefined;
    if (sec > 0 && this.#state === "running") {
      const ms = sec * 1000;
      this.#idleTimer = setInterval(() => this.#reapIdle(ms), Math.max(50, Math.min(1000, ms / 4)));
      this.#idleTimer.unref();
    }
  }

  /** Start listening on "ip:port" (port 0 picks a free one), a port number, or "unix:path". */
  async start(address: string | number): Promise<void> {
    if (this.#state !== "idle" && this.#state !== "stopped") throw new Error(`server is ${this.#state}`);
    const ep = parseEndpoint(address);
    // Bad certificates or keys fail start(), as in brpc.
    if (this.options.tls !== undefined) this.#tls ??= createTlsServer(this.options.tls);
    this.#state = "starting";
    this.#protocols = serverProtocols();
    let main: Listener;
    try {
      main = await listen(ep, (s) => this.#onSocket(s), "server");
    } catch (err) {
      this.#state = "idle";
      throw err;
    }
    this.#net = main.net;
    this.#endpoint = main.endpoint;
    if (this.options.internalPort !== undefined) {
      try {
        const iep = internalEndpoint(this.options.internalPort, this.#endpoint);
        this.#internal = await listen(iep, (s) => this.#onSocket(s, true), "server internal port");
      } catch (err) {
        await closeListener(main);
        this.#net = undefined;
        this.#state = "idle";
        throw err;
      }
    }
    this.#state = "running";
    this.#metrics?.expose(this.metricsPrefix);
    if (this.options.idleTimeoutSec > 0) {
      const ms = this.options.idleTimeoutSec * 1000;
      this.#idleTimer = setInterval(() => this.#reapIdle(ms), Math.max(50, Math.min(1000, ms / 4)));
      this.#idleTimer.unref();
    }
  }

  /**
   * Stop gracefully: stop accepting connections, answer new requests with ELOGOFF,
   * let in-flight requests finish for up to `graceMs`, then close every connection.
   */
  async stop(graceMs = this.options.stopGraceMs): Promise<void> {
    if (this.#state !== "running") return;
    this.#state = "stopping";
    const net = this.#net;
    const closed = new Promise<void>((resolve) => (net ? net.close(() => resolve()) : resolve()));
    const internalClosed = closeListener(this.#internal);
    if (this.#concurrency > 0 && graceMs > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, graceMs);
        this.#drained = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#drained = undefined;
    }
    // Let responses written in this tick reach the sockets before closing.
    await new Promise<void>((resolve) => setImmediate(resolve));
    // Handlers still running are abandoned: a restarted server starts from zero.
    this.#generation++;
    this.#concurrency = 0;
    for (const svc of this.#registry.services()) for (const m of svc.methods.values()) m.concurrency = 0;
    for (const c of [...this.#connections]) c.close();
    await closed;
    await internalClosed;
    this.#internal = undefined;
    if (this.#idleTimer !== undefined) clearInterval(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#net = undefined;
    if (this.#endpoint?.kind === "unix") await unlink(this.#endpoint.path).catch(() => {});
    this.#metrics?.hide();
    this.#state = "stopped";
  }

  #checkIdle(what: string): void {
    if (this.#state === "running" || this.#state === "starting" || this.#state === "stopping") {
      throw new Error(`${what}() must be called before start() or after stop()`);
    }
  }

  #onSocket(socket: Socket, internal = false): void {
    if (this.#state !== "running" && this.#state !== "stopping") {
      socket.destroy();
      return;
    }
    const conn = new Connection(socket, "server", this, this.#protocols, {
      maxBodySize: this.options.maxBodySize,
      maxUnwrittenBytes: this.options.maxUnwrittenBytes,
      unixPath: this.#endpoint?.kind === "unix" ? this.#endpoint.path : undefined,
      writeStallTimeoutMs: this.options.writeStallTimeoutMs,
      keepAliveMs: this.options.keepAliveMs,
      detectTimeoutMs: httpOptionsOf(this).headerTimeoutMs,
    });
    conn.state.server = this;
    // Metrics: requests start when their chunk was read (one clock read per chunk).
    if (this.#metrics !== undefined) conn.stampReads = true;
    this.#connections.add(conn);
    if (internal) this.#internalConns.add(conn);
  }

  /** @internal */
  onConnectionFailed(conn: Connection): void {
    this.#connections.delete(conn);
  }

  #reapIdle(ms: number): void {
    const t = performance.now();
    for (const c of this.#connections) {
      if (c.idleFor(t) >= ms && c.unwrittenBytes === 0 && c.inflight === 0 && !(c.streams?.size ?? 0)) {
        log.debug(`closing idle connection from ${c.remoteSide}`);
        c.close();
      }
    }
  }

  // ---- used by protocols ---------------------------------------------------

  /** @internal Create the context of a request arriving on `conn`. */
  newContext(protocol: string, conn: Connection): ServerContext {
    const ctx = new ServerContext(protocol, conn, this.options.hideAddressInErrors ? "" : conn.localSide);
    // Frame protocols (baidu_std): when the request's chunk was read. HTTP, h2: now.
    if (this.#metrics !== undefined) ctx.startMs = conn.takenOver ? performance.now() : conn.readAt;
    else ctx.metricsDone = true;
    return ctx;
  }

  // Admission steps. Protocols call them in brpc's order for that protocol (baidu_std:
  // running, server limit, attachment, lookup, overcrowded, method limit; HTTP: running,
  // lookup, method limit, overcrowded, server limit). Anything counted is released by
  // exactly one endCall().

  /** @internal ELOGOFF when the server is not running. */
  checkRunning(ctx: ServerContext): boolean {
    // Every protocol starts admission here, once the request's ids are known: trace it if
    // rpcz is on or the client traces it (brpc IsTraceable).
    if (this.rpczEnabled || rpczState.enabled || ctx.traceId !== undefined) beginServerSpan(ctx);
    if (this.#state === "running") return true;
    ctx.setFailed(ErrorCode.ELOGOFF, "Server is stopping");
    return false;
  }

  /** @internal Count the request against the server's max_concurrency (ELIMIT). */
  enterServer(ctx: ServerContext): boolean {
    const max = this.options.maxConcurrency;
    if (max > 0 && this.#concurrency >= max) {
      ctx.setFailed(ErrorCode.ELIMIT, `Reached server's max_concurrency=${max}`);
      return false;
    }
    this.#count(ctx);
    ctx.countedServer = true;
    this.#concurrency++;
    return true;
  }

  /** @internal EOVERCROWDED when the connection's unsent backlog is over its limit. */
  checkOvercrowded(ctx: ServerContext): boolean {
    if (!ctx.connection.overcrowded) return true;
    ctx.setFailed(ErrorCode.EOVERCROWDED, `Connection to ${ctx.remoteSide} is overcrowded`);
    return false;
  }

  /** @internal Count the request against `method`'s max concurrency (ELIMIT) and bind it to `ctx`. */
  enterMethod(ctx: ServerContext, method: MethodEntry): boolean {
    if (method.maxConcurrency > 0 && method.concurrency >= method.maxConcurrency) {
      ctx.setFailed(
        ErrorCode.ELIMIT,
        `Rejected by ${method.fullName}'s ConcurrencyLimiter, concurrency=${method.concurrency}`,
      );
      // brpc counts the rejection as an error of the method, not a non-service error.
      if (!ctx.metricsDone) {
        ctx.metricsDone = true;
        method.status?.errors.add(1);
      }
      return false;
    }
    this.#count(ctx);
    ctx.method = method;
    method.concurrency++;
    return true;
  }

  /** The first counting step of a request ties it to this server generation and its connection. */
  #count(ctx: ServerContext): void {
    if (ctx.generation >= 0) return;
    ctx.generation = this.#generation;
    ctx.connection.inflight++;
  }

  /** @internal A service by full name, or by short name when `name` has no dot. */
  findService(name: string): ServiceEntry | undefined {
    const svc = this.#registry.byFullName(name);
    if (svc !== undefined || name.includes(".")) return svc;
    return this.#registry.byShortName(name);
  }

  /** @internal baidu_std admission: ELOGOFF, then the server's max_concurrency. */
  admit(ctx: ServerContext): boolean {
    return this.checkRunning(ctx) && this.enterServer(ctx);
  }

  /**
   * @internal baidu_std routing of an admitted request: ENOSERVICE (short names only),
   * ENOMETHOD, EOVERCROWDED, the method's max concurrency (ELIMIT).
   */
  route(ctx: ServerContext, serviceName: string, methodName: string): MethodEntry | undefined {
    const svc = this.findService(serviceName);
    if (svc === undefined && !serviceName.includes(".")) {
      ctx.setFailed(ErrorCode.ENOSERVICE, `Fail to find service=${serviceName}`);
      return undefined;
    }
    const method = svc?.methods.get(methodName);
    if (method === undefined) {
      ctx.setFailed(ErrorCode.ENOMETHOD, `Fail to find method=${serviceName}/${methodName}`);
      return undefined;
    }
    if (!this.checkOvercrowded(ctx) || !this.enterMethod(ctx, method)) return undefined;
    return method;
  }

  /** @internal A request is over (response sent or dropped): release what it counted. Idempotent. */
  endCall(ctx: ServerContext): void {
    if (!ctx.metricsDone) this.#recordCall(ctx);
    if (ctx.span !== undefined) endServerSpan(ctx);
    if (ctx.generation < 0) return;
    const current = ctx.generation === this.#generation;
    ctx.generation = -1;
    ctx.finish();
    ctx.connection.inflight--;
    const m = ctx.method;
    const server = ctx.countedServer;
    ctx.countedServer = false;
    if (!current) return; // abandoned by stop(): already uncounted
    if (m !== undefined) m.concurrency--;
    if (server) {
      this.#concurrency--;
      if (this.#concurrency === 0 && this.#drained !== undefined) this.#drained();
    }
  }

  /** Record a call that is over in its method's status, or as a non-service error. */
  #recordCall(ctx: ServerContext): void {
    ctx.metricsDone = true;
    const m = ctx.method;
    if (m === undefined) {
      if (ctx.failed) this.#metrics?.nonServiceErrors.add(1);
      return;
    }
    // Undefined for builtin methods (gRPC health).
    const st = m.status;
    if (st === undefined) return;
    if (ctx.failed) {
      st.errors.add(1);
      return;
    }
    const conn = ctx.connection;
    // Frame protocols: until the response reaches the socket, one clock read per flush.
    if (!conn.takenOver && !conn.failed) conn.recordAtFlush(st.latency, ctx.startMs);
    else st.latency.record(Math.round((performance.now() - ctx.startMs) * 1000));
  }

  /**
   * @internal Run the handler of `method` with `req`; `done(ctx, response)` is called
   * exactly once, with `ctx` failed if the handler threw or failed it.
   */
  invoke(
    method: MethodEntry,
    req: unknown,
    ctx: ServerContext,
    done: (ctx: ServerContext, res: unknown) => void,
  ): void {
    const h = method.handler;
    const span = ctx.span;
    if (span !== undefined) done = spanDone(span, done);
    if (h === undefined) {
      ctx.setFailed(ErrorCode.EINTERNAL, `Method ${method.name}() not implemented.`);
      done(ctx, undefined);
      return;
    }
    let out: unknown;
    try {
      const fn = h as (req: unknown, ctx: ServerContext) => unknown;
      out = span === undefined ? fn(req, ctx) : runInSpan(span, fn, req, ctx, this.rpczEnabled);
    } catch (err) {
      failFromThrow(ctx, err);
      done(ctx, undefined);
      return;
    }
    if (out !== null && typeof out === "object" && typeof (out as Promise<unknown>).then === "function") {
      (out as Promise<unknown>).then(
        (res) => done(ctx, res),
        (err) => {
          failFromThrow(ctx, err);
          done(ctx, undefined);
        },
      );
    } else {
      done(ctx, out);
    }
  }
}

function failFromThrow(ctx: ServerContext, err: unknown): void {
  if (err instanceof RpcError) {
    ctx.setFailed(err.code, err.text);
    return;
  }
  log.error(`${ctx.fullMethodName} threw`, err);
  ctx.setFailed(ErrorCode.EINTERNAL, err instanceof Error ? err.message : String(err));
}
