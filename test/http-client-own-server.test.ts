/**
 * Our HTTP / h2 / gRPC client against our own server (HTTP/1.1 + h2 + gRPC on the
 * baidu_std port): every protocol variant for echo, failures and missing methods, and
 * the three gRPC streaming kinds, user fields both ways.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { EchoService } from "../examples/gen/peer_pb.js";
import { peerService } from "../examples/interop/peer-service.js";
import { Channel, Controller, ErrorCode, RpcError, Server, type ServiceImpl } from "../src/index.js";
import { StreamService } from "./gen/client_stream_pb.js";
import { failure } from "./helpers/servers.js";

/** clienttest.StreamService on our server. */
const streamService: ServiceImpl<typeof StreamService> = {
  echo(req) {
    return req;
  },
  async *count(req) {
    for (let i = 0; i < Math.abs(req.value); i++) {
      if (req.text === "slow") await sleep(20);
      yield { value: i, text: req.text };
    }
    if (req.value < 0) throw new RpcError(ErrorCode.EREQUEST, `stopped after ${-req.value} items`);
  },
  async sum(reqs) {
    let sum = 0;
    let count = 0;
    for await (const r of reqs) {
      sum += r.value;
      count++;
    }
    return { sum, count };
  },
  async *chat(reqs) {
    for await (const r of reqs) yield { value: r.value * 10, text: r.text };
  },
};

describe("our client -> our server (http, h2, gRPC on the baidu_std port)", () => {
  let server: Server;
  before(async () => {
    server = new Server({});
    server.addService(EchoService, peerService);
    server.addService(StreamService, streamService);
    await server.start("127.0.0.1:0");
  });
  after(() => server.stop(0));

  it("user fields both ways: request headers / metadata in, ctx.responseUserFields out", async () => {
    const seen: (Record<string, string> | undefined)[] = [];
    const s = new Server({});
    s.addService(EchoService, {
      echo(req, ctx) {
        seen.push(ctx.requestUserFields);
        ctx.responseUserFields = { "x-answer": `to ${ctx.requestUserFields?.["x-user"] ?? "nobody"}` };
        return { message: req.message };
      },
    });
    await s.start("127.0.0.1:0");
    try {
      for (const protocol of ["baidu_std", "http", "h2", "h2:grpc"]) {
        const ch = new Channel(s.address, { protocol, timeoutMs: 2000, maxRetry: 0 });
        const cntl = new Controller();
        await ch
          .client(EchoService)
          .echo({ message: "m" }, { userFields: { "x-user": protocol }, controller: cntl });
        assert.deepEqual(seen.pop(), { "x-user": protocol }, protocol);
        assert.equal(cntl.responseUserFields?.["x-answer"], `to ${protocol}`, protocol);
        ch.close();
      }
    } finally {
      await s.stop(0);
    }
  });

  const grpcProtocols = ["h2:grpc", "h2:grpc+json"];
  for (const protocol of ["http", "http:json", "http:proto", "h2", "h2:json", "h2:proto", ...grpcProtocols]) {
    const grpc = grpcProtocols.includes(protocol);
    it(`${protocol}: echo, failure, missing method, timeout`, async () => {
      const ch = new Channel(server.address, { protocol, timeoutMs: 2000, maxRetry: 0 });
      const echo = ch.client(EchoService);
      const cntl = new Controller();
      const res = await echo.echo({ message: "hello 0" }, { controller: cntl, logId: 42 });
      assert.equal(res.message, "hello 0");
      assert.equal(cntl.remoteSide, server.address);
      const fail = await failure(echo.echo({ message: "hello 0", failCode: 2001 }));
      const missing = await failure(echo.missing({ message: "m" }));
      if (grpc) {
        assert.equal(fail.code, ErrorCode.EINTERNAL);
        assert.equal(fail.text, `[E2001][${server.address}][E2001]failed on purpose: hello 0`);
        assert.equal(missing.code, ErrorCode.ENOMETHOD);
      } else {
        const v = protocol.startsWith("h2") ? "2.0" : "1.1";
        assert.equal(fail.code, ErrorCode.EHTTP);
        assert.equal(
          fail.text,
          `[E1010]HTTP/${v} 500 Internal Server Error: [${server.address}][E2001]failed on purpose: hello 0`,
        );
        assert.equal(missing.code, ErrorCode.EHTTP);
        assert.match(missing.text, new RegExp(`^\\[E1010\\]HTTP/${v.replace(".", "\\.")} 404 Not Found`));
      }
      const slow = await failure(echo.echo({ message: "s", sleepMs: 300 }, { timeoutMs: 100 }));
      assert.equal(slow.code, ErrorCode.ERPCTIMEDOUT);
      ch.close();
    });
  }

  it("h2:grpc gzip both ways: the server answers compressed like the request", async () => {
    const ch = new Channel(server.address, { protocol: "h2:grpc", timeoutMs: 2000, maxRetry: 0 });
    const cntl = new Controller();
    const big = "gzip ".repeat(500);
    const res = await ch
      .client(EchoService)
      .echo({ message: big }, { compressType: "gzip", controller: cntl });
    assert.equal(res.message, big);
    assert.equal(cntl.httpResponseHeaders?.["grpc-encoding"], "gzip");
    assert.equal(cntl.responseCompressType, 2);
    ch.close();
  });

  it("h2:grpc streaming: server, client and bidi streaming against our server", async () => {
    const ch = new Channel(server.address, { protocol: "h2:grpc", timeoutMs: 5000, maxRetry: 0 });
    const svc = ch.client(StreamService);
    const got: number[] = [];
    for await (const it of svc.count({ value: 4, text: "t" })) got.push(it.value);
    assert.deepEqual(got, [0, 1, 2, 3]);
    const total = await svc.sum([{ value: 1 }, { value: 2 }, { value: 3 }]);
    assert.equal(total.sum, 6);
    assert.equal(total.count, 3);
    const replies: number[] = [];
    for await (const r of svc.chat([{ value: 1 }, { value: 2 }])) replies.push(r.value);
    assert.deepEqual(replies, [10, 20]);
    let err: unknown;
    const before: number[] = [];
    try {
      for await (const it of svc.count({ value: -2 })) before.push(it.value);
    } catch (e) {
      err = e;
    }
    assert.deepEqual(before, [0, 1]);
    assert.ok(err instanceof RpcError);
    assert.equal(err.code, ErrorCode.EINVAL);
    ch.close();
  });
});
