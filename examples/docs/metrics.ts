/**
 * docs/metrics.md: brpc's bvar model — reducers, recorders, windows, statuses, a labelled
 * family, series and the Prometheus dump.
 *
 *   npx tsc -p . && node dist/examples/docs/metrics.js
 */
import assert from "node:assert/strict";
import {
  Adder,
  IntRecorder,
  LatencyRecorder,
  Maxer,
  MetricFamily,
  MetricRegistry,
  PassiveStatus,
  PerSecond,
  prometheusText,
  Sampler,
  Status,
  toUnderscoredName,
  Window,
} from "../../src/metrics/index.js";

// A registry and a sampler of our own, on a clock we move by hand, so the output below is
// the same on every run. (Real code uses the defaults: `defaultRegistry`, and
// `defaultSampler`, which ticks once a second on an unref'd timer.)
let now = 0;
const sampler = new Sampler({ clock: () => now, autoStart: false });
const registry = new MetricRegistry({ sampler });
const onSecond = (): void => {
  now += 1000;
  sampler.tick();
};

// Names: brpc's to_underscored_name.
console.log(toUnderscoredName("RpcServer8000EchoService"), toUnderscoredName("foo.bar-baz"));

// Reducers and recorders.
const errors = new Adder();
errors.expose("ExampleErrors", { registry }); // -> "example_errors"
const errorRate = new PerSecond(errors, 10, { sampler });
errorRate.expose("example_errors_second", { registry });
const biggest = new Maxer(0);
const biggestIn10s = new Window(biggest, 10, { sampler });
biggestIn10s.expose("example_max_body", { registry });
const bodySize = new IntRecorder();
bodySize.expose("example_body_size", { registry });

// Statuses: set, or computed when read.
const version = new Status("1.2.0");
version.expose("example_version", { registry }); // a string: not in the Prometheus dump
const started = now;
new PassiveStatus(() => (now - started) / 1000).expose("example_uptime_s", { registry });

// A LatencyRecorder as brpc's server keeps one per method.
const echo = new LatencyRecorder({ sampler });
echo.exposeAs("rpc_server_8000", "example.EchoService.Echo", { registry });

// A labelled family (brpc's MultiDimension).
const requests = new MetricFamily("example_requests", ["method", "code"], () => new Adder(), { registry });

for (let second = 0; second < 3; second++) {
  for (let i = 1; i <= 100; i++) {
    echo.record(i * 10); // 10..1000 us
    requests.get({ method: "Echo", code: i % 10 === 0 ? "1008" : "0" }).add(1);
    if (i % 10 === 0) errors.add(1);
    bodySize.record(i);
    biggest.record(i * 16);
  }
  onSecond();
}

assert.equal(registry.describe("example_errors"), "30");
assert.equal(errorRate.value, 10);
assert.equal(biggestIn10s.value, 1600);
assert.equal(registry.describe("example_body_size"), "50");
assert.equal(echo.count, 300);
assert.equal(echo.qps, 100);
assert.equal(echo.p99, 990);
assert.equal(echo.maxLatency, 1000);
assert.equal(requests.get(["Echo", "1008"]).value, 30);

console.log(registry.listVariables("rpc_server_*_latency_9*"));
console.log(echo.describe());
const series = JSON.parse(registry.seriesJson("example_errors") ?? "{}") as { data: number[][] };
assert.equal(series.data.length, 174);
console.log("series tail:", JSON.stringify(series.data.slice(-3)));

const text = prometheusText(registry);
console.log(text);
assert.match(text, /^rpc_server_8000_example_echo_service_echo\{quantile="0\.99"\} 990$/m);
assert.match(text, /^example_requests\{method="Echo",code="1008"\} 30$/m);
assert.doesNotMatch(text, /example_version/);
