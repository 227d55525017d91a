/**
 * docs/baidu-std.md: a baidu_std request built byte by byte (header, RpcMeta, body,
 * attachment, masked CRC32C), sent over a plain TCP socket to a brpc-ts server, and the
 * response taken apart the same way. Then a custom compressor via registerCompressor.
 *
 *   npx tsc -p . && node dist/examples/docs/wire-format.js
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { brotliCompressSync, brotliDecompressSync } from "node:zlib";
import { crc32c } from "@node-rs/crc32";
import { Channel, type Compressor, Controller, registerCompressor, Server } from "../../src/index.js";
import { EchoService } from "../gen/peer_pb.js";
import { peerService } from "../interop/peer-service.js";

// --- a minimal protobuf writer/reader, enough for RpcMeta ------------------
function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
const vfield = (no: number, v: number | bigint) => Buffer.from([...varint(no << 3), ...varint(v)]);
const lfield = (no: number, b: Uint8Array | string) => {
  const bytes = typeof b === "string" ? Buffer.from(b) : b;
  return Buffer.concat([Buffer.from([...varint((no << 3) | 2), ...varint(bytes.length)]), bytes]);
};
/** Top-level fields of a protobuf message: [number, value] (varints as bigint, bytes as Buffer). */
function fields(b: Buffer): [number, bigint | Buffer][] {
  const out: [number, bigint | Buffer][] = [];
  let p = 0;
  const rv = (): bigint => {
    let r = 0n;
    for (let s = 0n; ; s += 7n) {
      const x = b[p++] as number;
      r |= BigInt(x & 0x7f) << s;
      if (x < 0x80) return r;
    }
  };
  while (p < b.length) {
    const tag = Number(rv());
    if ((tag & 7) === 0) out.push([tag >> 3, rv()]);
    else {
      const n = Number(rv());
      out.push([tag >> 3, b.subarray(p, p + n)]);
      p += n;
    }
  }
  return out;
}
/** brpc's masked CRC32C, 4 bytes big-endian. */
function maskedCrc32c(data: Buffer): Buffer {
  const crc = crc32c(data) >>> 0;
  const masked = (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
  const b = Buffer.alloc(4);
  b.writeUInt32BE(masked);
  return b;
}

// --- one request, by hand ---------------------------------------------------
const message = lfield(1, "hello wire"); // EchoRequest.message = 1
const attachment = Buffer.from("attached");
const meta = Buffer.concat([
  lfield(1, Buffer.concat([lfield(1, "example.EchoService"), lfield(2, "Echo"), vfield(3, 1000)])), // request
  vfield(3, 0), // compress_type NONE
  vfield(4, 1), // correlation_id
  vfield(5, attachment.length), // attachment_size
  vfield(10, 0), // content_type PB
  vfield(11, 1), // checksum_type CRC32C
  lfield(12, maskedCrc32c(message)), // checksum_value over the message bytes only
]);
const header = Buffer.alloc(12);
header.write("PRPC", 0, "latin1");
header.writeUInt32BE(meta.length + message.length + attachment.length, 4); // body_size
header.writeUInt32BE(meta.length, 8); // meta_size
const frame = Buffer.concat([header, meta, message, attachment]);
console.log(`request frame (${frame.length} bytes): ${frame.toString("hex")}`);

const server = new Server();
server.addService(EchoService, peerService); // echoes message and attachment
await server.start("127.0.0.1:0");

/** Send one frame on a new connection and collect one response frame. */
function roundTrip(bytes: Buffer): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect({ host: "127.0.0.1", port: server.port }, () => s.write(bytes));
    s.on("error", reject);
    s.on("data", (d: Buffer) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (all.length >= 12 && all.length >= 12 + all.readUInt32BE(4)) {
        s.destroy();
        resolve(all);
      }
    });
  });
}

const response = await roundTrip(frame);
console.log(`response frame (${response.length} bytes): ${response.toString("hex")}`);
assert.equal(response.toString("latin1", 0, 4), "PRPC");
const bodySize = response.readUInt32BE(4);
const metaSize = response.readUInt32BE(8);
const rmeta = fields(response.subarray(12, 12 + metaSize));
const payload = response.subarray(12 + metaSize, 12 + bodySize);
for (const [no, v] of rmeta) {
  const shown = Buffer.isBuffer(v) ? `bytes ${v.toString("hex") || "(empty)"}` : String(v);
  console.log(`  RpcMeta field ${no}: ${shown}`);
}
const attSize = Number(rmeta.find(([no]) => no === 5)?.[1] ?? 0n);
console.log(
  `  payload: message ${payload.subarray(0, payload.length - attSize).toString("hex")}, attachment "${payload.subarray(payload.length - attSize)}"`,
);
assert.equal(rmeta.find(([no]) => no === 4)?.[1], 1n); // correlation_id echoed
assert.equal(payload.subarray(payload.length - attSize).toString(), "attached");

// A corrupted checksum: the server answers EREQUEST (meta only) with brpc 1.17's text, the
// same as for a body that does not decode, and keeps the connection.
const corrupted = Buffer.from(frame);
corrupted[12 + meta.length - 1] ^= 0xff; // last byte of checksum_value
const rejected = fields(await roundTrip(corrupted).then((r) => r.subarray(12, 12 + r.readUInt32BE(8))));
const status = fields(rejected.find(([no]) => no === 2)?.[1] as Buffer);
console.log(`corrupted checksum: error_code=${status[0]?.[1]} error_text="${status[1]?.[1]}"`);
assert.equal(status[0]?.[1], 1003n);
assert.match(
  String(status[1]?.[1]),
  /\]\[E1003\]Fail to parse request=example\.EchoRequest, ContentType=pb, CompressType=none, ChecksumType=crc32c, request_size=20$/,
);

// --- a custom compressor: usable by name and wire number on both sides ----
const brotli: Compressor = {
  type: 100, // not a brpc value: only brpc-ts peers with the same registration understand it
  name: "brotli",
  compress: (data) => brotliCompressSync(data),
  decompress: (data, maxSize) => brotliDecompressSync(data, { maxOutputLength: Math.max(1, maxSize) }),
};
registerCompressor(brotli);
// Names and wire numbers are unique: 2 is gzip's.
assert.throws(
  () => registerCompressor({ ...brotli, type: 2, name: "brotli2" }),
  /already registered as "gzip"/,
);
const ch = new Channel(server.address, { compressType: "brotli" });
const cntl = new Controller();
const big = "brotli ".repeat(1000);
const res = await ch.client(EchoService).echo({ message: big }, { controller: cntl });
assert.equal(res.message, big);
console.log(`custom compressor: request and response compress_type=${cntl.responseCompressType}`);
ch.close();
await server.stop();
console.log("done");
