/** Metrics core: names, wildcard filters, reducers, recorders, statuses and the registry. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  Adder,
  DisplayFilter,
  defaultRegistry,
  describeVariable,
  getVariable,
  IntRecorder,
  listVariables,
  Maxer,
  MetricRegistry,
  Miner,
  NameFilter,
  PassiveStatus,
  Sampler,
  Status,
  seriesJson,
  toUnderscoredName,
  wildcardMatch,
} from "../src/metrics/index.js";

/** A registry whose series only move when the test ticks. */
function registry(): MetricRegistry {
  return new MetricRegistry({ sampler: new Sampler({ autoStart: false, clock: () => 0 }) });
}

describe("toUnderscoredName (brpc's to_underscored_name)", () => {
  it("splits CamelCase words and keeps digits", () => {
    assert.equal(toUnderscoredName("RpcServer8000EchoService"), "rpc_server8000_echo_service");
    assert.equal(toUnderscoredName("EchoService"), "echo_service");
    assert.equal(toUnderscoredName("myAdder"), "my_adder");
    assert.equal(toUnderscoredName("process_cpu_usage"), "process_cpu_usage");
  });
  it("keeps upper-case runs together", () => {
    assert.equal(toUnderscoredName("HTTPServer"), "httpserver");
    assert.equal(toUnderscoredName("rpcHTTP"), "rpc_http");
  });
  it("turns every run of other characters into one underscore", () => {
    assert.equal(toUnderscoredName("foo.bar-baz"), "foo_bar_baz");
    assert.equal(toUnderscoredName("a..b  c"), "a_b_c");
    assert.equal(toUnderscoredName("-leading"), "_leading");
    assert.equal(toUnderscoredName("trailing!"), "trailing_");
    assert.equal(toUnderscoredName("héllo"), "h_llo");
    assert.equal(toUnderscoredName("Foo_Bar"), "foo_bar");
  });
  it("exposeAs joins prefix and name with one underscore", () => {
    const reg = registry();
    const a = new Adder();
    assert.ok(a.exposeAs("rpc_server_8000", "example.EchoService.Echo_count", { registry: reg }));
    assert.equal(a.name, "rpc_server_8000_example_echo_service_echo_count");
    const b = new Adder();
    assert.ok(b.exposeAs("Prefix_", "Name", { registry: reg }));
    assert.equal(b.name, "prefix_name");
  });
});

describe("wildcard filters", () => {
  it("matches * and ?", () => {
    assert.ok(wildcardMatch("rpc_*_qps", "rpc_server_8000_qps"));
    assert.ok(wildcardMatch("*", ""));
    assert.ok(wildcardMatch("a?c", "abc"));
    assert.ok(!wildcardMatch("a?c", "ac"));
    assert.ok(wildcardMatch("*latency*", "x_latency_99"));
    assert.ok(!wildcardMatch("*latency", "x_latency_99"));
    assert.ok(wildcardMatch("a*b*c", "aXXbYYbZc"));
    assert.ok(!wildcardMatch("abc", "abcd"));
    assert.ok(wildcardMatch("a$c", "abc", "$"));
    assert.ok(!wildcardMatch("a?c", "abc", "$"));
  });
  it("alternatives are separated by ; or , and may be exact names", () => {
    const f = new NameFilter("foo;bar_*,b?z");
    assert.ok(f.matches("foo"));
    assert.ok(!f.matches("foo2"));
    assert.ok(f.matches("bar_1"));
    assert.ok(f.matches("baz"));
    assert.ok(!f.matches("qux"));
    assert.ok(new NameFilter("").matches("anything"));
  });
  it("listVariables filters and sorts", () => {
    const reg = registry();
    for (const n of ["b_qps", "a_qps", "a_count", "c_latency_99"]) new Adder().expose(n, { registry: reg });
    assert.deepEqual(reg.listVariables(), ["a_count", "a_qps", "b_qps", "c_latency_99"]);
    assert.deepEqual(reg.listVariables("*_qps"), ["a_qps", "b_qps"]);
    assert.deepEqual(reg.listVariables("a_count;*_99"), ["a_count", "c_latency_99"]);
    assert.deepEqual(reg.listVariables("?_qps"), ["a_qps", "b_qps"]);
    assert.deepEqual(reg.listVariables("$_qps", { questionMark: "$" }), ["a_qps", "b_qps"]);
    assert.deepEqual(reg.listVariables("nothing*"), []);
  });
});

describe("reducers", () => {
  it("Adder sums, resets and describes", () => {
    const a = new Adder();
    assert.equal(a.value, 0);
    a.add(1);
    a.add(2);
    a.add(-0.5);
    assert.equal(a.value, 2.5);
    assert.equal(a.describe(), "2.5");
    assert.equal(String(a), "2.5");
    assert.equal(a.reset(), 2.5);
    assert.equal(a.value, 0);
  });
  it("Maxer and Miner keep extremes from their identity", () => {
    const mx = new Maxer();
    const mn = new Miner();
    assert.equal(mx.value, Number.NEGATIVE_INFINITY);
    assert.equal(mx.describe(), "-Inf");
    assert.equal(mn.describe(), "+Inf");
    for (const v of [3, -7, 12, 5]) {
      mx.record(v);
      mn.record(v);
    }
    assert.equal(mx.value, 12);
    assert.equal(mn.value, -7);
    assert.equal(mx.reset(), 12);
    assert.equal(mx.value, Number.NEGATIVE_INFINITY);
    const m0 = new Maxer(0);
    m0.record(-1);
    assert.equal(m0.value, 0);
  });
  it("IntRecorder averages like brpc's Stat", () => {
    const r = new IntRecorder();
    assert.equal(r.average, 0);
    assert.equal(r.describe(), "0");
    r.record(1);
    r.record(2);
    assert.equal(r.average, 1.5);
    assert.equal(r.describe(), "1"); // truncated integer average when not 0
    assert.deepEqual(r.value, { sum: 3, count: 2 });
    const s = new IntRecorder();
    s.record(0);
    s.record(1);
    assert.equal(s.describe(), "0.5"); // fractional when the integer part is 0
    assert.deepEqual(r.reset(), { sum: 3, count: 2 });
    assert.equal(r.count, 0);
  });
});

describe("statuses", () => {
  it("Status holds a set value; strings are quoted on request", () => {
    const s = new Status(1);
    s.set(42);
    assert.equal(s.value, 42);
    assert.equal(s.describe(), "42");
    const t = new Status("v1.2");
    assert.equal(t.describe(), "v1.2");
    assert.equal(t.describe(true), '"v1.2"');
  });
  it("PassiveStatus reads its callback", () => {
    let n = 1;
    const p = new PassiveStatus(() => n * 2);
    assert.equal(p.value, 2);
    n = 5;
    assert.equal(p.describe(), "10");
    const q = new PassiveStatus(() => 1 / 3);
    assert.equal(q.describe(), "0.333333");
  });
});

describe("registry", () => {
  it("exposes, describes, finds and hides", () => {
    const reg = registry();
    const a = new Adder();
    assert.ok(a.expose("FooBar", { registry: reg }));
    assert.equal(a.name, "foo_bar");
    assert.ok(a.isExposed);
    assert.equal(a.registry, reg);
    a.add(7);
    assert.equal(reg.describe("foo_bar"), "7");
    assert.equal(reg.getVariable("foo_bar"), a);
    assert.ok(reg.has("foo_bar"));
    assert.equal(reg.size, 1);
    assert.ok(a.hide());
    assert.ok(!a.hide());
    assert.equal(a.name, "");
    assert.equal(reg.describe("foo_bar"), undefined);
    assert.equal(reg.size, 0);
  });
  it("rejects duplicate and empty names (expose returns false)", () => {
    const reg = registry();
    const a = new Adder();
    const b = new Adder();
    assert.ok(a.expose("same", { registry: reg }));
    assert.equal(b.expose("same", { registry: reg }), false);
    assert.equal(b.expose("Same", { registry: reg }), false); // same after underscoring
    assert.equal(b.name, "");
    assert.equal(reg.getVariable("same"), a);
    assert.equal(b.expose("", { registry: reg }), false);
    // After the first one hides, the name is free again.
    a.hide();
    assert.ok(b.expose("same", { registry: reg }));
  });
  it("re-exposing moves a variable; a clash leaves it hidden (as brpc)", () => {
    const reg = registry();
    const a = new Adder();
    const b = new Adder();
    a.expose("one", { registry: reg });
    b.expose("two", { registry: reg });
    assert.ok(a.expose("three", { registry: reg }));
    assert.deepEqual(reg.listVariables(), ["three", "two"]);
    assert.equal(a.expose("two", { registry: reg }), false);
    assert.equal(a.isExposed, false);
    assert.deepEqual(reg.listVariables(), ["two"]);
  });
  it("display filters select where a variable is listed", () => {
    const reg = registry();
    new Adder().expose("both", { registry: reg });
    new Adder().expose("text", { registry: reg, display: DisplayFilter.PLAIN_TEXT });
    new Adder().expose("html", { registry: reg, display: DisplayFilter.HTML });
    assert.deepEqual(reg.listVariables("", { display: DisplayFilter.PLAIN_TEXT }), ["both", "text"]);
    assert.deepEqual(reg.listVariables("", { display: DisplayFilter.HTML }), ["both", "html"]);
    assert.deepEqual(reg.listVariables(), ["both", "html", "text"]);
  });
  it("the default registry has module-level helpers", () => {
    const a = new Adder();
    assert.ok(a.expose("metrics_test_default_helper"));
    try {
      a.add(3);
      assert.equal(defaultRegistry.getVariable("metrics_test_default_helper"), a);
      assert.deepEqual(listVariables("metrics_test_default_*"), ["metrics_test_default_helper"]);
      assert.equal(describeVariable("metrics_test_default_helper"), "3");
      assert.equal(getVariable("metrics_test_default_helper"), a);
      assert.match(seriesJson("metrics_test_default_helper") ?? "", /^\{"label":"trend","data":\[\[0,0\]/);
    } finally {
      a.hide();
    }
    assert.equal(getVariable("metrics_test_default_helper"), undefined);
  });
  it("series can be switched off (brpc's -save_series=false)", () => {
    const sampler = new Sampler({ autoStart: false });
    const reg = new MetricRegistry({ sampler, saveSeries: false });
    new Adder().expose("x", { registry: reg });
    assert.equal(reg.seriesJson("x"), undefined);
    assert.equal(sampler.taskCount, 0);
  });
});
