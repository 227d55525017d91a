/**
 * docs/interop.md: run the interop server and client (examples/interop) for every
 * baidu_std scenario and compare the client's lines with what the real brpc client
 * printed in the wire captures (test/fixtures/wire/*.json, "observed_result").
 *
 *   npx tsc -p . && node dist/examples/docs/interop-check.js
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const script = (name: string) => fileURLToPath(new URL(`../interop/${name}.js`, import.meta.url));
const wire = fileURLToPath(new URL("../../../test/fixtures/wire/", import.meta.url));

// Scenario of the interop client -> capture recorded with brpc on both sides.
const cases: { capture: string; args: string[] }[] = [
  { capture: "baidu_std_echo", args: ["--scenario", "echo", "--n", "3"] },
  { capture: "baidu_std_attachment", args: ["--scenario", "attachment", "--n", "2"] },
  { capture: "baidu_std_snappy", args: ["--scenario", "attachment", "--n", "2", "--compress", "1"] },
  { capture: "baidu_std_gzip", args: ["--scenario", "attachment", "--n", "2", "--compress", "2"] },
  { capture: "baidu_std_zlib", args: ["--scenario", "attachment", "--n", "2", "--compress", "3"] },
  { capture: "baidu_std_error", args: ["--scenario", "fail", "--n", "2"] },
  { capture: "baidu_std_timeout", args: ["--scenario", "timeout", "--n", "1"] },
  { capture: "baidu_std_missing_method", args: ["--scenario", "missing", "--n", "1"] },
];

/** Latencies and addresses differ from run to run. */
const normalize = (line: string) =>
  line.replace(/latency_us=\d+/, "latency_us=L").replace(/\d+\.\d+\.\d+\.\d+:\d+/g, "ADDR");

const server = spawn(process.execPath, [script("server"), "--port", "0"], {
  stdio: ["ignore", "pipe", "inherit"],
});
const address = await new Promise<string>((resolve) => {
  let out = "";
  server.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    const m = /listening on (\S+)/.exec(out);
    if (m) resolve(m[1] as string);
  });
});
console.log(`interop server on ${address}`);

for (const c of cases) {
  const { stdout } = await run(process.execPath, [script("client"), "--server", address, ...c.args]);
  const ours = stdout.trim().split("\n");
  const theirs = (
    JSON.parse(readFileSync(`${wire}${c.capture}.json`, "utf8")) as { observed_result: string[] }
  ).observed_result;
  console.log(`${c.capture} (client ${c.args.join(" ")}):`);
  for (const line of ours) console.log(`  ${line}`);
  assert.deepEqual(ours.map(normalize), theirs.map(normalize), `${c.capture}: differs from brpc's output`);
}
server.kill("SIGTERM");
console.log("every scenario prints what the brpc client printed");
