/**
 * Queue `fn` as a microtask without node's `queueMicrotask` wrapper (an AsyncResource and
 * a bound function per call, measurable on per-call paths). Same queue, same order; an
 * exception thrown by `fn` surfaces as an unhandled rejection (fatal by default, like an
 * uncaught exception), so hot-path tasks must not throw.
 */
const RESOLVED: Promise<void> = Promise.resolve();

/** Run `fn` in a microtask (see the module doc). */
export function microtask(fn: () => void): void {
  RESOLVED.then(fn);
}
