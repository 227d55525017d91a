/**
 * docs/builtin.md: the builtin pages of a server — /status, /vars, /brpc_metrics in text
 * (what curl gets), /flags with run-time changes, and the internal port.
 *
 *   npx tsc -p . && node dist/examples/docs/builtin.js
 *   node dist/examples/docs/builtin.js --serve 8000     # keep serving: open http://127.0.0.1:8000/status
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { Adder, Channel, Server } from "../../src/index.js";
import { EchoService } from "../gen/peer_pb.js";
import { peerService } from "../interop/peer-service.js";

const serve = process.argv.indexOf("--serve");
const port = serve >= 0 ? Number(process.argv[serve + 1] ?? 8000) : 0;

const server = new Server({ version: "echo-server 1.0", allowFlagChanges: true });
server.addService(EchoService, peerService);
await server.start(`127.0.0.1:${port}`);
const base = `http://127.0.0.1:${server.port}`;

// A variable of our own, next to the server's automatic ones.
const jobs = new Adder();
jobs.expose("example_jobs_done");
jobs.add(7);

// A few calls: 5 good, 1 failed.
const ch = new Channel(server.address, { maxRetry: 0 });
const echo = ch.client(EchoService);
for (let i = 0; i < 5; i++) await echo.echo({ message: `hello ${i}` });
await echo.echo({ message: "bad", failCode: 1003 }).catch(() => {});
// Windowed values (latency, qps) show after the next once-a-second sample.
await sleep(1100);

/** GET `path` as curl does (its User-Agent picks the text pages). */
async function curl(path: string): Promise<{ status: number; type: string; body: string }> {
  const r = await fetch(`${base}${path}`, { headers: { "user-agent": "curl/8.5.0" } });
  return { status: r.status, type: r.headers.get("content-type") ?? "", body: await r.text() };
}

// /status: per method count, error, latencies, qps, concurrency.
const status = await curl("/status");
console.log(`$ curl ${base}/status\n${status.body}`);
assert.match(status.body, /^version: echo-server 1\.0$/m);
const echoPart = status.body.slice(status.body.indexOf("Echo (EchoRequest) returns (EchoResponse)"));
assert.match(echoPart, /^count: 5$/m);
assert.match(echoPart, /^error: 1$/m);
assert.match(echoPart, /^latency_99: [1-9]\d*$/m);

// /vars with brpc's wildcards: "name : value" lines.
const prefix = server.metricsPrefix; // rpc_server_<port>
const vars = await curl(`/vars/${prefix}_example_echo_service_echo_*count;example_*`);
console.log(`$ curl '${base}/vars/${prefix}_example_echo_service_echo_*count;example_*'\n${vars.body}`);
assert.equal(vars.body, `example_jobs_done : 7\r\n${prefix}_example_echo_service_echo_count : 5\r\n`);

// ?series: the trend a chart draws, 174 points from 30 days ago to the last second.
const series = JSON.parse((await curl("/vars/example_jobs_done?series")).body) as {
  label: string;
  data: [number, number][];
};
assert.equal(series.label, "trend");
assert.equal(series.data.length, 174);

// /brpc_metrics: the Prometheus text, the method's latency as a summary.
const metrics = await curl("/brpc_metrics");
assert.equal(metrics.type, "text/plain; version=0.0.4");
const summary = metrics.body
  .split("\n")
  .filter(
    (l) =>
      l.startsWith(`${prefix}_example_echo_service_echo{`) ||
      l.startsWith(`${prefix}_example_echo_service_echo_count `),
  );
console.log(`$ curl ${base}/brpc_metrics | grep example_echo_service_echo\n${summary.join("\n")}\n`);
assert.ok(metrics.body.includes(`# TYPE ${prefix}_example_echo_service_echo summary`));
assert.ok(summary.includes(`${prefix}_example_echo_service_echo_count 5`));

// /flags: a reloadable flag changed at run time (this server opted in with allowFlagChanges).
const set = await curl("/flags/max_concurrency?setvalue=100");
console.log(`$ curl '${base}/flags/max_concurrency?setvalue=100'\n${set.body}`);
assert.equal(set.status, 200);
assert.equal(server.options.maxConcurrency, 100);
assert.equal((await curl("/flags/max_concurrency?setvalue=lots")).status, 400);

// A browser gets HTML with live charts instead.
const html = await fetch(`${base}/status`, { headers: { "user-agent": "Mozilla/5.0" } });
assert.match(html.headers.get("content-type") ?? "", /^text\/html/);

// The internal port: pages only there, 403 on the server port.
const guarded = new Server({ internalPort: "127.0.0.1:0" });
guarded.addService(EchoService, peerService);
await guarded.start("127.0.0.1:0");
const outside = await fetch(`http://127.0.0.1:${guarded.port}/status`, {
  headers: { "user-agent": "curl/8" },
});
const inside = await fetch(`http://${guarded.internalAddress}/status`, {
  headers: { "user-agent": "curl/8" },
});
console.log(
  `server port: /status -> ${outside.status}; internal port ${guarded.internalAddress}: /status -> ${inside.status}`,
);
assert.equal(outside.status, 403);
assert.equal(inside.status, 200);
await guarded.stop();

if (serve >= 0) {
  console.log(`serving on ${base} (Ctrl-C to stop)`);
} else {
  ch.close();
  jobs.hide();
  await server.stop();
}
