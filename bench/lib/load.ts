import { performance } from "node:perf_hooks";
import type { LoadContext } from "./system.js";

/**
 * Closed-loop load for a promise-returning call, the way an application uses an RPC
 * client: start `ctx.inflight` calls, and each time one completes record it and start the
 * next one (while `ctx.active`). Resolves once inactive and drained; rejects on the first
 * failed call.
 *
 * @param call issues one echo call; resolves after the response was received and verified.
 */
export function closedLoop(ctx: LoadContext, call: () => Promise<unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    let outstanding = 0;
    let failed = false;
    const issue = (): void => {
      outstanding++;
      const t0 = performance.now();
      call().then(
        () => {
          outstanding--;
          if (failed) return;
          ctx.done(t0);
          if (ctx.active) issue();
          else if (outstanding === 0) resolve();
        },
        (err: unknown) => {
          outstanding--;
          if (!failed) reject(err);
          failed = true;
        },
      );
    };
    for (let i = 0; i < ctx.inflight; i++) issue();
  });
}
