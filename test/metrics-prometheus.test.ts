/** Labelled families and the Prometheus text dump (brpc's /brpc_metrics). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  Adder,
  defaultRegistry,
  escapeLabelValue,
  IntRecorder,
  LatencyRecorder,
  MetricFamily,
  MetricRegistry,
  PassiveStatus,
  prometheusText,
  Sampler,
  Status,
} from "../src/metrics/index.js";
import { clock } from "./helpers/metrics.js";

describe("MetricFamily", () => {
  it("creates one member per label combination, by name or by position", () => {
    const { registry } = clock();
    const f = new MetricFamily("RequestCount", ["method", "code"], () => new Adder(), { registry });
    assert.equal(f.name, "request_count");
    const a = f.get({ method: "Echo", code: "0" });
    a.add(1);
    assert.equal(f.get(["Echo", "0"]), a);
    assert.equal(f.get({ code: 0, method: "Echo" }), a); // numbers are label text
    assert.notEqual(f.get({ method: "Echo", code: "1001" }), a);
    assert.equal(f.size, 2);
    assert.ok(f.has({ method: "Echo", code: "0" }));
    assert.ok(!f.has({ method: "Other", code: "0" }));
    assert.deepEqual(
      [...f.entries()].map(([labels]) => labels),
      [
        ["Echo", "0"],
        ["Echo", "1001"],
      ],
    );
    assert.equal(
      f.describe(),
      '{"name" : "request_count", "labels" : ["method", "code"], "stats_count" : 2}',
    );
    assert.equal(registry.getFamily("request_count"), f);
    assert.deepEqual(registry.listFamilies(), ["request_count"]);
  });
  it("rejects missing labels, wrong counts and bad label names", () => {
    const { registry } = clock();
    const f = new MetricFamily("f", ["a", "b"], () => new Adder(), { registry });
    assert.throws(() => f.get({ a: "1" }), TypeError);
    assert.throws(() => f.get(["1"]), TypeError);
    assert.throws(() => f.get(["1", "2", "3"]), TypeError);
    assert.throws(() => new MetricFamily("g", ["bad-name"], () => new Adder(), { registry }), TypeError);
    assert.throws(() => new MetricFamily("h", ["a", "a"], () => new Adder(), { registry }), TypeError);
  });
  it("caps label combinations: extra ones share one unexported member", () => {
    const { registry } = clock();
    const f = new MetricFamily("capped", ["user"], () => new Adder(), { registry, maxLabelSets: 3 });
    for (const u of ["a", "b", "c"]) f.get({ user: u }).add(1);
    const o1 = f.get({ user: "d" });
    const o2 = f.get({ user: "e" });
    assert.equal(o1, o2);
    o1.add(100);
    assert.equal(f.size, 3);
    assert.equal(f.dropped, 2);
    assert.ok(!f.has({ user: "d" }));
    assert.equal(f.get({ user: "a" }).value, 1); // existing ones still work
    assert.equal(f.dropped, 2);
    assert.ok(!prometheusText(registry).includes("100"));
    assert.ok(f.delete({ user: "a" }));
    assert.notEqual(f.get({ user: "d" }), o1); // room again
    assert.equal(f.size, 3);
  });
  it("delete and clear remove members", () => {
    const { registry } = clock();
    const f = new MetricFamily("d", ["a", "b"], () => new Adder(), { registry });
    f.get(["x", "1"]);
    f.get(["x", "2"]);
    assert.ok(f.delete(["x", "1"]));
    assert.ok(!f.delete(["x", "1"]));
    assert.equal(f.size, 1);
    assert.ok(f.has(["x", "2"]));
    f.clear();
    assert.equal(f.size, 0);
  });
  it("families without labels have one member", () => {
    const f = new MetricFamily("solo", [], () => new Adder(), { registry: null });
    assert.equal(f.get([]), f.get({}));
    assert.equal(f.size, 1);
    assert.equal(f.name, "");
  });
  it("names are unique across variables and families; the registry caps families", () => {
    const { registry } = clock();
    new Adder().expose("taken", { registry });
    assert.throws(() => new MetricFamily("taken", ["a"], () => new Adder(), { registry }), /already exposed/);
    const f = new MetricFamily("fam", ["a"], () => new Adder(), { registry });
    assert.equal(new Adder().expose("fam", { registry }), false);
    assert.ok(f.hide());
    assert.ok(new Adder().expose("fam", { registry }));
    const small = new MetricRegistry({ sampler: new Sampler({ autoStart: false }), maxFamilies: 1 });
    new MetricFamily("one", ["a"], () => new Adder(), { registry: small });
    assert.throws(() => new MetricFamily("two", ["a"], () => new Adder(), { registry: small }), /too many/);
  });
  it("exposes in the default registry unless told otherwise", () => {
    const f = new MetricFamily("metrics_test_default_family", ["k"], () => new Adder());
    try {
      assert.equal(defaultRegistry.getFamily("metrics_test_default_family"), f);
    } finally {
      f.hide();
    }
  });
});

describe("prometheusText", () => {
  it("dumps gauges, an rpc_server summary and a family, as brpc does", () => {
    const { sampler, registry, advance } = clock();
    const requests = new Adder();
    requests.expose("Requests", { registry });
    requests.add(3);
    new Status("v1.0").expose("version", { registry }); // strings are skipped
    new PassiveStatus(() => 1.5).expose("load", { registry });
    const lat = new LatencyRecorder({ sampler });
    lat.exposeAs("rpc_server_8000", "EchoService.Echo", { registry });
    for (let v = 1; v <= 100; v++) lat.record(v);
    const http = new MetricFamily("http_requests", ["method", "path"], () => new Adder(), { registry });
    http.get({ method: "GET", path: '/a"b\\c\nd' }).add(2);
    http.get(["POST", "/x"]).add(1);
    advance();
    const p = "rpc_server_8000_echo_service_echo";
    assert.equal(
      prometheusText(registry),
      [
        "# HELP load",
        "# TYPE load gauge",
        "load 1.5",
        "# HELP requests",
        "# TYPE requests gauge",
        "requests 3",
        `# HELP ${p}`,
        `# TYPE ${p} summary`,
        `${p}{quantile="0.8"} 80`,
        `${p}{quantile="0.9"} 90`,
        `${p}{quantile="0.99"} 99`,
        `${p}{quantile="0.999"} 100`,
        `${p}{quantile="0.9999"} 100`,
        `${p}{quantile="1"} 100`,
        `${p}{quantile="avg"} 50`,
        `${p}_sum 5000`,
        `${p}_count 100`,
        `# HELP ${p}_qps`,
        `# TYPE ${p}_qps gauge`,
        `${p}_qps 100`,
        "# HELP http_requests",
        "# TYPE http_requests gauge",
        'http_requests{method="GET",path="/a\\"b\\\\c\\nd"} 2',
        'http_requests{method="POST",path="/x"} 1',
        "",
      ].join("\n"),
    );
  });
  it("recorders outside rpc_server* stay separate gauges; IntRecorder prints its average", () => {
    const { sampler, registry, advance } = clock();
    const lat = new LatencyRecorder({ sampler });
    lat.expose("client_call", { registry });
    lat.record(10);
    const ir = new IntRecorder();
    ir.expose("avg_size", { registry });
    ir.record(3);
    ir.record(4);
    advance();
    const lines = prometheusText(registry)
      .split("\n")
      .filter((l) => !l.startsWith("#") && l !== "");
    assert.deepEqual(lines, [
      "avg_size 3",
      "client_call_count 1",
      "client_call_latency 10",
      "client_call_latency_80 10",
      "client_call_latency_90 10",
      "client_call_latency_99 10",
      "client_call_latency_999 10",
      "client_call_latency_9999 10",
      "client_call_max_latency 10",
      "client_call_qps 1",
    ]);
  });
  it("a family of LatencyRecorders gives brpc's five groups", () => {
    const { sampler, registry, advance } = clock();
    const f = new MetricFamily("rpc", ["method"], () => new LatencyRecorder({ sampler }), { registry });
    for (let v = 1; v <= 10; v++) f.get({ method: "Echo" }).record(v);
    advance();
    assert.equal(
      prometheusText(registry),
      [
        "# HELP rpc_latency",
        "# TYPE rpc_latency gauge",
        'rpc_latency{method="Echo"} 5',
        'rpc_latency{method="Echo",quantile="80"} 8',
        'rpc_latency{method="Echo",quantile="90"} 9',
        'rpc_latency{method="Echo",quantile="99"} 10',
        'rpc_latency{method="Echo",quantile="999"} 10',
        'rpc_latency{method="Echo",quantile="9999"} 10',
        "# HELP rpc_max_latency",
        "# TYPE rpc_max_latency gauge",
        'rpc_max_latency{method="Echo"} 10',
        "# HELP rpc_qps",
        "# TYPE rpc_qps gauge",
        'rpc_qps{method="Echo"} 10',
        "# HELP rpc_count",
        "# TYPE rpc_count counter",
        'rpc_count{method="Echo"} 10',
        "",
      ].join("\n"),
    );
    assert.ok(f.delete({ method: "Echo" }));
    assert.equal(prometheusText(registry), "");
  });
  it("escapes label values per the text format", () => {
    assert.equal(escapeLabelValue('a"b'), 'a\\"b');
    assert.equal(escapeLabelValue("a\\b"), "a\\\\b");
    assert.equal(escapeLabelValue("a\nb"), "a\\nb");
    assert.equal(escapeLabelValue("plain"), "plain");
  });
});
