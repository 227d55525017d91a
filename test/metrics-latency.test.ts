/** LatencyRecorder: counts, windows, percentiles on known distributions, bounded reservoirs. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  CombinedPercentiles,
  DisplayFilter,
  LatencyRecorder,
  PercentileReservoir,
  SAMPLES_PER_INTERVAL,
} from "../src/metrics/index.js";
import { clock } from "./helpers/metrics.js";

/** Deterministic shuffle (xorshift) so the tests do not depend on Math.random. */
function shuffled(values: number[], seed: number): number[] {
  const a = values.slice();
  let s = seed;
  for (let i = a.length - 1; i > 0; i--) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const j = (s >>> 0) % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Relative error of `got` against `want`. */
const rel = (got: number, want: number): number => Math.abs(got - want) / want;

describe("LatencyRecorder", () => {
  it("count, qps, average and max over the window", () => {
    const { sampler, advance } = clock();
    const r = new LatencyRecorder({ sampler, windowSize: 2 });
    for (const v of [10, 20, 30]) r.record(v);
    assert.equal(r.count, 3); // count is live
    assert.equal(r.qps, 0); // windows need a tick
    advance();
    assert.equal(r.latency, 20);
    assert.equal(r.maxLatency, 30);
    assert.equal(r.qps, 3);
    for (let i = 0; i < 5; i++) r.record(100);
    advance();
    assert.equal(r.count, 8);
    assert.equal(r.qps, 4); // 8 records over 2 s
    assert.equal(r.latency, (60 + 500) / 8);
    assert.equal(r.maxLatency, 100);
    assert.equal(r.describe(), "{latency=70 max2=100 qps=4 count=8}");
    advance(2); // both seconds leave the window
    assert.equal(r.qps, 0);
    assert.equal(r.latency, 0);
    assert.equal(r.maxLatency, 0);
    assert.equal(r.p99, 0);
    assert.equal(r.count, 8);
  });
  it("drops negative and NaN latencies", () => {
    const { sampler, advance } = clock();
    const r = new LatencyRecorder({ sampler });
    r.record(-5);
    r.record(Number.NaN);
    r.record(7);
    advance();
    assert.equal(r.count, 1);
    assert.equal(r.latency, 7);
    assert.equal(r.p50, 7);
  });
  it("exact percentiles while every value is kept", () => {
    const { sampler, advance } = clock();
    const r = new LatencyRecorder({ sampler });
    for (const v of shuffled(range(1, 100), 7)) r.record(v);
    advance();
    assert.deepEqual([r.p50, r.p80, r.p90, r.p99, r.p999, r.p9999], [50, 80, 90, 99, 100, 100]);
    assert.deepEqual(r.percentiles(), [80, 90, 99, 100]);
    assert.deepEqual(r.percentiles([0.01, 0.25]), [1, 25]);
    assert.equal(r.percentile(0), 0);
    assert.equal(r.percentile(1), 100);
  });
  it("uniform 1..10000 over a 10 s window: percentiles within 2%", () => {
    const { sampler, advance } = clock();
    const r = new LatencyRecorder({ sampler });
    const values = range(1, 10_000);
    for (let s = 0; s < 10; s++) {
      for (const v of shuffled(values, 12345 + s)) r.record(v);
      advance();
    }
    assert.equal(r.count, 100_000);
    assert.equal(r.qps, 10_000);
    assert.equal(r.latency, 5000.5);
    assert.equal(r.maxLatency, 10_000);
    for (const [ratio, got] of [
      [0.5, r.p50],
      [0.8, r.p80],
      [0.9, r.p90],
      [0.99, r.p99],
      [0.999, r.p999],
    ] as const) {
      assert.ok(rel(got, ratio * 10_000) < 0.02, `p${ratio * 100} = ${got}`);
    }
    assert.ok(r.p9999 >= 9990 && r.p9999 <= 10_000, `p9999 = ${r.p9999}`);
  });
  it("keeps a rare slow tail (values are sampled per magnitude)", () => {
    const { sampler, advance } = clock();
    const r = new LatencyRecorder({ sampler });
    // 99% fast (around 100 us), 1% slow (50-60 ms), 20000 records per second.
    for (let s = 0; s < 10; s++) {
      const vals: number[] = [];
      for (let i = 0; i < 19_800; i++) vals.push(90 + (i % 20));
      for (let i = 0; i < 200; i++) vals.push(50_000 + i * 50);
      for (const v of shuffled(vals, 99 + s)) r.record(v);
      advance();
    }
    assert.ok(r.p99 >= 90 && r.p99 < 110, `p99 = ${r.p99}`);
    assert.ok(rel(r.p999, 59_000) < 0.02, `p999 = ${r.p999}`);
    assert.ok(r.p9999 >= 59_500, `p9999 = ${r.p9999}`);
    assert.equal(r.maxLatency, 59_950);
  });
  it("exponential distribution: p50/p90/p99 close to -ln(1-q) * mean", () => {
    const { sampler, advance } = clock();
    const r = new LatencyRecorder({ sampler, windowSize: 5 });
    let s = 2463534242;
    for (let sec = 0; sec < 5; sec++) {
      for (let i = 0; i < 50_000; i++) {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        const u = ((s >>> 0) + 0.5) / 4294967296;
        r.record(Math.round(-Math.log(u) * 1000));
      }
      advance();
    }
    for (const q of [0.5, 0.9, 0.99]) {
      const want = -Math.log(1 - q) * 1000;
      assert.ok(rel(r.percentile(q), want) < 0.04, `q=${q}: ${r.percentile(q)} vs ${want}`);
    }
  });
  it("cdf gives brpc's 20 chart points", () => {
    const { sampler, advance } = clock();
    const r = new LatencyRecorder({ sampler });
    for (const v of range(1, 200)) r.record(v); // every value kept: exact
    advance();
    const cdf = r.cdf();
    assert.deepEqual(
      cdf.map(([x]) => x),
      [10, 20, 30, 40, 50, 60, 70, 80, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101],
    );
    assert.deepEqual(cdf.slice(0, 3), [
      [10, 20],
      [20, 40],
      [30, 60],
    ]);
    assert.deepEqual(cdf.slice(-3), [
      [99, 198],
      [100, 200],
      [101, 200],
    ]);
  });
  it("configurable p1/p2/p3 (brpc's -bvar_latency_p1/p2/p3)", () => {
    const { sampler, registry } = clock();
    const r = new LatencyRecorder({ sampler, percentiles: [50, 75, 95] });
    assert.ok(r.expose("x", { registry }));
    assert.deepEqual(registry.listVariables("x_latency_*"), [
      "x_latency_50",
      "x_latency_75",
      "x_latency_95",
      "x_latency_999",
      "x_latency_9999",
      "x_latency_cdf",
      "x_latency_percentiles",
    ]);
    assert.throws(() => new LatencyRecorder({ sampler, percentiles: [0, 50, 99] }), RangeError);
    assert.throws(() => new LatencyRecorder({ sampler, percentiles: [50, 99.5, 99] }), RangeError);
  });
});

describe("LatencyRecorder exposure", () => {
  it("exposes brpc's eleven variables; a trailing 'latency' is dropped", () => {
    const { sampler, registry, advance } = clock();
    const r = new LatencyRecorder({ sampler });
    assert.ok(r.exposeAs("rpc_server_8000", "example.EchoService.EchoLatency", { registry }));
    const p = "rpc_server_8000_example_echo_service_echo";
    assert.equal(r.name, p);
    assert.deepEqual(registry.listVariables(), [
      `${p}_count`,
      `${p}_latency`,
      `${p}_latency_80`,
      `${p}_latency_90`,
      `${p}_latency_99`,
      `${p}_latency_999`,
      `${p}_latency_9999`,
      `${p}_latency_cdf`,
      `${p}_latency_percentiles`,
      `${p}_max_latency`,
      `${p}_qps`,
    ]);
    // Plain text lists the numbers, HTML the charts (brpc's display filters).
    assert.ok(
      !registry.listVariables("", { display: DisplayFilter.PLAIN_TEXT }).includes(`${p}_latency_cdf`),
    );
    assert.ok(!registry.listVariables("", { display: DisplayFilter.HTML }).includes(`${p}_latency_99`));
    for (const v of range(1, 100)) r.record(v);
    advance();
    assert.equal(registry.describe(`${p}_latency`), "50");
    assert.equal(registry.describe(`${p}_latency_99`), "99");
    assert.equal(registry.describe(`${p}_count`), "100");
    assert.equal(registry.describe(`${p}_qps`), "100");
    assert.equal(registry.describe(`${p}_max_latency`), "100");
    assert.equal(registry.describe(`${p}_latency_cdf`), '"click to view"');
    assert.equal(registry.describe(`${p}_latency_percentiles`), '"[80,90,99,100]"');
    assert.match(
      registry.seriesJson(`${p}_latency_cdf`) ?? "",
      /^\{"label":"cdf","data":\[\[10,10\],\[20,20\]/,
    );
    const vec = JSON.parse(registry.seriesJson(`${p}_latency_percentiles`) ?? "") as {
      label: string;
      data: number[][];
    }[];
    assert.deepEqual(
      vec.map((s) => s.label),
      ["80%", "90%", "99%", "99.9%"],
    );
    assert.deepEqual(vec[2].data[173], [173, 99]);
    const lat = JSON.parse(registry.seriesJson(`${p}_latency`) ?? "") as { data: number[][] };
    assert.deepEqual(lat.data[173], [173, 50.5]);
  });
  it("expose fails as a whole on a clash and on an empty name", () => {
    const { sampler, registry } = clock();
    const a = new LatencyRecorder({ sampler });
    const b = new LatencyRecorder({ sampler });
    assert.ok(a.expose("svc", { registry }));
    assert.equal(b.expose("svc", { registry }), false);
    assert.equal(b.name, "");
    assert.equal(registry.size, 11);
    assert.equal(b.expose("latency", { registry }), false);
    assert.ok(a.hide());
    assert.equal(registry.size, 0);
    assert.ok(b.expose("svc_latency", { registry }));
    assert.equal(b.name, "svc");
  });
  it("dispose stops sampling", () => {
    const { sampler, registry } = clock();
    const r = new LatencyRecorder({ sampler });
    r.expose("d", { registry });
    assert.ok(sampler.taskCount > 0);
    r.dispose();
    assert.equal(sampler.taskCount, 0);
    assert.equal(registry.size, 0);
  });
});

describe("percentile reservoir", () => {
  it("stays bounded however many values a second brings", () => {
    const res = new PercentileReservoir();
    for (let i = 0; i < 1_000_000; i++) res.add(1000 + (i % 1000));
    const cur = res.current;
    assert.equal(cur.total, 1_000_000);
    for (const buf of cur.kept) assert.ok(buf.length === 0 || buf.length === SAMPLES_PER_INTERVAL);
    const kept = cur.kept.filter((b) => b.length > 0);
    assert.equal(kept.length, 2); // 1000..1024 and 1025..1999
  });
  it("reuses seconds that leave the window", () => {
    const res = new PercentileReservoir();
    res.add(5);
    const first = res.takeSecond();
    res.recycle(first);
    res.takeSecond();
    assert.equal(res.current, first);
    assert.equal(res.current.total, 0);
  });
  it("ranks are not pushed up by floating-point error (0.999 * 1000)", () => {
    const res = new PercentileReservoir();
    for (let i = 0; i < 998; i++) res.add(1);
    res.add(500);
    res.add(1000);
    const c = new CombinedPercentiles([res.takeSecond()]);
    assert.equal(c.get(0.999), 500);
    assert.equal(c.get(0.9999), 1000);
  });
  it("clamps values above 2^32 - 1 and truncates fractions", () => {
    const res = new PercentileReservoir();
    res.add(2 ** 40);
    res.add(3.9);
    const c = new CombinedPercentiles([res.takeSecond()]);
    assert.equal(c.count, 2);
    assert.equal(c.get(0.5), 3);
    assert.equal(c.get(1), 4294967295);
  });
});
