/**
 * Summarize V8 CPU profiles (`.cpuprofile`, e.g. from `BENCH_CPU_PROF=<dir> npm run bench`):
 * the functions with the most self time and the most inclusive time (a function counted
 * once per sample however often it is on the stack), as % of all samples.
 *
 *   node dist/bench/prof.js <file.cpuprofile>... [--top N] [--filter <substring of url>]
 */
import { readFileSync } from "node:fs";
import path from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

interface Row {
  self: number;
  total: number;
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName || "(anonymous)";
  if (url === "") return name;
  let file = url.startsWith("file://") ? new URL(url).pathname : url;
  if (file.startsWith("/")) file = path.relative(process.cwd(), file);
  return `${name} ${file}:${lineNumber + 1}`;
}

function summarize(file: string, top: number, filter: string | undefined): void {
  const prof = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const rows = new Map<string, Row>();
  const row = (k: string): Row => {
    let r = rows.get(k);
    if (r === undefined) {
      r = { self: 0, total: 0 };
      rows.set(k, r);
    }
    return r;
  };
  let all = 0;
  let idle = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] ?? 0;
    const leaf = byId.get(prof.samples[i]!)!;
    all += dt;
    if (leaf.callFrame.functionName === "(idle)") idle += dt;
    row(label(leaf)).self += dt;
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const k = label(byId.get(id)!);
      if (seen.has(k)) continue;
      seen.add(k);
      row(k).total += dt;
    }
  }
  const pct = (v: number) => `${((100 * v) / all).toFixed(1).padStart(5)}%`;
  const keep = ([k]: [string, Row]) => filter === undefined || k.includes(filter);
  console.log(`\n== ${file}: ${(all / 1e6).toFixed(2)} s sampled, idle ${pct(idle)}`);
  console.log("-- self");
  for (const [k, r] of [...rows]
    .filter(keep)
    .sort((a, b) => b[1].self - a[1].self)
    .slice(0, top)) {
    console.log(`${pct(r.self)}  ${pct(r.total)}  ${k}`);
  }
  console.log("-- inclusive");
  for (const [k, r] of [...rows]
    .filter(keep)
    .sort((a, b) => b[1].total - a[1].total)
    .slice(0, top)) {
    console.log(`${pct(r.self)}  ${pct(r.total)}  ${k}`);
  }
}

const args = process.argv.slice(2);
let top = 25;
let filter: string | undefined;
const files: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--top") top = Number(args[++i]);
  else if (args[i] === "--filter") filter = args[++i];
  else files.push(args[i]!);
}
if (files.length === 0) {
  console.error("usage: node dist/bench/prof.js <file.cpuprofile>... [--top N] [--filter <substring>]");
  process.exitCode = 2;
}
for (const f of files) summarize(f, top, filter);
