/**
 * The h2 and h2:grpc Channel protocols against a raw node:http2 server scripted per test:
 * what goes on the wire (headers, framing, gzip) and how every kind of answer is
 * reported (trailers-only errors, missing grpc-status, non-200, RST_STREAM, bad frames,
 * compressed responses, JSON variants).
 */
import assert from "node:assert/strict";
import { constants as h2c } from "node:http2";
import { after, before, beforeEach, describe, it } from "node:test";
import { deflateSync, gunzipSync, gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EchoRequestSchema, EchoResponseSchema, EchoService } from "../examples/gen/peer_pb.js";
import { Channel, Controller, ErrorCode } from "../src/index.js";
import { StreamService } from "./gen/client_stream_pb.js";
import {
  grpcFrame,
  grpcMessages,
  grpcRespond,
  type H2Peer,
  startH2Peer,
} from "./helpers/client-h2-server.js";
import { eventually, failure } from "./helpers/servers.js";

const reply = (message: string) => toBinary(EchoResponseSchema, create(EchoResponseSchema, { message }));

/** Answer every gRPC request with its message echoed back. */
function echoGrpc(r: import("./helpers/client-h2-server.js").H2Request): void {
  const [m] = grpcMessages(r.body);
  const data = m?.compressed ? gunzipSync(m.data) : m?.data;
  const req = fromBinary(EchoRequestSchema, data ?? Buffer.alloc(0));
  grpcRespond(r.stream, grpcFrame(reply(req.message)), { "grpc-status": "0" });
}

describe("h2:grpc on the wire (raw h2 server)", () => {
  let peer: H2Peer;
  let ch: Channel;
  before(async () => {
    peer = await startH2Peer(echoGrpc);
    ch = new Channel(peer.address, { protocol: "h2:grpc", timeoutMs: 1000, maxRetry: 0 });
  });
  beforeEach(() => peer.handle(echoGrpc));
  after(async () => {
    ch.close();
    await peer.close();
  });

  it("request headers and framing are brpc's", async () => {
    await ch.client(EchoService).echo({ message: "hello 0" }, { logId: 1000 });
    const r = peer.requests.at(-1);
    assert.ok(r !== undefined);
    assert.equal(r.headers[":method"], "POST");
    assert.equal(r.headers[":path"], "/example.EchoService/Echo");
    assert.equal(r.headers[":scheme"], "http");
    assert.equal(r.headers[":authority"], peer.address);
    assert.equal(r.headers["content-type"], "application/grpc");
    assert.equal(r.headers.te, "trailers");
    assert.equal(r.headers.accept, "*/*");
    assert.equal(r.headers["user-agent"], "brpc/1.0 curl/7.0");
    assert.equal(r.headers["log-id"], "1000");
    // What is left of the 1000 ms deadline when the request goes out.
    const left = /^(\d+)m$/.exec(String(r.headers["grpc-timeout"]));
    assert.ok(
      left !== null && Number(left[1]) > 0 && Number(left[1]) <= 1000,
      String(r.headers["grpc-timeout"]),
    );
    assert.equal(r.headers["grpc-encoding"], undefined);
    const msgs = grpcMessages(r.body);
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0]?.compressed, false);
    assert.equal(fromBinary(EchoRequestSchema, msgs[0]?.data as Buffer).message, "hello 0");
  });

  it("gzip: the message is compressed (flag 1) and grpc-encoding says gzip", async () => {
    const res = await ch.client(EchoService).echo({ message: "zip" }, { compressType: "gzip" });
    assert.equal(res.message, "zip");
    const r = peer.requests.at(-1);
    assert.equal(r?.headers["grpc-encoding"], "gzip");
    const [m] = grpcMessages(r?.body as Buffer);
    assert.equal(m?.compressed, true);
    assert.equal(fromBinary(EchoRequestSchema, gunzipSync(m?.data as Buffer)).message, "zip");
  });

  it("compressed responses: gzip and deflate are decompressed", async () => {
    for (const [enc, fn] of [
      ["gzip", gzipSync],
      ["deflate", deflateSync],
    ] as const) {
      peer.handle((r) =>
        grpcRespond(
          r.stream,
          grpcFrame(fn(reply(`packed-${enc}`)), true),
          { "grpc-status": "0" },
          {
            "grpc-encoding": enc,
          },
        ),
      );
      const cntl = new Controller();
      const res = await ch.client(EchoService).echo({ message: "x" }, { controller: cntl });
      assert.equal(res.message, `packed-${enc}`);
      assert.equal(cntl.responseCompressType, 2);
    }
  });

  it("a compressed response without grpc-encoding: ERESPONSE", async () => {
    peer.handle((r) => grpcRespond(r.stream, grpcFrame(gzipSync(reply("x")), true), { "grpc-status": "0" }));
    const e = await failure(ch.client(EchoService).echo({ message: "x" }));
    assert.equal(e.code, ErrorCode.ERESPONSE);
    assert.match(e.text, /grpc-encoding/);
  });

  it("a trailers-only error: the status in the headers is mapped, grpc-message percent-decoded", async () => {
    peer.handle((r) =>
      r.stream.respond(
        {
          ":status": 200,
          "content-type": "application/grpc",
          "grpc-status": "8",
          "grpc-message": "too%20many%3A%20%E4%BD%A0",
        },
        { endStream: true },
      ),
    );
    const e = await failure(ch.client(EchoService).echo({ message: "x" }));
    assert.equal(e.code, ErrorCode.ELIMIT);
    assert.equal(e.text, "[E2004]too many: 你");
  });

  it("an error without grpc-message uses brpc's status name", async () => {
    peer.handle((r) => grpcRespond(r.stream, Buffer.alloc(0), { "grpc-status": "5" }));
    const e = await failure(ch.client(EchoService).echo({ message: "x" }));
    assert.equal(e.code, ErrorCode.EINTERNAL);
    assert.equal(e.text, "[E2001]GRPC_NOTFOUND");
  });

  it("a response without grpc-status is INTERNAL", async () => {
    peer.handle((r) => {
      r.stream.respond({ ":status": 200, "content-type": "application/grpc" });
      r.stream.end(grpcFrame(reply("x")));
    });
    const e = await failure(ch.client(EchoService).echo({ message: "x" }));
    assert.equal(e.code, ErrorCode.EINTERNAL);
    assert.match(e.text, /Missing grpc-status/);
  });

  it("a non-200 answer without grpc-status: EHTTP with the body", async () => {
    peer.handle((r) => {
      r.stream.respond({ ":status": 503, "content-type": "text/plain" });
      r.stream.end("busy");
    });
    const cntl = new Controller();
    const e = await failure(ch.client(EchoService).echo({ message: "x" }, { controller: cntl }));
    assert.equal(e.code, ErrorCode.EHTTP);
    assert.equal(e.text, "[E1010]HTTP/2.0 503 Service Unavailable: busy");
    assert.equal(cntl.httpStatusCode, 503);
  });

  it("RST_STREAM from the server: EHTTP with brpc's status for the h2 error", async () => {
    peer.handle((r) => r.stream.close(h2c.NGHTTP2_REFUSED_STREAM));
    const e1 = await failure(ch.client(EchoService).echo({ message: "x" }));
    assert.equal(e1.code, ErrorCode.EHTTP);
    assert.equal(e1.text, "[E1010]HTTP/2.0 503 Service Unavailable");
    peer.handle((r) => r.stream.close(h2c.NGHTTP2_INTERNAL_ERROR));
    const e2 = await failure(ch.client(EchoService).echo({ message: "x" }));
    assert.equal(e2.text, "[E1010]HTTP/2.0 500 Internal Server Error");
  });

  it("two messages for a unary call, or a bad frame: ERESPONSE", async () => {
    peer.handle((r) =>
      grpcRespond(r.stream, Buffer.concat([grpcFrame(reply("a")), grpcFrame(reply("b"))]), {
        "grpc-status": "0",
      }),
    );
    const e1 = await failure(ch.client(EchoService).echo({ message: "x" }));
    assert.equal(e1.code, ErrorCode.ERESPONSE);
    peer.handle((r) => grpcRespond(r.stream, Buffer.from([7, 0, 0, 0, 1, 0]), { "grpc-status": "0" }));
    const e2 = await failure(ch.client(EchoService).echo({ message: "x" }));
    assert.equal(e2.code, ErrorCode.ERESPONSE);
    peer.handle((r) => grpcRespond(r.stream, grpcFrame(Buffer.from([0xff, 0xff])), { "grpc-status": "0" }));
    const e3 = await failure(ch.client(EchoService).echo({ message: "x" }));
    assert.equal(e3.code, ErrorCode.ERESPONSE);
    assert.match(e3.text, /Fail to parse content as example.EchoResponse/);
  });

  it("a response larger than maxBodySize: ERESPONSE", async () => {
    const small = new Channel(peer.address, { protocol: "h2:grpc", maxBodySize: 100, maxRetry: 0 });
    const e = await failure(small.client(EchoService).echo({ message: "y".repeat(500) }));
    assert.equal(e.code, ErrorCode.ERESPONSE);
    small.close();
  });

  it("the session dies mid-call: the call is retried on a new session", async () => {
    let n = 0;
    peer.handle((r) => {
      if (n++ === 0) r.stream.session?.destroy();
      else echoGrpc(r);
    });
    const retrying = new Channel(peer.address, { protocol: "h2:grpc", maxRetry: 2, timeoutMs: 3000 });
    const cntl = new Controller();
    const res = await retrying.client(EchoService).echo({ message: "again" }, { controller: cntl });
    assert.equal(res.message, "again");
    assert.equal(cntl.retriedCount, 1);
    retrying.close();
  });

  it("h2:grpc+json sends and reads JSON messages", async () => {
    peer.handle((r) => {
      const [m] = grpcMessages(r.body);
      const req = JSON.parse(m?.data.toString() ?? "{}") as { message: string };
      grpcRespond(
        r.stream,
        grpcFrame(Buffer.from(JSON.stringify({ message: `json:${req.message}` }))),
        { "grpc-status": "0" },
        { "content-type": "application/grpc+json" },
      );
    });
    const j = new Channel(peer.address, { protocol: "h2:grpc+json", maxRetry: 0 });
    const res = await j.client(EchoService).echo({ message: "hi", failCode: 3 });
    assert.equal(res.message, "json:hi");
    const r = peer.requests.at(-1);
    assert.equal(r?.headers["content-type"], "application/grpc+json");
    assert.deepEqual(JSON.parse(grpcMessages(r?.body as Buffer)[0]?.data.toString() ?? ""), {
      message: "hi",
      fail_code: 3,
    });
    j.close();
  });
});

describe("h2 (HTTP semantics) on the wire (raw h2 server)", () => {
  let peer: H2Peer;
  before(async () => {
    peer = await startH2Peer();
  });
  after(() => peer.close());

  it("h2 = h2:proto: application/proto bodies both ways", async () => {
    peer.handle((r) => {
      const req = fromBinary(EchoRequestSchema, r.body);
      r.stream.respond({ ":status": 200, "content-type": "application/proto" });
      r.stream.end(reply(`pb:${req.message}`));
    });
    const ch = new Channel(peer.address, { protocol: "h2", maxRetry: 0 });
    const res = await ch.client(EchoService).echo({ message: "a" }, { logId: 7, requestId: "rid" });
    assert.equal(res.message, "pb:a");
    const r = peer.requests.at(-1);
    assert.equal(r?.headers["content-type"], "application/proto");
    assert.equal(r?.headers["log-id"], "7");
    assert.equal(r?.headers["x-request-id"], "rid");
    assert.equal(r?.headers.te, undefined);
    ch.close();
  });

  it("h2:json: JSON bodies; errors are EHTTP with HTTP/2.0 and the body", async () => {
    peer.handle((r) => {
      const req = JSON.parse(r.body.toString()) as { message: string; fail_code?: number };
      if (req.fail_code) {
        r.stream.respond({ ":status": 500, "content-type": "text/plain", "x-bd-error-code": "2001" });
        r.stream.end(`[E2001]failed on purpose: ${req.message}`);
        return;
      }
      r.stream.respond({ ":status": 200, "content-type": "application/json" });
      r.stream.end(JSON.stringify({ message: `json:${req.message}` }));
    });
    const ch = new Channel(peer.address, { protocol: "h2:json", maxRetry: 0 });
    assert.equal((await ch.client(EchoService).echo({ message: "b" })).message, "json:b");
    assert.equal(peer.requests.at(-1)?.headers["content-type"], "application/json");
    const e = await failure(ch.client(EchoService).echo({ message: "c", failCode: 2001 }));
    assert.equal(e.code, ErrorCode.EHTTP);
    assert.equal(e.text, "[E1010]HTTP/2.0 500 Internal Server Error: [E2001]failed on purpose: c");
    ch.close();
  });
});

describe("h2:grpc client streaming: a server that answers before the requests end", () => {
  it("the call fails with the status, the request iterable is closed, the stream does not linger", async () => {
    const peer = await startH2Peer();
    let serverStreamClosed = false;
    // Answer after the first message, without waiting for the client's end of stream.
    peer.server.prependListener("stream", (stream) => {
      stream.once("data", () => {
        stream.respond(
          {
            ":status": 200,
            "content-type": "application/grpc",
            "grpc-status": "3",
            "grpc-message": "enough",
          },
          { endStream: true },
        );
      });
      stream.once("close", () => {
        serverStreamClosed = true;
      });
    });
    let generatorClosed = false;
    async function* forever() {
      try {
        for (let i = 0; ; i++) {
          yield { value: i };
          await new Promise((r) => setTimeout(r, 5));
        }
      } finally {
        generatorClosed = true;
      }
    }
    const ch = new Channel(peer.address, { protocol: "h2:grpc", timeoutMs: 5000, maxRetry: 0 });
    const e = await failure(ch.client(StreamService).sum(forever()));
    assert.equal(e.code, ErrorCode.EINVAL);
    assert.equal(e.text, "[E22]enough");
    assert.ok(await eventually(() => generatorClosed));
    assert.ok(await eventually(() => serverStreamClosed));
    ch.close();
    await peer.close();
  });
});
