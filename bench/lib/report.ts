import os from "node:os";

/**
 * One (system, in-flight level) measurement, or the summary of several rounds of it
 * (see {@link summarize}).
 */
export interface RunResult {
  system: string;
  inflight: number;
  /** Number of rounds summarized (1 for a single measurement). */
  rounds: number;
  /** Calls completed in the measurement window(s). */
  calls: number;
  /** Length of the measurement window(s), s. */
  seconds: number;
  callsPerSec: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
  maxUs: number;
}

function median(values: number[]): number {
  const v = values.toSorted((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/**
 * Merge the rounds of each (system, in-flight level), keeping first-seen order: totals for
 * calls and seconds, max for maxUs, and the median over rounds for every other metric.
 */
export function summarize(runs: readonly RunResult[]): RunResult[] {
  const groups = new Map<string, RunResult[]>();
  for (const r of runs) {
    const key = `${r.system}@${r.inflight}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((g) => ({
    system: g[0]!.system,
    inflight: g[0]!.inflight,
    rounds: g.length,
    calls: g.reduce((a, r) => a + r.calls, 0),
    seconds: g.reduce((a, r) => a + r.seconds, 0),
    callsPerSec: median(g.map((r) => r.callsPerSec)),
    p50Us: median(g.map((r) => r.p50Us)),
    p99Us: median(g.map((r) => r.p99Us)),
    meanUs: median(g.map((r) => r.meanUs)),
    maxUs: Math.max(...g.map((r) => r.maxUs)),
  }));
}

/** A ratio line of the report; `value` is null ("n/a") when a side was not measured. */
export interface Ratio {
  label: string;
  value: number | null;
}

/** Node version, CPU model and core count of this machine. */
export function machineInfo(): { node: string; cpu: string; cores: number; platform: string } {
  const cpus = os.cpus();
  return {
    node: process.version,
    cpu: cpus[0]?.model.trim() ?? "unknown CPU",
    cores: cpus.length,
    platform: `${process.platform} ${process.arch}`,
  };
}

/** The one-line report header. */
export function header(): string {
  const m = machineInfo();
  return `node ${m.node} | ${m.cpu} | ${m.cores} cores | ${m.platform}`;
}

function find(results: readonly RunResult[], system: string, inflight: number): RunResult | undefined {
  return results.find((r) => r.system === system && r.inflight === inflight);
}

function ratio(label: string, a: number | undefined, b: number | undefined): Ratio {
  return { label, value: a !== undefined && b !== undefined && b > 0 ? a / b : null };
}

/**
 * The headline ratios: brpc-ts vs bare and vs grpc-js throughput at 64 in flight, brpc-ts
 * vs bare median latency at 1 in flight (plus grpc-js vs bare for context).
 */
export function ratios(results: readonly RunResult[]): Ratio[] {
  const cps = (s: string) => find(results, s, 64)?.callsPerSec;
  const p50 = (s: string) => find(results, s, 1)?.p50Us;
  return [
    ratio("brpc-ts/bare calls/s @64 in flight", cps("brpc-ts"), cps("bare")),
    ratio("brpc-ts/grpc-js calls/s @64 in flight", cps("brpc-ts"), cps("grpc-js")),
    ratio("brpc-ts p50 / bare p50 @1 in flight", p50("brpc-ts"), p50("bare")),
    ratio("brpc-ts/bare-batched calls/s @64 in flight", cps("brpc-ts"), cps("bare-batched")),
    ratio("grpc-js/bare calls/s @64 in flight", cps("grpc-js"), cps("bare")),
    ratio("grpc-js p50 / bare p50 @1 in flight", p50("grpc-js"), p50("bare")),
  ];
}

const int = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const dec = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });

/** A table of all results at one in-flight level. */
export function table(results: readonly RunResult[], inflight: number): string {
  const rows = [["system", "calls/s", "p50 µs", "p99 µs"]];
  for (const r of results) {
    if (r.inflight === inflight) {
      rows.push([r.system, int.format(r.callsPerSec), dec.format(r.p50Us), dec.format(r.p99Us)]);
    }
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const line = (row: string[]) =>
    row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
  const rounds = Math.max(...results.map((r) => r.rounds));
  const title = `${inflight} in flight, 1 connection${rounds > 1 ? `, median of ${rounds} rounds` : ""}`;
  return [title, line(rows[0]!), ...rows.slice(1).map(line)].join("\n");
}

/** The ratio lines, "n/a" for missing sides. */
export function formatRatios(list: readonly Ratio[]): string {
  const w = Math.max(...list.map((r) => r.label.length));
  return list
    .map((r) => `${r.label.padEnd(w)}  ${r.value === null ? "n/a" : r.value.toPrecision(3)}`)
    .join("\n");
}
