/** Windows, per-second rates, series and the sampler, driven by an injected clock. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import {
  Adder,
  IntRecorder,
  Maxer,
  Miner,
  PassiveStatus,
  PerSecond,
  Sampler,
  SERIES_POINTS,
  Series,
  Status,
  Window,
} from "../src/metrics/index.js";
import { DIST } from "./helpers/child.js";
import { clock } from "./helpers/metrics.js";

/** Points of a series JSON. */
function points(json: string | undefined): number[] {
  assert.ok(json !== undefined);
  const parsed = JSON.parse(json) as { label: string; data: [number, number][] };
  assert.equal(parsed.label, "trend");
  assert.equal(parsed.data.length, SERIES_POINTS);
  assert.deepEqual(
    parsed.data.map(([x]) => x),
    parsed.data.map((_, i) => i),
  );
  return parsed.data.map(([, y]) => y);
}

describe("Window", () => {
  it("over an Adder: what was added in the last N complete seconds", () => {
    const { sampler, advance } = clock();
    const a = new Adder();
    const w = new Window(a, 3, { sampler });
    assert.equal(w.value, 0); // one sample only
    for (let s = 1; s <= 5; s++) {
      a.add(s);
      advance();
    }
    assert.equal(w.value, 3 + 4 + 5);
    assert.equal(w.getValue(1), 5);
    assert.equal(w.getSpan()?.ms, 3000);
    a.add(100); // not sampled yet
    assert.equal(w.value, 12);
    assert.equal(a.value, 115); // an Adder is not reset by windows
  });
  it("uses what exists while the window is not full", () => {
    const { sampler, advance } = clock();
    const a = new Adder();
    const w = new Window(a, 10, { sampler });
    a.add(4);
    advance(2);
    assert.equal(w.value, 4);
  });
  it("over a Maxer / Miner: the extreme of the last N seconds", () => {
    const { sampler, advance } = clock();
    const mx = new Maxer(0);
    const mn = new Miner();
    const wx = new Window(mx, 2, { sampler });
    const wn = new Window(mn, 2, { sampler });
    for (const v of [50, 7, 3, 9]) {
      mx.record(v);
      mn.record(v);
      advance();
    }
    assert.equal(wx.value, 9);
    assert.equal(wn.value, 3);
    assert.equal(mx.value, 0); // reset by the sampler every second (brpc)
  });
  it("over an IntRecorder: the average of the last N seconds", () => {
    const { sampler, advance } = clock();
    const r = new IntRecorder();
    const w = new Window(r, 2, { sampler });
    r.record(1000);
    advance();
    r.record(1);
    r.record(2);
    advance();
    r.record(3);
    advance();
    assert.equal(w.value, 2); // (1 + 2 + 3) / 3
    assert.deepEqual(w.getSpan()?.data, { sum: 6, count: 3 });
    assert.equal(w.describe(), "2");
  });
  it("over a PassiveStatus: the growth of a running total", () => {
    const { sampler, advance } = clock();
    let total = 0;
    const p = new PassiveStatus(() => total);
    const w = new Window(p, 2, { sampler });
    for (const inc of [10, 20, 30]) {
      total += inc;
      advance();
    }
    assert.equal(w.value, 50);
  });
  it("rejects window sizes outside [1, 3600]", () => {
    const { sampler } = clock();
    for (const bad of [0, -1, 1.5, 3601]) {
      assert.throws(() => new Window(new Adder(), bad, { sampler }), RangeError);
    }
  });
});

describe("PerSecond", () => {
  it("divides by the seconds the window really spans", () => {
    const { sampler, advance } = clock();
    const a = new Adder();
    const ps = new PerSecond(a, 2, { sampler });
    assert.equal(ps.value, 0);
    a.add(30);
    advance();
    assert.equal(ps.value, 30);
    a.add(10);
    advance();
    assert.equal(ps.value, 20);
    a.add(0);
    advance();
    assert.equal(ps.value, 5);
    assert.equal(ps.getValue(1), 0);
    assert.equal(ps.windowSize, 2);
  });
  it("defaults to a 10 s window and formats fractions", () => {
    const { sampler, advance } = clock();
    const a = new Adder();
    const ps = new PerSecond(a, undefined, { sampler });
    assert.equal(ps.windowSize, 10);
    a.add(1);
    advance(3);
    assert.equal(ps.describe(), "0.333333");
  });
});

describe("series", () => {
  it("Series folds 60 seconds into a minute, 60 minutes into an hour, 24 hours into a day", () => {
    const s = new Series("average");
    for (let i = 1; i <= 3600 * 24; i++) s.append(i % 60 === 0 ? 60 : 0);
    const p = s.points();
    assert.equal(p.length, 174);
    assert.equal(p[29], 1); // one day: every minute averages 1
    assert.equal(p[53], 1); // the newest hour
    assert.equal(p[113], 1); // the newest minute
    assert.equal(p[173], 60); // the newest second
    const m = new Series("max");
    for (let i = 0; i < 60; i++) m.append(i === 10 ? 99 : 1);
    assert.equal(m.points()[113], 99);
  });
  it("an exposed Adder keeps 174 points, newest second last", () => {
    const { registry, advance } = clock();
    const a = new Adder();
    a.expose("requests", { registry });
    for (let i = 1; i <= 120; i++) {
      a.add(1);
      advance();
    }
    const p = points(registry.seriesJson("requests"));
    assert.equal(p[173], 120);
    assert.equal(p[114], 61); // oldest second still kept
    assert.equal(p[112], 30.5); // minute 1: average of 1..60
    assert.equal(p[113], 90.5); // minute 2: average of 61..120
    assert.equal(p[111], 0);
  });
  it("a Window over a Maxer keeps the maximum when folding", () => {
    const { sampler, registry, advance } = clock();
    const mx = new Maxer(0);
    new Window(mx, 1, { sampler }).expose("peak", { registry });
    for (let i = 0; i < 60; i++) {
      mx.record(i === 20 ? 500 : 1);
      advance();
    }
    const p = points(registry.seriesJson("peak"));
    assert.equal(p[113], 500);
  });
  it("a Window over an IntRecorder averages all records of a minute", () => {
    const { sampler, registry, advance } = clock();
    const r = new IntRecorder();
    new Window(r, 1, { sampler }).expose("lat", { registry });
    for (let i = 0; i < 60; i++) {
      if (i === 0) for (let k = 0; k < 9; k++) r.record(10);
      else if (i === 1) r.record(110);
      advance();
    }
    const p = points(registry.seriesJson("lat"));
    assert.equal(p[113], 20); // (9 * 10 + 110) / 10, not the mean of per-second averages
  });
  it("PerSecond's series is the rate over the last second", () => {
    const { sampler, registry, advance } = clock();
    const a = new Adder();
    new PerSecond(a, 10, { sampler }).expose("rate", { registry });
    a.add(7);
    advance();
    a.add(3);
    advance();
    const p = points(registry.seriesJson("rate"));
    assert.deepEqual(p.slice(-2), [7, 3]);
  });
  it("numeric Status/PassiveStatus keep series, strings, Maxer, Miner and IntRecorder do not", () => {
    const { registry, advance } = clock();
    new Status(5).expose("s_num", { registry });
    new Status("x").expose("s_str", { registry });
    new PassiveStatus(() => 9).expose("p_num", { registry });
    new PassiveStatus(() => "y").expose("p_str", { registry });
    new Maxer().expose("mx", { registry });
    new Miner().expose("mn", { registry });
    new IntRecorder().expose("ir", { registry });
    advance();
    assert.equal(points(registry.seriesJson("s_num"))[173], 5);
    assert.equal(points(registry.seriesJson("p_num"))[173], 9);
    for (const n of ["s_str", "p_str", "mx", "mn", "ir", "missing"]) {
      assert.equal(registry.seriesJson(n), undefined, n);
    }
  });
  it("hide stops a series", () => {
    const { sampler, registry } = clock();
    const a = new Adder();
    a.expose("a", { registry });
    assert.equal(sampler.taskCount, 1);
    a.hide();
    assert.equal(sampler.taskCount, 0);
  });
});

describe("sampler", () => {
  it("arms one unref'd timer with the first task and clears it with the last", () => {
    const sampler = new Sampler({ intervalMs: 60_000 });
    assert.equal(sampler.running, false);
    const a = new Adder();
    const w = new Window(a, 2, { sampler });
    assert.equal(sampler.running, true);
    assert.equal(sampler.taskCount, 1);
    new Window(a, 5, { sampler }); // same source: same sampling task
    assert.equal(sampler.taskCount, 1);
    const task = { takeSample: () => true };
    sampler.add(task, "series");
    assert.equal(sampler.taskCount, 2);
    sampler.remove(task);
    a._reducerSampler(sampler).stop();
    assert.equal(sampler.taskCount, 0);
    assert.equal(sampler.running, false);
    assert.equal(w.value, 0);
  });
  it("a task returning false or a throwing one does not stop the others", () => {
    const sampler = new Sampler({ autoStart: false });
    let n = 0;
    sampler.add({ takeSample: () => false });
    sampler.add({
      takeSample: () => {
        throw new Error("boom");
      },
    });
    sampler.add({ takeSample: () => ++n > 0 }, "series");
    sampler.tick();
    sampler.tick();
    assert.equal(n, 2);
    assert.equal(sampler.taskCount, 2);
  });
  it("drops the sampling of a source that was garbage collected", async (t) => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as unknown;
    if (typeof gc !== "function") {
      t.skip("no gc() in this Node");
      return;
    }
    const sampler = new Sampler({ autoStart: false });
    (() => {
      new Window(new Adder(), 3, { sampler });
    })();
    assert.equal(sampler.taskCount, 1);
    for (let i = 0; i < 10 && sampler.taskCount > 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      gc();
      sampler.tick();
    }
    assert.equal(sampler.taskCount, 0);
  });
  it("does not keep the process alive", async () => {
    const index = pathToFileURL(join(DIST, "src", "metrics", "index.js")).href;
    const script = `
      import { Adder, LatencyRecorder, PerSecond, defaultSampler } from ${JSON.stringify(index)};
      const a = new Adder();
      new PerSecond(a).expose("child_rate");
      new LatencyRecorder().expose("child");
      console.log(defaultSampler.running ? "armed" : "idle");
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    clearTimeout(timer);
    assert.equal(code, 0, out);
    assert.equal(out.trim(), "armed");
  });
});
