/** Child processes for tests: the interop server as a real, killable process. */
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Root of the compiled tree (dist/). */
export const DIST = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** A running child process and the port it listens on. */
export interface ServerProcess {
  child: ChildProcess;
  port: number;
  output: () => string;
}

/** Start `node dist/examples/interop/server.js --port 0` and wait for its "listening" line. */
export async function startServerProcess(extraArgs: string[] = []): Promise<ServerProcess> {
  const script = join(DIST, "examples", "interop", "server.js");
  const child = spawn(process.execPath, [script, "--port", "0", ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 10000);
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on [^\s]*:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${out}`));
    });
  });
  return { child, port, output: () => out };
}

/** Run a node script to completion and return its stdout. */
export function runNode(
  args: string[],
  timeoutMs = 20000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`timed out: ${args.join(" ")}\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}
