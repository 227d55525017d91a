/**
 * The automatic metrics of a server (brpc's server and method bvars): names, counts,
 * errors, latency, concurrency, non-service errors, lifecycle, `metrics: false`.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { EchoService } from "../examples/gen/peer_pb.js";
import {
  Channel,
  defaultRegistry,
  defaultSampler,
  describeVariable,
  ErrorCode,
  listVariables,
  prometheusText,
  Server,
  setLogSink,
} from "../src/index.js";
import { ConnectionRates } from "../src/transport/connection-stats.js";
import { num } from "./helpers/metrics.js";
import { eventually, failure, startEchoServer } from "./helpers/servers.js";

const ECHO = "example_echo_service_echo";

/** Two sampler ticks: windowed values (qps, latency, percentiles) include what was recorded. */
function tick(): void {
  defaultSampler.tick();
  defaultSampler.tick(performance.now() + 1);
}

describe("server metrics: names and values", () => {
  let server: Server;
  let ch: Channel;
  let p: string;
  before(async () => {
    server = await startEchoServer();
    ch = new Channel(server.address, { maxRetry: 0, timeoutMs: 3000 });
    p = server.metricsPrefix;
  });
  after(async () => {
    ch.close();
    await server.stop(0);
  });

  it("prefix is rpc_server_<port>", () => {
    assert.equal(p, `rpc_server_${server.port}`);
  });

  it("exposes brpc's server-wide and per-method names", () => {
    for (const n of [
      "error",
      "eps",
      "non_service_error",
      "concurrency",
      "connection_count",
      "service_count",
      "uptime",
      "start_time",
    ]) {
      assert.ok(defaultRegistry.has(`${p}_${n}`), `${p}_${n}`);
    }
    for (const n of [
      "count",
      "qps",
      "latency",
      "max_latency",
      "latency_80",
      "latency_90",
      "latency_99",
      "latency_999",
      "latency_9999",
      "latency_cdf",
      "latency_percentiles",
      "concurrency",
      "error",
      "eps",
    ]) {
      assert.ok(defaultRegistry.has(`${p}_${ECHO}_${n}`), `${p}_${ECHO}_${n}`);
    }
    // No limit configured: no max_concurrency (brpc exposes it only with a limiter).
    assert.equal(defaultRegistry.has(`${p}_${ECHO}_max_concurrency`), false);
    assert.equal(num(`${p}_service_count`), 1);
    assert.match(describeVariable(`${p}_start_time`) ?? "", /^\d{4}\/\d\d\/\d\d-\d\d:\d\d:\d\d$/);
    assert.ok(num(`${p}_uptime`) >= 0);
    // The process variables come with a running server.
    assert.ok(defaultRegistry.has("process_memory_resident"));
  });

  it("baidu_std: counts, latency and qps of successful calls", async () => {
    const before = num(`${p}_${ECHO}_count`);
    const echo = ch.client(EchoService);
    for (let i = 0; i < 20; i++) await echo.echo({ message: "m" });
    await echo.echo({ message: "slow", sleepMs: 30 });
    tick();
    assert.equal(num(`${p}_${ECHO}_count`), before + 21);
    assert.equal(num(`${p}_${ECHO}_error`), 0);
    const st = server.methodStatus("example.EchoService.Echo");
    assert.ok(st !== undefined);
    assert.equal(st.count, before + 21);
    assert.ok(st.latency.latency > 0);
    // The 30 ms call is the max, in microseconds.
    const max = num(`${p}_${ECHO}_max_latency`);
    assert.ok(max >= 29_000 && max < 2_000_000, `max_latency ${max}`);
    assert.ok(num(`${p}_${ECHO}_latency_9999`) >= num(`${p}_${ECHO}_latency_80`));
    assert.ok(num(`${p}_${ECHO}_qps`) > 0);
    assert.ok(num(`${p}_connection_count`) >= 1);
  });

  it("failed calls are errors, not counted calls", async () => {
    const count = num(`${p}_${ECHO}_count`);
    const errors = num(`${p}_${ECHO}_error`);
    const echo = ch.client(EchoService);
    for (let i = 0; i < 3; i++) {
      const e = await failure(echo.echo({ message: "bad", failCode: ErrorCode.EINTERNAL }));
      assert.equal(e.code, ErrorCode.EINTERNAL);
    }
    assert.equal(num(`${p}_${ECHO}_count`), count);
    assert.equal(num(`${p}_${ECHO}_error`), errors + 3);
    // Missing has no handler: an error of that method.
    await failure(echo.missing({ message: "x" }));
    assert.equal(num(`${p}_example_echo_service_missing_error`), 1);
    tick();
    assert.ok(num(`${p}_${ECHO}_eps`) > 0);
  });

  it("HTTP calls are counted; builtin pages are not", async () => {
    const count = num(`${p}_${ECHO}_count`);
    const nse = server.nonServiceErrors;
    for (let i = 0; i < 4; i++) {
      const r = await fetch(`http://127.0.0.1:${server.port}/example.EchoService/Echo`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ message: `http ${i}` }),
      });
      assert.equal(r.status, 200);
      await r.text();
    }
    assert.equal(num(`${p}_${ECHO}_count`), count + 4);
    const h = await fetch(`http://127.0.0.1:${server.port}/health`);
    await h.text();
    assert.equal(num(`${p}_${ECHO}_count`), count + 4);
    assert.equal(server.nonServiceErrors, nse);
  });

  it("gRPC calls are counted", async () => {
    const count = num(`${p}_${ECHO}_count`);
    const g = new Channel(server.address, { protocol: "h2:grpc", maxRetry: 0, timeoutMs: 3000 });
    try {
      const echo = g.client(EchoService);
      for (let i = 0; i < 5; i++) assert.equal((await echo.echo({ message: `g${i}` })).message, `g${i}`);
      await failure(echo.echo({ message: "bad", failCode: ErrorCode.EINTERNAL }));
    } finally {
      g.close();
    }
    assert.equal(num(`${p}_${ECHO}_count`), count + 5);
  });

  it("non-service errors: unknown service or method, over baidu_std and HTTP", async () => {
    const nse = server.nonServiceErrors;
    const methodErrors = num(`${p}_${ECHO}_error`);
    await failure(ch.callRaw("NoSuchService", "Echo", new Uint8Array()));
    await failure(ch.callRaw("example.EchoService", "Nope", new Uint8Array()));
    const r = await fetch(`http://127.0.0.1:${server.port}/NoSuch/Method`, { method: "POST", body: "{}" });
    await r.text();
    assert.equal(r.status, 404);
    assert.equal(server.nonServiceErrors, nse + 3);
    assert.equal(num(`${p}_non_service_error`), nse + 3);
    assert.equal(num(`${p}_error`), nse + 3);
    assert.equal(num(`${p}_${ECHO}_error`), methodErrors);
  });

  it("concurrency rises during slow calls and falls after", async () => {
    const echo = ch.client(EchoService);
    const calls = [1, 2, 3].map(() => echo.echo({ message: "slow", sleepMs: 300 }));
    assert.ok(await eventually(() => num(`${p}_${ECHO}_concurrency`) === 3), "method concurrency 3");
    assert.equal(num(`${p}_concurrency`), 3);
    assert.equal(server.methodStatus("example.EchoService.Echo")?.concurrency, 3);
    await Promise.all(calls);
    assert.equal(num(`${p}_${ECHO}_concurrency`), 0);
    assert.equal(num(`${p}_concurrency`), 0);
  });

  it("Prometheus: the method is a summary", () => {
    const text = prometheusText();
    assert.match(text, new RegExp(`# TYPE ${p}_${ECHO} summary`));
    assert.match(text, new RegExp(`^${p}_${ECHO}_count \\d+$`, "m"));
    assert.match(text, new RegExp(`^${p}_connection_count \\d+$`, "m"));
  });

  it("connections' traffic per second is sampled", async () => {
    const echo = ch.client(EchoService);
    defaultSampler.tick();
    for (let i = 0; i < 5; i++) await echo.echo({ message: "rate" });
    defaultSampler.tick();
    const conn = [...server.connections].find((c) => c.rates !== undefined && c.rates.inMessagesSecond > 0);
    assert.ok(conn?.rates !== undefined, "a connection with rates");
    assert.ok(conn.rates.inMessagesSecond >= 5);
    assert.ok(conn.rates.outBytesSecond > 0);
    assert.ok(conn.rates.inBytesMinute >= conn.rates.inBytesSecond);
  });
});

describe("server metrics: limits, lifecycle, options", () => {
  it("a method's ELIMIT is an error of the method; max_concurrency is exposed", async () => {
    const server = new Server();
    server.addService(
      EchoService,
      {
        echo: async (req) => {
          await sleep(200);
          return { message: req.message };
        },
      },
      { maxConcurrency: { Echo: 1 } },
    );
    await server.start("127.0.0.1:0");
    const ch = new Channel(server.address, { maxRetry: 0, timeoutMs: 3000 });
    try {
      const p = server.metricsPrefix;
      assert.equal(num(`${p}_${ECHO}_max_concurrency`), 1);
      const echo = ch.client(EchoService);
      const first = echo.echo({ message: "a" });
      await eventually(() => num(`${p}_${ECHO}_concurrency`) === 1);
      const e = await failure(echo.echo({ message: "b" }));
      assert.equal(e.code, ErrorCode.ELIMIT);
      await first;
      assert.equal(num(`${p}_${ECHO}_error`), 1);
      assert.equal(num(`${p}_${ECHO}_count`), 1);
      assert.equal(server.nonServiceErrors, 0);
    } finally {
      ch.close();
      await server.stop(0);
    }
  });

  it("stop hides the variables, a restart exposes them again with the counts kept", async () => {
    const server = await startEchoServer();
    const port = server.port;
    const p = server.metricsPrefix;
    const ch = new Channel(`127.0.0.1:${port}`, { maxRetry: 0, timeoutMs: 3000 });
    try {
      await ch.client(EchoService).echo({ message: "x" });
      assert.equal(num(`${p}_${ECHO}_count`), 1);
      await server.stop(0);
      assert.deepEqual(listVariables(`${p}_*`), []);
      await server.start(`127.0.0.1:${port}`);
      assert.equal(server.metricsPrefix, p);
      assert.equal(num(`${p}_${ECHO}_count`), 1);
      assert.ok(defaultRegistry.has(`${p}_connection_count`));
      const ch2 = new Channel(`127.0.0.1:${port}`, { maxRetry: 0, timeoutMs: 3000 });
      await ch2.client(EchoService).echo({ message: "y" });
      ch2.close();
      assert.equal(num(`${p}_${ECHO}_count`), 2);
    } finally {
      ch.close();
      await server.stop(0);
    }
    assert.deepEqual(listVariables(`${p}_*`), []);
  });

  it("two servers coexist under their ports", async () => {
    const a = await startEchoServer();
    const b = await startEchoServer();
    const ca = new Channel(a.address, { maxRetry: 0 });
    const cb = new Channel(b.address, { maxRetry: 0 });
    try {
      await ca.client(EchoService).echo({ message: "a" });
      for (let i = 0; i < 2; i++) await cb.client(EchoService).echo({ message: "b" });
      assert.equal(num(`${a.metricsPrefix}_${ECHO}_count`), 1);
      assert.equal(num(`${b.metricsPrefix}_${ECHO}_count`), 2);
    } finally {
      ca.close();
      cb.close();
      await a.stop(0);
      await b.stop(0);
    }
  });

  it("serverInfoName names the prefix; a taken name is logged once and does not throw", async () => {
    const logs: string[] = [];
    setLogSink((level, message) => {
      if (level === "warn") logs.push(message);
    });
    const a = await startEchoServer({ serverInfoName: "MyEcho" });
    const b = await startEchoServer({ serverInfoName: "MyEcho" });
    try {
      assert.equal(a.metricsPrefix, "rpc_server_my_echo");
      assert.ok(defaultRegistry.has(`rpc_server_my_echo_${ECHO}_count`));
      assert.equal(logs.filter((l) => l.includes("rpc_server_my_echo")).length, 1);
      // b works, unexposed.
      const ch = new Channel(b.address, { maxRetry: 0 });
      await ch.client(EchoService).echo({ message: "b" });
      ch.close();
      assert.equal(b.methodStatus("example.EchoService.Echo")?.count, 1);
      assert.equal(num(`rpc_server_my_echo_${ECHO}_count`), 0);
    } finally {
      setLogSink(undefined);
      await a.stop(0);
      await b.stop(0);
    }
  });

  it("metrics: false records and exposes nothing", async () => {
    const server = await startEchoServer({ metrics: false });
    const ch = new Channel(server.address, { maxRetry: 0, metrics: false });
    try {
      const p = server.metricsPrefix;
      await ch.client(EchoService).echo({ message: "x" });
      await failure(ch.callRaw("NoSuch", "X", new Uint8Array()));
      assert.deepEqual(listVariables(`${p}_*`), []);
      assert.equal(server.methodStatus("example.EchoService.Echo"), undefined);
      assert.equal(server.nonServiceErrors, 0);
      for (const c of server.connections) assert.equal(c.rates, undefined);
    } finally {
      ch.close();
      await server.stop(0);
    }
  });

  it("metricsPrefix throws before start without serverInfoName", () => {
    assert.throws(() => new Server().metricsPrefix, /not started/);
    assert.equal(new Server({ serverInfoName: "x.y" }).metricsPrefix, "rpc_server_x_y");
  });
});

describe("connection rates", () => {
  it("per second is the last difference, per minute the sum of the last 60", () => {
    const totals = { bytesIn: 0, bytesOut: 0, messagesIn: 0, messagesOut: 0 };
    const r = new ConnectionRates();
    r.update(totals);
    assert.equal(r.inBytesSecond, 0);
    for (let s = 1; s <= 70; s++) {
      totals.bytesIn += s;
      totals.messagesOut += 1;
      r.update(totals);
      assert.equal(r.inBytesSecond, s);
      assert.equal(r.outMessagesSecond, 1);
      const from = Math.max(1, s - 59);
      let sum = 0;
      for (let i = from; i <= s; i++) sum += i;
      assert.equal(r.inBytesMinute, sum, `second ${s}`);
      assert.equal(r.outMessagesMinute, s - from + 1);
    }
    for (let s = 0; s < 60; s++) r.update(totals);
    assert.equal(r.inBytesMinute, 0);
    assert.equal(r.inBytesSecond, 0);
  });
});
