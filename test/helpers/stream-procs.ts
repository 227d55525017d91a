/** Starting, freezing and killing stream-peer child processes (see stream-peer.ts). */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { DIST } from "./child.js";
import { trackChild } from "./stream-stall-guard.js";

/** The compiled stream peer script. */
export const STREAM_PEER = join(DIST, "test", "helpers", "stream-peer.js");

/** A running stream peer. */
export interface StreamPeer {
  child: ChildProcess;
  /** stdout and stderr so far (for failure messages). */
  output: () => string;
  /** Resolve with the first match of `re` in stdout (rejects after `ms` or if the child exits). */
  waitFor: (re: RegExp, ms?: number) => Promise<RegExpExecArray>;
}

/**
 * Start `node stream-peer.js ...args`, optionally through a wrapper command (for example
 * `["ip", "netns", "exec", "ns"]`, which execs node in place, so the pid stays node's).
 */
export function startStreamPeer(args: string[], wrapper: string[] = []): StreamPeer {
  const argv = [...wrapper, process.execPath, STREAM_PEER, ...args];
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let all = "";
  let exited = false;
  const wake = new Set<() => void>();
  const notify = () => {
    for (const f of [...wake]) f();
  };
  child.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString();
    all += d.toString();
    notify();
  });
  child.stderr?.on("data", (d: Buffer) => {
    all += d.toString();
  });
  const untrack = trackChild(child.pid);
  child.once("exit", () => {
    untrack();
    exited = true;
    notify();
  });
  child.on("error", (err) => {
    all += `\nspawn error: ${err.message}`;
    exited = true;
    notify();
  });
  const waitFor = (re: RegExp, ms = 15_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const m = re.exec(stdout);
        if (m !== null) {
          done();
          resolve(m);
        } else if (exited) {
          done();
          reject(new Error(`stream peer exited before printing ${re}: ${all}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`stream peer did not print ${re} within ${ms}ms: ${all}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        wake.delete(check);
      };
      wake.add(check);
      check();
    });
  return { child, output: () => all, waitFor };
}

/** Resume (if stopped) and kill `child`, then wait for it to exit. Never throws. */
export async function killPeer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    child.kill("SIGCONT");
  } catch {}
  try {
    child.kill("SIGKILL");
  } catch {}
  await Promise.race([exited, new Promise<void>((r) => setTimeout(r, 5000).unref())]);
}
