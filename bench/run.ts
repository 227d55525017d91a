/**
 * `npm run bench`: echo of a 16-byte message over one connection, for every registered
 * system (bench/systems/index.ts) at every in-flight level, server and client in separate
 * child processes, one run at a time. Prints tables and ratios; writes
 * dist/bench-results.json. Knobs: BENCH_SECONDS, BENCH_WARMUP, BENCH_ONLY, BENCH_INFLIGHT,
 * BENCH_ROUNDS (see docs/benchmarks.md).
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { readConfig } from "./lib/config.js";
import { runClient, startServer, stopChild } from "./lib/proc.js";
import { formatRatios, header, machineInfo, type RunResult, ratios, summarize, table } from "./lib/report.js";
import { findSystem, systems } from "./systems/index.js";

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
  const names = config.only ? config.only.map((n) => findSystem(n).name) : systems.map((s) => s.name);
  console.log(header());
  console.log(
    `echo 16 B, 1 connection, warm-up ${config.warmupMs / 1000} s, measure ${config.measureMs / 1000} s, ` +
      `${config.rounds} round(s), systems: ${names.join(", ")}`,
  );

  // Systems alternate within each in-flight level, so the runs compared by a ratio are
  // close in time; rounds repeat the whole sequence.
  const runs: RunResult[] = [];
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

  const results = summarize(runs);
  for (const inflight of config.inflight) console.log(`\n${table(results, inflight)}`);
  const ratioList = ratios(runs);
  console.log(`\n${formatRatios(ratioList)}`);

  writeFileSync(
    RESULTS_FILE,
    `${JSON.stringify(
      { date: new Date().toISOString(), machine: machineInfo(), config, results, ratios: ratioList, runs },
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
