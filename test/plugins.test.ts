/**
 * Plug-in registration: a compressor the user registers before the first Server or
 * Channel takes precedence over the built-in of the same wire number (this file runs in
 * its own process, so the built-ins are not registered yet when it starts).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EchoService } from "../examples/gen/peer_pb.js";
import { Channel, type Compressor, Controller, registerCompressor, Server } from "../src/index.js";
import { compressorOf, compressors } from "../src/protocol/compress.js";
import { protocols } from "../src/protocol/protocol.js";

describe("plug-in registration", () => {
  it("a user compressor registered first keeps its number; the other built-ins still register", async () => {
    let used = 0;
    const identity: Compressor = {
      type: 1, // snappy's number
      name: "identity",
      compress: (d) => {
        used++;
        return Buffer.from(d);
      },
      decompress: (d) => Buffer.from(d),
    };
    registerCompressor(identity);
    const server = new Server();
    server.addService(EchoService, {
      echo(req, ctx) {
        ctx.responseCompressType = ctx.requestCompressType;
        return { message: req.message };
      },
    });
    await server.start("127.0.0.1:0");
    assert.equal(compressorOf(1), identity);
    assert.equal(compressors.find("snappy"), undefined);
    assert.ok(compressors.find("gzip") !== undefined && compressors.find("zlib") !== undefined);
    assert.ok(protocols.find("baidu_std") !== undefined);
    const ch = new Channel(server.address, { maxRetry: 0 });
    const cntl = new Controller();
    const res = await ch
      .client(EchoService)
      .echo({ message: "mine" }, { compressType: "identity", controller: cntl });
    assert.equal(res.message, "mine");
    assert.equal(cntl.responseCompressType, 1);
    assert.ok(used >= 2, "used on both sides");
    assert.throws(
      () => registerCompressor({ ...identity, name: "other" }),
      /already registered as "identity"/,
    );
    ch.close();
    await server.stop(0);
  });
});
