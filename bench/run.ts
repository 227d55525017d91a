/**
 * `npm run bench`: echo of a 16-byte message over one connection, for every registered
 * system (bench/systems/index.ts) at every in-flight level, server and client in separate
 * child processes, one run at a time; then stream throughput (bench/lib/stream-run.ts) of
 * every stream system at every message size. Prints tables and ratios; writes
 * dist/bench-results.json. Knobs: BENCH_SECONDS, BENCH_WARMUP, BENCH_ONLY, BENCH_INFLIGHT,
 * BENCH_ROUNDS, BENCH_UNARY, BENCH_STREAM, BENCH_STREAM_SIZES, BENCH_CPU_PROF (see
 * docs/benchmarks.md).
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { readConfig } from "./lib/config.js";
import { runClient, startServer, stopChild } from "./lib/proc.js";
import { formatRatios, header, machineInfo, type RunResult, ratios, summarize, table } from "./lib/report.js";
import {
  formatSize,
  formatStreamRatios,
  runStreams,
  streamRatios,
  streamTable,
  summarizeStreams,
} from "./lib/stream-run.js";
import { findStreamSystem, findSystem, streamSystems, systems } from "./systems/index.js";

const RESULTS_FILE = fileURLToPath(new URL("../bench-results.json", import.meta.url));

async function measure(system: string, inflight: number, warmupMs: number, measureMs: number) {
  const server = await startServer(system);
  try {
    const r = await runClient(system, { port: server.port, inflight, warmupMs, measureMs });
    const seconds = r.elapsedMs / 1000;
    const { p50Us, p99Us, meanUs, maxUs } = r;
    const result: RunResult = {
      system,
      inflight,
      rounds: 1,
      calls: r.calls,
      seconds,
      callsPerSec: r.calls / seconds,
      p50Us,
      p99Us,
      meanUs,
      maxUs,
    };
    return result;
  } finally {
    await stopChild(server.child);
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  // BENCH_ONLY names systems of either part; each part runs the ones it knows.
  for (const n of config.only ?? []) {
    if (!systems.some((s) => s.name === n) && !streamSystems.some((s) => s.name === n)) {
      const known = [...new Set([...systems, ...streamSystems].map((s) => s.name))].join(", ");
      throw new Error(`BENCH_ONLY: unknown bench system "${n}" (known: ${known})`);
    }
  }
  const names = config.unary
    ? config.only
      ? config.only.filter((n) => systems.some((s) => s.name === n)).map((n) => findSystem(n).name)
      : systems.map((s) => s.name)
    : [];
  const streamEntries = config.stream
    ? config.only
      ? config.only.filter((n) => streamSystems.some((s) => s.name === n)).map(findStreamSystem)
      : streamSystems
    : [];
  console.log(header());

  // Systems alternate within each in-flight level, so the runs compared by a ratio are
  // close in time; rounds repeat the whole sequence.
  const runs: RunResult[] = [];
  if (names.length > 0) {
    console.log(
      `echo 16 B, 1 connection, warm-up ${config.warmupMs / 1000} s, measure ${config.measureMs / 1000} s, ` +
        `${config.rounds} round(s), systems: ${names.join(", ")}`,
    );
    for (let round = 1; round <= config.rounds; round++) {
      for (const inflight of config.inflight) {
        for (const system of names) {
          const r = { ...(await measure(system, inflight, config.warmupMs, config.measureMs)), round };
          console.error(
            `  round ${round}: ${system} @${inflight}: ${Math.round(r.callsPerSec)} calls/s, ` +
              `p50 ${r.p50Us.toFixed(1)} µs, p99 ${r.p99Us.toFixed(1)} µs`,
          );
          runs.push(r);
        }
      }
    }
  }
  const results = summarize(runs);
  const ratioList = names.length > 0 ? ratios(runs) : [];
  if (names.length > 0) {
    for (const inflight of config.inflight) console.log(`\n${table(results, inflight)}`);
    console.log(`\n${formatRatios(ratioList)}`);
  }

  let stream: object | undefined;
  if (streamEntries.length > 0) {
    console.log(
      `\nstream throughput, 1 stream on 1 connection, server writes / client reads, sizes ` +
        `${config.streamSizes.map(formatSize).join(", ")}, warm-up ${config.warmupMs / 1000} s, ` +
        `measure ${config.measureMs / 1000} s, ${config.rounds} round(s), systems: ` +
        `${streamEntries.map((e) => e.name).join(", ")}` +
        (process.env.BENCH_STREAM_WINDOW ? `, brpc-ts window ${process.env.BENCH_STREAM_WINDOW} B` : ""),
    );
    const streamRuns = await runStreams(config, streamEntries);
    const streamResults = summarizeStreams(streamRuns);
    const streamRatioList = streamRatios(streamRuns, config.streamSizes);
    console.log(`\n${streamTable(streamResults)}`);
    console.log(`\n${formatStreamRatios(streamRatioList)}`);
    const failed = streamRuns.filter((r) => r.error !== undefined);
    if (failed.length > 0) {
      console.log(`\n${failed.length} stream run(s) failed:`);
      for (const f of failed)
        console.log(`  round ${f.round}: ${f.system} ${formatSize(f.size)}: ${f.error}`);
      process.exitCode = 1;
    }
    stream = {
      brpcTsWindow: process.env.BENCH_STREAM_WINDOW ? Number(process.env.BENCH_STREAM_WINDOW) : "default",
      systems: streamEntries.map(({ name, variant, description }) => ({ name, variant, description })),
      results: streamResults,
      ratios: streamRatioList,
      runs: streamRuns,
    };
  }

  writeFileSync(
    RESULTS_FILE,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: machineInfo(),
        config,
        results,
        ratios: ratioList,
        runs,
        stream,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nresults written to ${RESULTS_FILE}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
