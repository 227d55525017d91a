/** Client-side metrics of channels: per method latency and errors under `rpc_client_<address>`. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { EchoService } from "../examples/gen/peer_pb.js";
import {
  Channel,
  defaultRegistry,
  defaultSampler,
  ErrorCode,
  listVariables,
  type Server,
} from "../src/index.js";
import { num } from "./helpers/metrics.js";
import { failure, startEchoServer } from "./helpers/servers.js";

const ECHO = "example_echo_service_echo";

describe("channel metrics", () => {
  let server: Server;
  let prefix: string;
  before(async () => {
    server = await startEchoServer();
    prefix = `rpc_client_127_0_0_1_${server.port}`;
  });
  after(async () => {
    await server.stop(0);
  });

  it("baidu_std: count, latency and errors per method", async () => {
    const ch = new Channel(server.address, { maxRetry: 0, timeoutMs: 3000 });
    try {
      assert.equal(ch.metrics?.prefix, prefix);
      const echo = ch.client(EchoService);
      for (let i = 0; i < 10; i++) await echo.echo({ message: "x" });
      await echo.echo({ message: "slow", sleepMs: 20 });
      for (let i = 0; i < 2; i++) await failure(echo.echo({ message: "x", failCode: ErrorCode.EINTERNAL }));
      defaultSampler.tick();
      defaultSampler.tick(performance.now() + 1);
      assert.equal(num(`${prefix}_${ECHO}_count`), 11);
      assert.equal(num(`${prefix}_${ECHO}_error`), 2);
      const max = num(`${prefix}_${ECHO}_max_latency`);
      assert.ok(max >= 19_000 && max < 2_000_000, `max_latency ${max}`);
      assert.ok(num(`${prefix}_${ECHO}_latency`) > 0);
      assert.ok(num(`${prefix}_${ECHO}_qps`) > 0);
      for (const part of ["latency_80", "latency_90", "latency_99", "latency_999", "latency_9999", "eps"]) {
        assert.ok(defaultRegistry.has(`${prefix}_${ECHO}_${part}`), part);
      }
      const st = ch.metrics?.methods.get("example.EchoService.Echo");
      assert.equal(st?.count, 11);
      assert.equal(st?.errorCount, 2);
    } finally {
      ch.close();
    }
    // The last channel of the prefix closed: hidden.
    assert.deepEqual(listVariables(`${prefix}_*`), []);
  });

  it("timeouts and canceled calls are errors", async () => {
    const ch = new Channel(server.address, { maxRetry: 0, timeoutMs: 50 });
    try {
      const echo = ch.client(EchoService);
      const e = await failure(echo.echo({ message: "x", sleepMs: 300 }));
      assert.equal(e.code, ErrorCode.ERPCTIMEDOUT);
      const ac = new AbortController();
      ac.abort();
      await failure(echo.echo({ message: "x" }, { signal: ac.signal }));
      assert.equal(num(`${prefix}_${ECHO}_error`), 2);
      assert.equal(num(`${prefix}_${ECHO}_count`), 0);
    } finally {
      ch.close();
    }
  });

  it("channels of one address share the variables until the last one closes", async () => {
    const a = new Channel(server.address, { maxRetry: 0 });
    const b = new Channel(server.address, { maxRetry: 0 });
    assert.equal(a.metrics, b.metrics);
    await a.client(EchoService).echo({ message: "a" });
    await b.client(EchoService).echo({ message: "b" });
    assert.equal(num(`${prefix}_${ECHO}_count`), 2);
    a.close();
    a.close(); // twice: still one release
    assert.equal(num(`${prefix}_${ECHO}_count`), 2);
    b.close();
    assert.deepEqual(listVariables(`${prefix}_*`), []);
  });

  it("h2:grpc channels are counted too", async () => {
    const g = new Channel(server.address, { protocol: "h2:grpc", maxRetry: 0, metricsName: "grpc_peer" });
    try {
      assert.equal(g.metrics?.prefix, "rpc_client_grpc_peer");
      const echo = g.client(EchoService);
      for (let i = 0; i < 3; i++) await echo.echo({ message: "g" });
      await failure(echo.echo({ message: "x", failCode: ErrorCode.EINTERNAL }));
      assert.equal(num(`rpc_client_grpc_peer_${ECHO}_count`), 3);
      assert.equal(num(`rpc_client_grpc_peer_${ECHO}_error`), 1);
    } finally {
      g.close();
    }
  });

  it("metrics: false records and exposes nothing", async () => {
    const ch = new Channel(server.address, { maxRetry: 0, metrics: false });
    try {
      assert.equal(ch.metrics, undefined);
      await ch.client(EchoService).echo({ message: "x" });
      assert.deepEqual(listVariables("rpc_client_*"), []);
    } finally {
      ch.close();
    }
  });
});
