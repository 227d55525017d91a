/** Process variables (brpc's default_variables and Node's), and that nothing keeps the process alive. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import {
  defaultRegistry,
  defaultSampler,
  describeVariable,
  exposeProcessMetrics,
  listVariables,
} from "../src/index.js";
import { DIST } from "./helpers/child.js";

function num(name: string): number {
  const v = describeVariable(name);
  assert.notEqual(v, undefined, `${name} is not exposed`);
  const n = Number(v);
  assert.ok(Number.isFinite(n), `${name} = ${v}`);
  return n;
}

const NAMES = [
  "process_cpu_usage",
  "process_cpu_usage_user",
  "process_cpu_usage_system",
  "process_memory_resident",
  "process_memory_virtual",
  "process_memory_shared",
  "process_fd_count",
  "process_thread_count",
  "process_uptime",
  "system_core_count",
  "system_loadavg_1m",
  "system_loadavg_5m",
  "system_loadavg_15m",
  "rpc_socket_count",
  "rpc_channel_connection_count",
  "process_heap_used",
  "process_heap_total",
  "process_external_memory",
  "process_array_buffers",
  "process_event_loop_lag_p50",
  "process_event_loop_lag_p99",
  "process_event_loop_lag_max",
  "process_event_loop_utilization",
  "process_gc_count",
  "process_gc_count_second",
  "process_gc_pause",
  "process_gc_pause_second",
  "process_gc_pause_max",
];

describe("process metrics", () => {
  it("are exposed once, as numbers", () => {
    exposeProcessMetrics();
    const n = defaultRegistry.size;
    exposeProcessMetrics();
    assert.equal(defaultRegistry.size, n);
    for (const name of NAMES) num(name);
    assert.deepEqual(
      listVariables("process_*;system_*;rpc_*").sort(),
      NAMES.filter((x) => /^(process|system|rpc)_/.test(x)).sort(),
    );
  });

  it("have sane values", async () => {
    exposeProcessMetrics();
    const mem = process.memoryUsage();
    assert.ok(num("process_memory_resident") > 4 * 1024 * 1024);
    assert.ok(Math.abs(num("process_heap_total") - mem.heapTotal) < 64 * 1024 * 1024);
    assert.ok(num("process_heap_used") > 0);
    assert.ok(num("process_heap_used") <= num("process_heap_total") * 1.5);
    assert.ok(num("process_uptime") > 0);
    assert.ok(num("system_core_count") >= 1);
    if (process.platform === "linux") {
      assert.ok(num("process_memory_virtual") >= num("process_memory_resident"));
      assert.ok(num("process_fd_count") >= 3);
      assert.ok(num("process_thread_count") >= 1);
    }
    // Burn CPU, block the loop for 150 ms, allocate: then sample. The default sampler also
    // ticks by itself once a second; a tick of its own right before ours leaves ours a short,
    // idle interval, so the exercise is repeated (at most a few times) until ours spans it.
    let junk: unknown[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      defaultSampler.tick();
      const start = performance.now();
      while (performance.now() - start < 150) junk.push({ a: [1, 2, 3] });
      junk = [];
      await sleep(30);
      defaultSampler.tick();
      if (num("process_event_loop_utilization") > 0.5 && num("process_event_loop_lag_max") >= 100_000) break;
    }
    const cpu = num("process_cpu_usage");
    assert.ok(cpu > 0 && cpu <= num("system_core_count") + 0.5, `cpu ${cpu}`);
    assert.ok(num("process_cpu_usage_user") > 0);
    const lag = num("process_event_loop_lag_max");
    assert.ok(lag >= 100_000 && lag < 10_000_000, `lag ${lag} µs`);
    assert.ok(num("process_event_loop_lag_p99") <= lag);
    const elu = num("process_event_loop_utilization");
    assert.ok(elu > 0.5 && elu <= 1, `elu ${elu}`);
    assert.ok(num("process_gc_count") > 0, "some garbage collection happened");
    assert.ok(num("process_gc_pause") > 0);
    assert.ok(num("process_gc_pause_max") > 0);
    assert.ok(junk.length === 0);
  });

  it("a process with a server, channel and metrics exits by itself", async () => {
    const index = pathToFileURL(join(DIST, "src", "index.js")).href;
    const peer = pathToFileURL(join(DIST, "examples", "gen", "peer_pb.js")).href;
    const script = join(mkdtempSync(join(tmpdir(), "brpc-metrics-")), "child.mjs");
    writeFileSync(
      script,
      `import { Channel, Server, LatencyRecorder, exposeProcessMetrics, prometheusText } from ${JSON.stringify(index)};
import { EchoService } from ${JSON.stringify(peer)};
exposeProcessMetrics();
new LatencyRecorder().expose("child_latency");
const server = new Server();
server.addService(EchoService, { echo: (req) => ({ message: req.message }) });
await server.start("127.0.0.1:0");
const ch = new Channel(server.address, { maxRetry: 0 });
await ch.client(EchoService).echo({ message: "x" });
const g = new Channel(server.address, { protocol: "h2:grpc", maxRetry: 0 });
await g.client(EchoService).echo({ message: "y" });
if (!prometheusText().includes("_example_echo_service_echo_count 2")) throw new Error("not counted");
ch.close();
g.close();
await server.stop(0);
console.log("done");
`,
    );
    const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const started = Date.now();
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => {
        child.kill("SIGKILL");
        resolve(null);
      }, 8000);
      child.on("exit", (c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
    assert.equal(code, 0, `child did not exit by itself: ${out}`);
    assert.match(out, /done/);
    assert.ok(Date.now() - started < 8000);
  });
});
