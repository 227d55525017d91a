import os from "node:os";

/**
 * One (system, in-flight level) measurement, or the summary of several rounds of it
 * (see {@link summarize}).
 */
export interface RunResult {
  system: string;
  inflight: number;
  /** Round the measurement belongs to (1-based; absent in summaries). */
  round?: number;
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
  /** CPU time of client and server together per call in the window, µs (when measured). */
  cpuUsPerCall?: number;
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
    ...(g.every((r) => r.cpuUsPerCall !== undefined)
      ? { cpuUsPerCall: median(g.map((r) => r.cpuUsPerCall as number)) }
      : {}),
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

/**
 * `label`: the ratio a/b of metric `pick` between systems `a` and `b` at `inflight`,
 * computed per round (the two runs of a round are back to back, so they share the
 * machine's state of the moment) and reported as the median over rounds.
 */
export function pairedRatio(
  runs: readonly RunResult[],
  label: string,
  a: string,
  b: string,
  inflight: number,
  pick: (r: RunResult) => number,
): Ratio {
  const values: number[] = [];
  const rounds = new Set(runs.map((r) => r.round ?? 1));
  for (const round of rounds) {
    const ra = runs.find((r) => r.system === a && r.inflight === inflight && (r.round ?? 1) === round);
    const rb = runs.find((r) => r.system === b && r.inflight === inflight && (r.round ?? 1) === round);
    if (ra !== undefined && rb !== undefined && pick(ra) > 0 && pick(rb) > 0)
      values.push(pick(ra) / pick(rb));
  }
  return { label, value: values.length > 0 ? median(values) : null };
}

/**
 * The headline ratios from all rounds' runs: brpc-ts vs bare and vs grpc-js throughput
 * at 64 in flight, brpc-ts vs bare median latency at 1 in flight (plus grpc-js vs bare
 * for context). Each is the median of the per-round ratios.
 */
export function ratios(runs: readonly RunResult[]): Ratio[] {
  const cps = (r: RunResult) => r.callsPerSec;
  const p50 = (r: RunResult) => r.p50Us;
  return [
    pairedRatio(runs, "brpc-ts/bare calls/s @64 in flight", "brpc-ts", "bare", 64, cps),
    pairedRatio(runs, "brpc-ts/grpc-js calls/s @64 in flight", "brpc-ts", "grpc-js", 64, cps),
    pairedRatio(runs, "brpc-ts p50 / bare p50 @1 in flight", "brpc-ts", "bare", 1, p50),
    pairedRatio(runs, "brpc-ts/bare-batched calls/s @64 in flight", "brpc-ts", "bare-batched", 64, cps),
    pairedRatio(runs, "grpc-js/bare calls/s @64 in flight", "grpc-js", "bare", 64, cps),
    pairedRatio(runs, "grpc-js p50 / bare p50 @1 in flight", "grpc-js", "bare", 1, p50),
  ];
}

const int = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const dec = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });

/**
 * A table of all results at one in-flight level; `connections` describes the connections
 * of the level in the title (default "1 connection").
 */
export function table(
  results: readonly RunResult[],
  inflight: number,
  connections: (inflight: number) => string = () => "1 connection",
): string {
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
  const title = `${inflight} in flight, ${connections(inflight)}${rounds > 1 ? `, median of ${rounds} rounds` : ""}`;
  return [title, line(rows[0]!), ...rows.slice(1).map(line)].join("\n");
}

/** The ratio lines, "n/a" for missing sides. */
export function formatRatios(list: readonly Ratio[]): string {
  const w = Math.max(...list.map((r) => r.label.length));
  return list
    .map((r) => `${r.label.padEnd(w)}  ${r.value === null ? "n/a" : r.value.toPrecision(3)}`)
    .join("\n");
}
