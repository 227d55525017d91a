/**
 * The stream-throughput part of `npm run bench` (after the unary part): for every round,
 * message size and stream system, a writer server child and a reader client child, one run
 * at a time. See bench/lib/stream.ts for the contract and docs/benchmarks.md ("Streaming").
 */
import type { StreamSystemEntry } from "../lib/stream.js";
import type { BenchConfig } from "./config.js";
import { cpuOf, expect, spawnChild, startServer, stopChild } from "./proc.js";
import type { Ratio } from "./report.js";
import type { StreamClientParams, StreamPhaseMessage, StreamResultMessage } from "./stream.js";

/** One (system, size) stream measurement, or the summary of its rounds. */
export interface StreamRunResult {
  system: string;
  /** Message size, bytes. */
  size: number;
  round?: number;
  rounds: number;
  /** Messages received inside the window(s). */
  messages: number;
  /** Payload bytes received inside the window(s). */
  bytes: number;
  seconds: number;
  msgsPerSec: number;
  /** 10^6 payload bytes per second. */
  mbPerSec: number;
  /** CPU time of the reader process / window length (1 = one core busy). */
  readerCpu: number;
  /** Same for the writer process (null if it did not answer). */
  writerCpu: number | null;
  /** Set when the run failed; the metrics are then 0. */
  error?: string;
}

async function measureStream(entry: StreamSystemEntry, size: number, config: BenchConfig) {
  const server = await startServer(entry.name, 15_000, "stream-server");
  try {
    const params: StreamClientParams = {
      port: server.port,
      size,
      warmupMs: config.warmupMs,
      measureMs: config.measureMs,
    };
    const client = spawnChild(["stream-client", entry.name, JSON.stringify(params)]);
    // The writer's CPU time, sampled when the reader's window opens and closes.
    const writerCpu: Promise<number | null>[] = [];
    client.on("message", (msg: StreamPhaseMessage) => {
      if (msg.type === "stream-phase") writerCpu.push(cpuOf(server.child));
    });
    let r: StreamResultMessage;
    try {
      const timeoutMs = config.warmupMs + config.measureMs + 30_000;
      r = await expect<StreamResultMessage>(
        client,
        "stream-result",
        `${entry.name} stream reader`,
        timeoutMs,
      );
    } finally {
      await stopChild(client);
    }
    const [w0, w1] = await Promise.all(writerCpu);
    const seconds = r.elapsedMs / 1000;
    const result: StreamRunResult = {
      system: entry.name,
      size,
      rounds: 1,
      messages: r.messages,
      bytes: r.bytes,
      seconds,
      msgsPerSec: r.messages / seconds,
      mbPerSec: r.bytes / seconds / 1e6,
      readerCpu: r.readerCpuMs / r.elapsedMs,
      writerCpu: w0 != null && w1 != null ? (w1 - w0) / 1000 / r.elapsedMs : null,
    };
    return result;
  } finally {
    await stopChild(server.child);
  }
}

/** "16 B", "1 KiB", "1 MiB", "1.5 KiB". */
export function formatSize(n: number): string {
  if (n >= 1 << 20 && n % (1 << 18) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1024 && n % 256 === 0) return `${n / 1024} KiB`;
  return `${n} B`;
}

function median(values: number[]): number {
  const v = values.toSorted((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** Merge the rounds of each (system, size): totals for counts, medians for rates; failed runs are left out. */
export function summarizeStreams(runs: readonly StreamRunResult[]): StreamRunResult[] {
  const groups = new Map<string, StreamRunResult[]>();
  for (const r of runs) {
    const key = `${r.system}@${r.size}`;
    if (!groups.has(key)) groups.set(key, []);
    if (r.error === undefined) groups.get(key)!.push(r);
  }
  return [...groups.entries()].map(([key, g]) => {
    const [system, size] = [key.slice(0, key.lastIndexOf("@")), Number(key.slice(key.lastIndexOf("@") + 1))];
    if (g.length === 0) {
      const failed = runs.find((r) => r.system === system && r.size === size)!;
      return { ...failed, round: undefined, rounds: 0 } as StreamRunResult;
    }
    const wc = g.map((r) => r.writerCpu).filter((c): c is number => c !== null);
    return {
      system,
      size,
      rounds: g.length,
      messages: g.reduce((a, r) => a + r.messages, 0),
      bytes: g.reduce((a, r) => a + r.bytes, 0),
      seconds: g.reduce((a, r) => a + r.seconds, 0),
      msgsPerSec: median(g.map((r) => r.msgsPerSec)),
      mbPerSec: median(g.map((r) => r.mbPerSec)),
      readerCpu: median(g.map((r) => r.readerCpu)),
      writerCpu: wc.length > 0 ? median(wc) : null,
    };
  });
}

/** A stream ratio with its target (or "(context)"). */
export interface StreamRatio extends Ratio {
  target: string;
}

/**
 * Throughput ratio a/b at `size` (messages/s and MB/s give the same ratio at one size),
 * per round from the two back-to-back runs, median over rounds.
 */
function pairedStreamRatio(
  runs: readonly StreamRunResult[],
  a: string,
  b: string,
  size: number,
  unit: string,
  target: string,
): StreamRatio {
  const values: number[] = [];
  for (const round of new Set(runs.map((r) => r.round ?? 1))) {
    const pick = (s: string) =>
      runs.find(
        (r) => r.system === s && r.size === size && (r.round ?? 1) === round && r.error === undefined,
      );
    const ra = pick(a);
    const rb = pick(b);
    if (ra !== undefined && rb !== undefined && rb.msgsPerSec > 0) values.push(ra.msgsPerSec / rb.msgsPerSec);
  }
  const label = `${a}/${b} ${unit} @${formatSize(size)}`;
  return { label, value: values.length > 0 ? median(values) : null, target };
}

/** Targets of brpc-ts/bare by size (issue of the streaming work); other sizes are context. */
const TARGETS: Record<number, string> = { [1 << 20]: ">= 0.5", 16: ">= 0.3" };

/**
 * brpc-ts vs bare at every size (with targets), then brpc-ts vs bare-batched and the other
 * brpc-ts variants vs bare (context).
 */
export function streamRatios(runs: readonly StreamRunResult[], sizes: readonly number[]): StreamRatio[] {
  const systems = new Set(runs.map((r) => r.system));
  const unit = (size: number) => (size < 1024 ? "msgs/s" : "MB/s");
  // Headline order: 1 MiB, 16 B, then the others (1 KiB).
  const ordered = [...sizes].sort((x, y) => (TARGETS[y] ? 1 : 0) - (TARGETS[x] ? 1 : 0) || y - x);
  const pairs: [string, string, boolean][] = [
    ["brpc-ts", "bare", true],
    ["brpc-ts", "bare-batched", false],
  ];
  for (const s of systems) if (s.startsWith("brpc-ts-")) pairs.push([s, "bare", false]);
  const out: StreamRatio[] = [];
  for (const [a, b, targeted] of pairs) {
    if (!systems.has(a) || !systems.has(b)) continue;
    for (const size of ordered) {
      const target = targeted ? (TARGETS[size] ?? "(context)") : "(context)";
      out.push(pairedStreamRatio(runs, a, b, size, unit(size), target));
    }
  }
  return out;
}

const int = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const dec = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const pct = (v: number | null) => (v === null ? "n/a" : `${Math.round(v * 100)}%`);

/** The table of all stream results, grouped by message size. */
export function streamTable(results: readonly StreamRunResult[]): string {
  const rows = [["size", "system", "MB/s", "msgs/s", "reader CPU", "writer CPU"]];
  for (const r of results) {
    if (r.rounds === 0) {
      rows.push([formatSize(r.size), r.system, "failed", "", "", ""]);
      continue;
    }
    rows.push([
      formatSize(r.size),
      r.system,
      dec.format(r.mbPerSec),
      int.format(r.msgsPerSec),
      pct(r.readerCpu),
      pct(r.writerCpu),
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const line = (row: string[]) =>
    row.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
  const rounds = Math.max(0, ...results.map((r) => r.rounds));
  const title = `stream throughput, 1 stream / 1 connection, server writes, client reads${rounds > 1 ? `, median of ${rounds} rounds` : ""}`;
  return [title, line(rows[0]!), ...rows.slice(1).map(line)].join("\n");
}

/** The ratio lines with their targets. */
export function formatStreamRatios(list: readonly StreamRatio[]): string {
  if (list.length === 0) return "(no stream ratios: they need bare and at least one other system)";
  const w = Math.max(...list.map((r) => r.label.length));
  return list
    .map((r) => `${r.label.padEnd(w)}  ${r.value === null ? "n/a" : r.value.toPrecision(3)}  ${r.target}`)
    .join("\n");
}

/**
 * Run every round × size × system, systems alternating within a size so that compared runs
 * are back to back. A failed run is reported and recorded (with `error`), and the others go on.
 */
export async function runStreams(
  config: BenchConfig,
  entries: readonly StreamSystemEntry[],
): Promise<StreamRunResult[]> {
  const runs: StreamRunResult[] = [];
  for (let round = 1; round <= config.rounds; round++) {
    for (const size of config.streamSizes) {
      for (const entry of entries) {
        let r: StreamRunResult;
        try {
          r = { ...(await measureStream(entry, size, config)), round };
          console.error(
            `  round ${round}: stream ${entry.name} ${formatSize(size)}: ${dec.format(r.mbPerSec)} MB/s, ` +
              `${int.format(r.msgsPerSec)} msgs/s, reader CPU ${pct(r.readerCpu)}, writer CPU ${pct(r.writerCpu)}`,
          );
        } catch (err) {
          // First line only: the child's stack trace is not useful in the report.
          const error = (err instanceof Error ? err.message : String(err)).split("\n")[0]!;
          console.error(`  round ${round}: stream ${entry.name} ${formatSize(size)} FAILED: ${error}`);
          r = {
            system: entry.name,
            size,
            round,
            rounds: 1,
            messages: 0,
            bytes: 0,
            seconds: 0,
            msgsPerSec: 0,
            mbPerSec: 0,
            readerCpu: 0,
            writerCpu: null,
            error,
          };
        }
        runs.push(r);
      }
    }
  }
  return runs;
}
