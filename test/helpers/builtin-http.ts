/** HTTP requests for the builtin page tests: raw paths (no URL normalisation), any headers. */
import { request } from "node:http";
import { gunzipSync } from "node:zlib";

/** A response with its body as text. */
export interface Page {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A browser's User-Agent (HTML pages). */
export const BROWSER = {
  "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
};
/** curl's User-Agent (text pages). */
export const CURL = { "user-agent": "curl/8.5.0" };

/**
 * GET (or `method`) `path` exactly as given (`..` and `%2f` are sent as is) from
 * 127.0.0.1:`port` or a unix socket; node:http sends no User-Agent unless given.
 */
export function get(
  where: number | string,
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<Page> {
  return new Promise((resolve, reject) => {
    const target =
      typeof where === "number"
        ? { host: "127.0.0.1", port: where }
        : { socketPath: where.replace(/^unix:/, "") };
    const req = request({ ...target, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        let body = Buffer.concat(chunks);
        if (res.headers["content-encoding"] === "gzip") body = gunzipSync(body);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: body.toString("utf8") });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** POST a JSON body to `path` (an RPC over HTTP). */
export function postJson(port: number, path: string, json: unknown): Promise<Page> {
  return new Promise((resolve, reject) => {
    const body = Buffer.from(JSON.stringify(json));
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        agent: false,
        headers: { "content-type": "application/json", "content-length": String(body.length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
