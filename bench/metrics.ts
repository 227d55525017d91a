/**
 * Micro-benchmark of the metrics hot paths (src/metrics): `LatencyRecorder.record`,
 * `Adder.add`, `Maxer.record`, `IntRecorder.record` and a family's `get(labels)` + `add`,
 * each against baseline loops doing the same array read and addition and nothing else.
 * Also counts garbage collections during 5M calls of each (0 = the call does not allocate),
 * and the once-a-second cost: a sampler tick with an exposed LatencyRecorder (windows,
 * series, percentiles of the 10 s window).
 *
 * Run: `npx tsc -p . && node dist/bench/metrics.js` (BENCH_METRICS_MS sets the time per case).
 */

import { PerformanceObserver } from "node:perf_hooks";
import {
  Adder,
  IntRecorder,
  LatencyRecorder,
  Maxer,
  MetricFamily,
  MetricRegistry,
  prometheusText,
  Sampler,
} from "../src/metrics/index.js";
import { nsPerBatchOp } from "./lib/micro.js";

const MS = Number(process.env.BENCH_METRICS_MS ?? 400);
const MASK = 4095;

// Latencies around 1 ms with a tail, fixed so every run sees the same input.
const LAT = new Float64Array(MASK + 1);
let seed = 88675123;
for (let i = 0; i <= MASK; i++) {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  const u = ((seed >>> 0) + 0.5) / 4294967296;
  LAT[i] = Math.round(-Math.log(u) * 1000);
}

let sink = 0;

/** ns per call of a loop body: `batch(n)` runs it n times. */
function nsPerOp(batch: (n: number) => void): number {
  return nsPerBatchOp(batch, MS, 100_000, 200_000);
}

/** Garbage collections while `batch(5M)` runs. */
async function gcsDuring(batch: (n: number) => void): Promise<number> {
  let count = 0;
  const obs = new PerformanceObserver((list) => {
    count += list.getEntries().length;
  });
  obs.observe({ entryTypes: ["gc"] });
  await new Promise((r) => setTimeout(r, 10));
  count = 0;
  batch(5_000_000);
  await new Promise((r) => setTimeout(r, 50));
  obs.disconnect();
  return count;
}

// A manual sampler: nothing ticks during the hot loops (a second's reservoir then sees
// millions of values: the replacement path, as under heavy load).
const sampler = new Sampler({ autoStart: false });
const registry = new MetricRegistry({ sampler });

const adder = new Adder();
const maxer = new Maxer();
const recorder = new IntRecorder();
const latency = new LatencyRecorder({ sampler });
latency.expose("bench_rpc", { registry });
const family = new MetricFamily("bench_requests", ["method", "code"], () => new Adder(), { registry });
const LABELS = Array.from({ length: 16 }, (_, i) => ({ method: `Method${i & 7}`, code: String(i >> 3) }));
const LABEL_ARRAYS = LABELS.map((l) => [l.method, l.code]);

const field = { v: 0 };

const cases: Array<[string, (n: number) => void]> = [
  [
    "baseline (read + add)",
    (n) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += LAT[i & MASK];
      sink += s;
    },
  ],
  [
    "baseline (object field +=)",
    (n) => {
      for (let i = 0; i < n; i++) field.v += LAT[i & MASK];
    },
  ],
  [
    "Adder.add",
    (n) => {
      for (let i = 0; i < n; i++) adder.add(LAT[i & MASK]);
    },
  ],
  [
    "Maxer.record",
    (n) => {
      for (let i = 0; i < n; i++) maxer.record(LAT[i & MASK]);
    },
  ],
  [
    "IntRecorder.record",
    (n) => {
      for (let i = 0; i < n; i++) recorder.record(LAT[i & MASK]);
    },
  ],
  [
    "LatencyRecorder.record",
    (n) => {
      for (let i = 0; i < n; i++) latency.record(LAT[i & MASK]);
    },
  ],
  [
    "family.get({method, code}).add",
    (n) => {
      for (let i = 0; i < n; i++) family.get(LABELS[i & 15]).add(LAT[i & MASK]);
    },
  ],
  [
    "family.get([method, code]).add",
    (n) => {
      for (let i = 0; i < n; i++) family.get(LABEL_ARRAYS[i & 15]).add(LAT[i & MASK]);
    },
  ],
];

console.log(`metrics hot paths (${MS} ms per case, best of 3; ns per call)`);
let base = 0;
for (const [name, batch] of cases) {
  const ns = nsPerOp(batch);
  if (base === 0) base = ns;
  const over = ns - base;
  if (field.v === -1) sink++;
  const gcs = await gcsDuring(batch);
  console.log(
    `  ${name.padEnd(34)} ${ns.toFixed(2).padStart(6)} ns  ` +
      `(+${Math.max(0, over).toFixed(2)} ns over baseline, x${(ns / base).toFixed(1)})  GCs in 5M calls: ${gcs}`,
  );
}

// Once a second: the sampler tick (windows, series, the percentile merge the exposed
// latency_80/90/99/999/9999 and latency_percentiles series ask for).
let tickUs = 0;
const TICKS = 100;
for (let k = 0; k < TICKS; k++) {
  for (let i = 0; i < 100_000; i++) latency.record(LAT[(i * 7) & MASK]);
  const t = performance.now();
  sampler.tick();
  tickUs += (performance.now() - t) * 1000;
}
const p = latency.percentiles();
const t1 = performance.now();
const text = prometheusText(registry);
const t2 = performance.now();
console.log(
  `  sampler tick, 1 exposed LatencyRecorder at 100k records/s: ${(tickUs / TICKS).toFixed(0)} us per second ` +
    `(p80/p90/p99/p99.9 = ${p.join("/")})`,
);
console.log(`  prometheusText: ${((t2 - t1) * 1000).toFixed(0)} us for ${text.split("\n").length - 1} lines`);
if (sink === -1) console.log(sink);
