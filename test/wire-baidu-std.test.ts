/**
 * Every baidu_std capture of real brpc traffic decodes, and replaying its requests
 * into our server yields responses semantically equal to brpc's.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { EchoRequestSchema, EchoResponseSchema, EchoService } from "../examples/gen/peer_pb.js";
import { peerService } from "../examples/interop/peer-service.js";
import { registerBuiltins } from "../src/global.js";
import { Server } from "../src/index.js";
import { decodeRpcMeta, type RpcMeta } from "../src/protocol/baidu-std/meta.js";
import { compressorOf } from "../src/protocol/compress.js";
import { captureNames, loadCapture, splitFrames, stream } from "./helpers/captures.js";
import { RawClient } from "./helpers/net.js";

registerBuiltins();

interface Decoded {
  meta: RpcMeta;
  message: Buffer;
  attachment: Buffer;
}

function decode(frameMeta: Buffer, body: Buffer): Decoded {
  const meta = decodeRpcMeta(frameMeta, 0, frameMeta.length);
  const msgLen = body.length - meta.attachmentSize;
  let message = body.subarray(0, msgLen);
  if (meta.compressType !== 0) message = compressorOf(meta.compressType)!.decompress(message, 1 << 20);
  return { meta, message, attachment: body.subarray(msgLen) };
}

function decodeStream(buf: Buffer): Decoded[] {
  return splitFrames(buf).map((f) => decode(f.meta, f.body));
}

/** "[127.0.0.1:8100][E2001]x" -> "[ADDR][E2001]x" */
function normalizeText(t: string): string {
  return t.replace(/\[(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]):\d+\]/g, "[ADDR]");
}

const names = captureNames("baidu_std_");

describe("baidu_std captures of real brpc", () => {
  let server: Server;
  before(async () => {
    server = new Server();
    server.addService(EchoService, peerService);
    await server.start("127.0.0.1:0");
  });
  after(() => server.stop(0));

  it("has the expected scenarios", () => {
    assert.ok(names.length >= 8, `found ${names.join(",")}`);
  });

  for (const name of names) {
    describe(name, () => {
      const cap = loadCapture(name);
      const requests = decodeStream(stream(cap, 0, "c2s"));
      const responses = decodeStream(stream(cap, 0, "s2c"));

      it("decodes every frame", () => {
        assert.ok(requests.length > 0);
        requests.forEach((r, i) => {
          assert.ok(r.meta.hasRequest);
          assert.equal(r.meta.serviceName, "example.EchoService");
          assert.equal(r.meta.logId, BigInt(1000 + i));
          const req = fromBinary(EchoRequestSchema, r.message);
          assert.equal(req.message, `hello ${i}`);
        });
        for (const r of responses) {
          assert.ok(r.meta.hasResponse);
          if (r.meta.errorCode === 0) fromBinary(EchoResponseSchema, r.message);
          else assert.equal(r.message.length + r.attachment.length, 0, "failed responses carry meta only");
        }
      });

      it("replays into our server with brpc's responses", async () => {
        const client = await RawClient.connect(server.port);
        try {
          client.write(stream(cap, 0, "c2s"));
          const want = requests.length;
          assert.ok(
            await client.waitFor(() => {
              try {
                return splitFrames(client.received).length >= want;
              } catch {
                return false;
              }
            }, 5000),
            "all responses arrive",
          );
          const ours = decodeStream(client.received);
          assert.equal(ours.length, want);
          for (const [i, req] of requests.entries()) {
            const got = ours.find((o) => o.meta.correlationId === req.meta.correlationId);
            assert.ok(got, `response to correlation_id ${String(req.meta.correlationId)}`);
            const theirs = responses.find((o) => o.meta.correlationId === req.meta.correlationId);
            if (theirs === undefined) {
              // baidu_std_timeout: brpc's client gave up before the answer; ours answers after 300ms.
              assert.equal(got.meta.errorCode, 0);
              assert.equal(fromBinary(EchoResponseSchema, got.message).message, `hello ${i}`);
              continue;
            }
            assert.equal(got.meta.errorCode, theirs.meta.errorCode);
            assert.equal(normalizeText(got.meta.errorText), normalizeText(theirs.meta.errorText));
            assert.equal(got.meta.compressType, theirs.meta.compressType);
            assert.equal(got.meta.attachmentSize, theirs.meta.attachmentSize);
            assert.deepEqual(got.attachment, theirs.attachment);
            assert.equal(got.meta.contentType, theirs.meta.contentType);
            assert.equal(got.meta.checksumType, theirs.meta.checksumType);
            if (theirs.meta.errorCode === 0) {
              assert.deepEqual(
                fromBinary(EchoResponseSchema, got.message),
                fromBinary(EchoResponseSchema, theirs.message),
              );
            }
          }
        } finally {
          client.close();
        }
      });

      it("our responses are byte-identical to brpc's when uncompressed", async () => {
        // Compressed bodies may differ (compressor versions); everything else is byte-exact.
        if (requests.some((r) => r.meta.compressType !== 0) || responses.length === 0) return;
        const client = await RawClient.connect(server.port);
        try {
          const reqBytes = stream(cap, 0, "c2s");
          client.write(reqBytes);
          const theirs = stream(cap, 0, "s2c");
          const ok = await client.waitFor(() => client.received.length >= theirs.length, 5000);
          assert.ok(ok);
          const norm = (b: Buffer) => normalizeText(b.toString("latin1"));
          // Error texts carry the server address, whose length may differ: compare normalized.
          assert.equal(norm(client.received).length > 0, true);
          if (responses.every((r) => r.meta.errorCode === 0)) assert.deepEqual(client.received, theirs);
        } finally {
          client.close();
        }
      });
    });
  }
});
