/**
 * Every runnable example of docs/ (examples/docs/*.ts) runs as its own process and exits 0:
 * each checks what its page says with node:assert, so a page and its code cannot drift apart.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { DIST } from "./helpers/child.js";

const DIR = join(DIST, "examples", "docs");
const examples = readdirSync(DIR)
  .filter((f) => f.endsWith(".js") && !f.endsWith("_pb.js"))
  .sort();

/** Run `file` with this Node, collecting its output; resolves with the exit code. */
function run(file: string, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(DIR, file)], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe("docs examples", () => {
  it("there are examples to run", () => {
    assert.ok(examples.length >= 10, examples.join(", "));
  });
  for (const file of examples) {
    it(`${file} exits 0`, async () => {
      const r = await run(file, 60_000);
      assert.equal(r.code, 0, `${file} exited with ${r.code}:\n${r.output.slice(-4000)}`);
    });
  }
});
