/**
 * "http-node": the baseline of the HTTP JSON echo benchmark, a plain node:http server
 * whose handler reads the body, `JSON.parse`s it and answers
 * `JSON.stringify({ message })` as `application/json`, as a hand-written Node JSON API
 * does; loaded by the same HTTP load generator as "http-brpc-ts".
 */
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { httpLoad, jsonEcho } from "../lib/http-load.js";
import type { LoadContext } from "../lib/system.js";

/** Start the echo server on 127.0.0.1; resolves with its port. */
export async function serve(): Promise<number> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let out: string;
      try {
        const v = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { message?: unknown };
        out = JSON.stringify({ message: v.message });
      } catch {
        res.writeHead(400, { "Content-Type": "text/plain", "Content-Length": 8 });
        res.end("bad json");
        return;
      }
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(out) });
      res.end(out);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

/** Keep `ctx.inflight` JSON echo requests in flight until `ctx.active` is false. */
export function load(port: number, ctx: LoadContext): Promise<void> {
  return httpLoad(port, ctx, jsonEcho(ctx, "/EchoService/Echo"));
}
