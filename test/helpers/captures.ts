/** Reading the wire captures of real brpc traffic (test/fixtures/wire, copied from ../shared/wire). */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** A capture file. */
export interface Capture {
  scenario: string;
  peer: string;
  observed_result: string[];
  connections: { chunks: { dir: "c2s" | "s2c"; hex: string }[] }[];
}

/** Folder of the capture files (works from src and from dist). */
export const WIRE_DIR = (() => {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(d, "test", "fixtures", "wire");
    try {
      readdirSync(candidate);
      return candidate;
    } catch {
      d = dirname(d);
    }
  }
  throw new Error("test/fixtures/wire not found");
})();

/** Names of capture scenarios starting with `prefix`. */
export function captureNames(prefix: string): string[] {
  return readdirSync(WIRE_DIR)
    .filter((f) => f.startsWith(prefix) && f.endsWith(".json"))
    .map((f) => f.slice(0, -5))
    .sort();
}

/** Load a capture by scenario name. */
export function loadCapture(name: string): Capture {
  return JSON.parse(readFileSync(join(WIRE_DIR, `${name}.json`), "utf8")) as Capture;
}

/** Concatenation of one direction's chunks of one connection. */
export function stream(c: Capture, conn: number, dir: "c2s" | "s2c"): Buffer {
  const chunks = c.connections[conn]?.chunks.filter((ch) => ch.dir === dir) ?? [];
  return Buffer.concat(chunks.map((ch) => Buffer.from(ch.hex, "hex")));
}

/** A 12-byte-header frame ("PRPC" or "STRM") cut from a byte stream. */
export interface RawFrame {
  magic: string;
  bytes: Buffer;
  meta: Buffer;
  body: Buffer;
}

/** Split a byte stream into PRPC/STRM frames; throws on anything else. */
export function splitFrames(buf: Buffer): RawFrame[] {
  const out: RawFrame[] = [];
  let off = 0;
  while (off < buf.length) {
    const magic = buf.toString("latin1", off, off + 4);
    if (magic !== "PRPC" && magic !== "STRM") throw new Error(`unexpected bytes at ${off}: ${magic}`);
    const bodySize = buf.readUInt32BE(off + 4);
    const metaSize = buf.readUInt32BE(off + 8);
    const bytes = buf.subarray(off, off + 12 + bodySize);
    if (bytes.length !== 12 + bodySize) throw new Error("truncated frame in capture");
    out.push({
      magic,
      bytes,
      meta: bytes.subarray(12, 12 + metaSize),
      body: bytes.subarray(12 + metaSize),
    });
    off += 12 + bodySize;
  }
  return out;
}
