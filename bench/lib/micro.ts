/** Timing of micro-benchmarks (bench/codec.ts, bench/h2-core.ts, bench/metrics.ts). */

/**
 * ns per operation of `batch(n)` (which runs the operation n times): one warm-up batch,
 * then batches of `step` for `ms` milliseconds split in 3 rounds; the best round counts.
 */
export function nsPerBatchOp(batch: (n: number) => void, ms: number, step: number, warmup = 20_000): number {
  batch(warmup);
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < ms / 3) {
      batch(step);
      n += step;
      t = performance.now();
    }
    best = Math.min(best, ((t - t0) * 1e6) / n);
  }
  return best;
}

/** ns per call of `fn`, as {@link nsPerBatchOp}. */
export function nsPerOp(fn: () => void, ms: number, step: number): number {
  return nsPerBatchOp(
    (n) => {
      for (let i = 0; i < n; i++) fn();
    },
    ms,
    step,
  );
}
