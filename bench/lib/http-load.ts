/**
 * The load generator of the HTTP JSON echo benchmark, shared by every HTTP system so that
 * the servers, not the clients, make the difference:
 *
 * - `raw` (default): HTTP/1.1 keep-alive over plain `net` sockets. The request is built
 *   once (`POST <path>`, `Content-Type: application/json`, `Content-Length`); each response
 *   is parsed (status line, `Content-Length`, body) and its JSON body checked. One request
 *   in flight per connection, so N in flight = N connections (`BENCH_HTTP_CONNECTIONS`
 *   fewer connections pipeline the rest). A node:http client costs more CPU per request
 *   than the servers measured here, so it would measure itself.
 * - `agent` (`BENCH_HTTP_CLIENT=agent`): `http.request` with a keep-alive `http.Agent`
 *   (`maxSockets` = connections), the way a Node application calls an HTTP API.
 */
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import { performance } from "node:perf_hooks";
import { closedLoop } from "./load.js";
import type { LoadContext } from "./system.js";

/** What an HTTP echo exchange sends and expects. */
export interface HttpEcho {
  /** URL path, e.g. "/EchoService/Echo". */
  path: string;
  /** The request body (JSON). */
  body: string;
  /** Throws unless `body` is the expected response body. */
  verify(body: string): void;
}

/** `{"message": <ctx.message>}` to `path`, expecting the same message back. */
export function jsonEcho(ctx: LoadContext, path: string): HttpEcho {
  const msg = ctx.message;
  return {
    path,
    body: JSON.stringify({ message: msg }),
    verify(body: string): void {
      const v = JSON.parse(body) as { message?: unknown };
      if (v.message !== msg) throw new Error(`http: echoed ${body}`);
    },
  };
}

/** Number of connections for `inflight` requests (`BENCH_HTTP_CONNECTIONS`, default one per request). */
function connectionCount(inflight: number): number {
  const raw = process.env.BENCH_HTTP_CONNECTIONS;
  const n = raw ? Number(raw) : inflight;
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`BENCH_HTTP_CONNECTIONS=${raw}: expected an integer >= 1`);
  return Math.min(n, inflight);
}

/** Run the HTTP echo load of `ctx` against 127.0.0.1:`port` with the configured client. */
export function httpLoad(port: number, ctx: LoadContext, echo: HttpEcho): Promise<void> {
  const client = process.env.BENCH_HTTP_CLIENT || "raw";
  if (client === "agent") return agentLoad(port, ctx, echo);
  if (client !== "raw") throw new Error(`BENCH_HTTP_CLIENT=${client}: expected raw or agent`);
  return rawLoad(port, ctx, echo);
}

async function agentLoad(port: number, ctx: LoadContext, echo: HttpEcho): Promise<void> {
  const conns = connectionCount(ctx.inflight);
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns, maxFreeSockets: conns });
  const body = Buffer.from(echo.body);
  const options: http.RequestOptions = {
    host: "127.0.0.1",
    port,
    path: echo.path,
    method: "POST",
    agent,
    headers: { "Content-Type": "application/json", "Content-Length": body.length },
  };
  try {
    await closedLoop(
      ctx,
      () =>
        new Promise<void>((resolve, reject) => {
          const req = http.request(options, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => {
              try {
                if (res.statusCode !== 200) throw new Error(`http: status ${res.statusCode}`);
                echo.verify(Buffer.concat(chunks).toString("utf8"));
                resolve();
              } catch (err) {
                reject(err);
              }
            });
            res.on("error", reject);
          });
          req.on("error", reject);
          req.end(body);
        }),
    );
  } finally {
    agent.destroy();
  }
}

const HEAD_END = Buffer.from("\r\n\r\n");
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;

async function rawLoad(port: number, ctx: LoadContext, echo: HttpEcho): Promise<void> {
  const conns = connectionCount(ctx.inflight);
  const body = Buffer.from(echo.body);
  const request = Buffer.concat([
    Buffer.from(
      `POST ${echo.path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\n\r\n`,
      "latin1",
    ),
    body,
  ]);
  const sockets: net.Socket[] = [];
  for (let i = 0; i < conns; i++) {
    const s = net.connect({ port, host: "127.0.0.1", noDelay: true });
    sockets.push(s);
  }
  await Promise.all(sockets.map((s) => once(s, "connect")));
  // Spread the in-flight requests over the connections (pipelined beyond one each).
  const depth = sockets.map((_, i) => Math.floor(ctx.inflight / conns) + (i < ctx.inflight % conns ? 1 : 0));
  try {
    await Promise.all(sockets.map((s, i) => connectionLoad(s, depth[i]!, request, echo, ctx)));
  } finally {
    for (const s of sockets) s.destroy();
  }
}

/** Keep `depth` requests in flight on `sock` until `ctx.active` is false and all answered. */
function connectionLoad(
  sock: net.Socket,
  depth: number,
  request: Buffer,
  echo: HttpEcho,
  ctx: LoadContext,
): Promise<void> {
  const starts = new Float64Array(depth);
  let head = 0;
  let tail = 0;
  let outstanding = 0;
  return new Promise<void>((resolve, reject) => {
    const send = (): void => {
      starts[tail] = performance.now();
      tail = tail + 1 === depth ? 0 : tail + 1;
      outstanding++;
      sock.write(request);
    };
    const fail = (err: Error): void => {
      sock.destroy();
      reject(err);
    };
    let pending: Buffer | null = null;
    sock.on("data", (chunk: Buffer) => {
      const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      let off = 0;
      for (;;) {
        const headEnd = buf.indexOf(HEAD_END, off);
        if (headEnd < 0) break;
        const headText = buf.toString("latin1", off, headEnd);
        const cl = CONTENT_LENGTH.exec(headText);
        if (cl === null) return fail(new Error(`http: response without Content-Length: ${headText}`));
        const end = headEnd + 4 + Number(cl[1]);
        if (end > buf.length) break;
        if (!headText.startsWith("HTTP/1.1 200 ")) {
          return fail(
            new Error(
              `http: ${headText.slice(0, headText.indexOf("\r\n"))}: ${buf.toString("utf8", headEnd + 4, end)}`,
            ),
          );
        }
        try {
          echo.verify(buf.toString("utf8", headEnd + 4, end));
        } catch (err) {
          return fail(err as Error);
        }
        off = end;
        outstanding--;
        ctx.done(starts[head]!);
        head = head + 1 === depth ? 0 : head + 1;
        if (ctx.active) send();
      }
      pending = off < buf.length ? buf.subarray(off) : null;
      if (!ctx.active && outstanding === 0) {
        sock.end();
        resolve();
      }
    });
    sock.on("error", reject);
    sock.on("close", () => {
      if (outstanding > 0) reject(new Error("http: connection closed by the server"));
    });
    for (let i = 0; i < depth; i++) send();
  });
}
