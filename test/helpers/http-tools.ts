/** HTTP test tools: curl as a child process, a raw HTTP/1.x response parser, h2 frames. */
import { execFile, spawnSync } from "node:child_process";

/** Why curl cannot be used, or undefined when it can. */
export const curlMissing: string | undefined = (() => {
  const r = spawnSync("curl", ["--version"], { encoding: "utf8" });
  if (r.error !== undefined || r.status !== 0) return "curl is not installed (Debian package `curl`)";
  return undefined;
})();

/** True when curl speaks HTTP/2 (needed for --http2-prior-knowledge). */
export const curlHasHttp2: boolean =
  curlMissing === undefined && /\bHTTP2\b/.test(spawnSync("curl", ["-V"], { encoding: "utf8" }).stdout);

/** A parsed HTTP response. */
export interface HttpReply {
  /** "HTTP/1.1 200 OK" */
  statusLine: string;
  status: number;
  /** Lowercased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

function parseHead(head: string): Omit<HttpReply, "body"> {
  const lines = head.split("\r\n");
  const statusLine = lines[0] ?? "";
  const status = Number(statusLine.split(" ")[1]);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i <= 0) continue;
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  return { statusLine, status, headers };
}

/**
 * Run curl with `args` (plus -sS -i) and parse its output. `input` is piped to stdin
 * (use `--data-binary @-`). Rejects when curl fails.
 */
export function curl(args: string[], input?: Buffer | string): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      "curl",
      ["-sS", "-i", "--max-time", "20", ...args],
      { encoding: "buffer", maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`curl ${args.join(" ")} failed: ${err.message} ${stderr.toString()}`));
          return;
        }
        let out = stdout as Buffer;
        for (;;) {
          const end = out.indexOf("\r\n\r\n");
          if (end < 0) {
            reject(new Error(`bad curl output: ${out.toString()}`));
            return;
          }
          const head = parseHead(out.subarray(0, end).toString("latin1"));
          out = out.subarray(end + 4);
          // Skip interim responses (100 Continue).
          if (head.status >= 100 && head.status < 200) continue;
          resolve({ ...head, body: out });
          return;
        }
      },
    );
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

/** Split a byte stream of HTTP/1.x responses (Content-Length or chunked bodies). */
export function parseResponses(buf: Buffer): HttpReply[] {
  const out: HttpReply[] = [];
  let off = 0;
  while (off < buf.length) {
    const end = buf.indexOf("\r\n\r\n", off);
    if (end < 0) break;
    const head = parseHead(buf.subarray(off, end).toString("latin1"));
    off = end + 4;
    const cl = head.headers["content-length"];
    if (cl !== undefined) {
      const n = Number(cl);
      if (off + n > buf.length) break;
      out.push({ ...head, body: buf.subarray(off, off + n) });
      off += n;
    } else if (/chunked/i.test(head.headers["transfer-encoding"] ?? "")) {
      const parts: Buffer[] = [];
      for (;;) {
        const le = buf.indexOf("\r\n", off);
        if (le < 0) return out;
        const size = Number.parseInt(buf.subarray(off, le).toString("latin1"), 16);
        off = le + 2;
        if (size === 0) {
          off += 2;
          break;
        }
        parts.push(buf.subarray(off, off + size));
        off += size + 2;
      }
      out.push({ ...head, body: Buffer.concat(parts) });
    } else {
      out.push({ ...head, body: buf.subarray(off) });
      off = buf.length;
    }
  }
  return out;
}

/** An h2 frame: 9-byte header + payload. */
export function h2Frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** Frames of an h2 byte stream (server side), as far as complete. */
export function h2Frames(buf: Buffer): { type: number; flags: number; streamId: number; payload: Buffer }[] {
  const out = [];
  let off = 0;
  while (off + 9 <= buf.length) {
    const len = buf.readUIntBE(off, 3);
    if (off + 9 + len > buf.length) break;
    out.push({
      type: buf[off + 3] as number,
      flags: buf[off + 4] as number,
      streamId: buf.readUInt32BE(off + 5) & 0x7fffffff,
      payload: buf.subarray(off + 9, off + 9 + len),
    });
    off += 9 + len;
  }
  return out;
}

/** h2 frame types (the raw h2 helpers' table). */
export { FrameType as H2 } from "./grpc-h2.js";
