/**
 * One HTTP/1.1 attempt of a ClientCall on node:http (Channel protocol "http" and the
 * plain {@link httpRequest} client): connect timeout, error mapping, body size limit,
 * and abort when the call ends first (timeout, cancellation).
 */
import type { Agent, ClientRequest, IncomingMessage, OutgoingHttpHeaders } from "node:http";
import { request as httpReq } from "node:http";
import { request as httpsReq } from "node:https";
import type { Socket } from "node:net";
import type { CallAttempt, ClientCall } from "../../client/call.js";
import { ErrorCode, errnoFromNodeError } from "../../errors/errno.js";
import { RpcError } from "../../errors/rpc-error.js";
import { type TimerHandle, timers } from "../../io/timers.js";
import { describeEndpoint } from "../../transport/connection.js";
import type { Endpoint } from "../../transport/endpoint.js";

/** What to send. */
export interface Http1Request {
  agent: Agent | undefined;
  tls: boolean;
  endpoint: Endpoint;
  /** "host:port" for error texts. */
  address: string;
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  body: Uint8Array | undefined;
  connectTimeoutMs: number;
  maxBodySize: number;
}

/** What to do with the response. */
export interface Http1Handler {
  /**
   * Headers arrived. Return true when the handler took the response over with
   * {@link Http1Attempt.handOff} (progressive reading); else the attempt reads the body.
   */
  onHeaders?(attempt: Http1Attempt, res: IncomingMessage): boolean;
  /** The whole body arrived. */
  onBody(attempt: Http1Attempt, res: IncomingMessage, body: Buffer): void;
}

/** Text of a failure on a connection that never connected / did connect. */
function transportError(err: unknown, connected: boolean, address: string, remote: string): RpcError {
  if (err instanceof RpcError) return err;
  const e = err as Error;
  const code = errnoFromNodeError(e);
  return connected
    ? new RpcError(code, `${e.message} (${remote})`)
    : new RpcError(code, `Fail to connect ${address}: ${e.message}`);
}

/** An HTTP/1.1 request/response exchange for one attempt of a call. */
export class Http1Attempt implements CallAttempt {
  readonly call: ClientCall;
  readonly req: ClientRequest | undefined;
  readonly #handler: Http1Handler;
  readonly #r: Http1Request;
  /** The call is done with this attempt. */
  #ended = false;
  /** This attempt reported its outcome to the call. */
  #reported = false;
  /** The whole response arrived (the connection goes back to the pool). */
  #complete = false;
  #handedOff = false;
  #connected = false;
  #timer: TimerHandle | undefined = undefined;

  constructor(call: ClientCall, r: Http1Request, handler: Http1Handler) {
    this.call = call;
    this.#r = r;
    this.#handler = handler;
    call.attempt = this;
    const ep = r.endpoint;
    let req: ClientRequest;
    try {
      req = (r.tls ? httpsReq : httpReq)({
        agent: r.agent,
        ...(ep.kind === "unix" ? { socketPath: ep.path } : { host: ep.host, port: ep.port }),
        method: r.method,
        path: r.path,
        headers: r.headers,
      });
    } catch (err) {
      this.req = undefined;
      this.#report(() => call.fail(ErrorCode.EREQUEST, `Bad http request: ${(err as Error).message}`, false));
      return;
    }
    this.req = req;
    req.on("socket", (s: Socket) => this.#onSocket(s));
    req.on("error", (err) => this.#onError(err));
    req.on("response", (res) => this.#onResponse(res));
    if (r.body !== undefined && r.body.length > 0) req.end(r.body);
    else req.end();
  }

  /** [CallAttempt] */
  end(_responded: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    timers.cancel(this.#timer);
    if (!this.#complete && !this.#handedOff) this.req?.destroy();
  }

  /**
   * The response is the caller's from now on (progressive reading): the attempt neither
   * reads nor aborts it. Call before completing the call.
   */
  handOff(): void {
    this.#handedOff = true;
    this.#reported = true;
    timers.cancel(this.#timer);
  }

  /** True while the call still waits for this attempt. */
  get live(): boolean {
    return !this.#ended && !this.#reported;
  }

  /** Report the outcome once, unless the call is done with this attempt. */
  #report(fn: () => void): void {
    if (this.#ended || this.#reported) return;
    this.#reported = true;
    timers.cancel(this.#timer);
    fn();
  }

  #onSocket(s: Socket): void {
    const ep = this.#r.endpoint;
    const path = ep.kind === "unix" ? ep.path : undefined;
    const connected = () => {
      this.#connected = true;
      timers.cancel(this.#timer);
      this.#timer = undefined;
      if (this.live) {
        this.call.remoteSide = describeEndpoint(s.remoteAddress, s.remotePort, path);
        this.call.localSide = describeEndpoint(s.localAddress, s.localPort, path);
      }
    };
    if (!s.connecting) {
      connected();
      return;
    }
    const addr = this.#r.address;
    this.#timer = timers.after(
      Math.max(0, this.#r.connectTimeoutMs),
      () => {
        if (this.#connected) return;
        this.req?.destroy(new RpcError(ErrorCode.ETIMEDOUT, `Fail to connect ${addr}: Connection timed out`));
      },
      undefined,
    );
    s.once(this.#r.tls ? "secureConnect" : "connect", connected);
  }

  #onError(err: unknown): void {
    const e = transportError(err, this.#connected, this.#r.address, this.call.remoteSide);
    this.#report(() => this.#failAttempt(e.code, e.text));
  }

  /** A transport failure: retried by the call's policy unless it streams. */
  #failAttempt(code: number, text: string): void {
    this.call.onAttemptFailed(code, text);
  }

  #onResponse(res: IncomingMessage): void {
    if (!this.live) {
      res.resume();
      return;
    }
    if (this.#handler.onHeaders?.(this, res) === true) return;
    const chunks: Buffer[] = [];
    let size = 0;
    const max = this.#r.maxBodySize;
    res.on("data", (d: Buffer) => {
      size += d.length;
      if (size > max) {
        this.#report(() => {
          this.req?.destroy();
          this.call.fail(
            ErrorCode.ERESPONSE,
            `The response body is larger than maxBodySize=${max} @${this.call.remoteSide}`,
            false,
          );
        });
        return;
      }
      chunks.push(d);
    });
    res.on("error", (err) => this.#onError(err));
    res.on("aborted", () =>
      this.#report(() =>
        this.#failAttempt(
          ErrorCode.EFAILEDSOCKET,
          `Connection to ${this.call.remoteSide} closed mid-response`,
        ),
      ),
    );
    res.on("end", () => {
      if (!res.complete) {
        this.#report(() =>
          this.#failAttempt(
            ErrorCode.EFAILEDSOCKET,
            `Connection to ${this.call.remoteSide} closed mid-response`,
          ),
        );
        return;
      }
      this.#complete = true;
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      this.#report(() => this.#handler.onBody(this, res, body));
    });
  }
}
