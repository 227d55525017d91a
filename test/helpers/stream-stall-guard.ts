/**
 * Turns a wedged event loop into a test failure. A synchronous loop or a microtask spin
 * on the main thread starves every timer, so node:test's own timeouts never fire and the
 * file would hang forever. A worker thread watches a heartbeat that the main thread bumps
 * from a timer; when it stops for `limitMs`, the worker prints why and kills the process
 * (SIGKILL: a signal handled in JavaScript would need the blocked loop), which node:test
 * reports as a failed file. Child processes registered with {@link trackChild} (stopped
 * peers, for example) are resumed and killed first, so none is left behind.
 */
import { Worker } from "node:worker_threads";

let started = false;
/** Pids of child processes to kill with the test process (0 = free slot). */
const children = new Int32Array(new SharedArrayBuffer(4 * 64));

/** Kill `pid` too if the guard fires; returns a function that forgets it. */
export function trackChild(pid: number | undefined): () => void {
  if (pid === undefined) return () => {};
  const slot = children.indexOf(0);
  if (slot < 0) return () => {};
  Atomics.store(children, slot, pid);
  return () => {
    Atomics.compareExchange(children, slot, pid, 0);
  };
}

/** Start the guard once per process. `label` names the test file in the message. */
export function guardEventLoop(label: string, limitMs = 20_000): void {
  if (started) return;
  started = true;
  const beat = new Int32Array(new SharedArrayBuffer(4));
  const code = `
    const { workerData } = require("node:worker_threads");
    const { writeSync } = require("node:fs");
    const { beat, children, limitMs, pid, label } = workerData;
    let last = Atomics.load(beat, 0);
    let since = Date.now();
    setInterval(() => {
      const b = Atomics.load(beat, 0);
      if (b !== last) { last = b; since = Date.now(); return; }
      if (Date.now() - since >= limitMs) {
        writeSync(2, "\\n[stream-stall-guard] " + label + ": the event loop made no progress for " + limitMs +
          " ms (a synchronous loop or a microtask spin starves all timers and I/O); killing pid " + pid + "\\n");
        for (let i = 0; i < children.length; i++) {
          const c = Atomics.load(children, i);
          if (c === 0) continue;
          try { process.kill(c, "SIGCONT"); } catch {}
          try { process.kill(c, "SIGKILL"); } catch {}
        }
        process.kill(pid, "SIGKILL");
      }
    }, 200);
  `;
  const worker = new Worker(code, {
    eval: true,
    workerData: { beat, children, limitMs, pid: process.pid, label },
  });
  worker.unref();
  setInterval(() => Atomics.add(beat, 0, 1), 100).unref();
}
