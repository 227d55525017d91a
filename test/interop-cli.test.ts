/**
 * The interop contract: `npm run interop:server` and `npm run interop:client` (here their
 * compiled scripts) talk to each other and print what the brpc peer client printed in
 * the captures, modulo latency and addresses.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadCapture } from "./helpers/captures.js";
import { DIST, runNode, type ServerProcess, startServerProcess } from "./helpers/child.js";

const CLIENT = join(DIST, "examples", "interop", "client.js");

/** Replace latencies and addresses, which differ between runs. */
export function normalizeLine(line: string): string {
  return line.replace(/latency_us=\d+/, "latency_us=L").replace(/\d+\.\d+\.\d+\.\d+:\d+/g, "ADDR");
}

const cases: { scenario: string; capture: string; n: number; compress?: number }[] = [
  { scenario: "echo", capture: "baidu_std_echo", n: 3 },
  { scenario: "attachment", capture: "baidu_std_attachment", n: 2 },
  { scenario: "fail", capture: "baidu_std_error", n: 2 },
  { scenario: "timeout", capture: "baidu_std_timeout", n: 1 },
  { scenario: "missing", capture: "baidu_std_missing_method", n: 1 },
  { scenario: "attachment", capture: "baidu_std_snappy", n: 2, compress: 1 },
  { scenario: "attachment", capture: "baidu_std_gzip", n: 2, compress: 2 },
  { scenario: "attachment", capture: "baidu_std_zlib", n: 2, compress: 3 },
];

describe("interop:server + interop:client", () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess();
  });
  after(() => {
    server.child.kill("SIGTERM");
  });

  it("the server prints a line containing 'listening'", () => {
    assert.match(server.output(), /listening/);
  });

  for (const c of cases) {
    it(`${c.scenario}${c.compress ? ` --compress ${c.compress}` : ""} prints ${c.capture}'s observed_result`, async () => {
      const args = [
        CLIENT,
        "--server",
        `127.0.0.1:${server.port}`,
        "--scenario",
        c.scenario,
        "--n",
        String(c.n),
      ];
      if (c.compress !== undefined) args.push("--compress", String(c.compress));
      const r = await runNode(args);
      assert.equal(r.code, 0, r.stderr);
      const got = r.stdout.trim().split("\n").map(normalizeLine);
      const want = loadCapture(c.capture).observed_result.map(normalizeLine);
      assert.deepEqual(got, want);
    });
  }

  it("rejects bad arguments with a usage line", async () => {
    const r = await runNode([CLIENT, "--scenario", "nope"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /usage/);
  });
});
