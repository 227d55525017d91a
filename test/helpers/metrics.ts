/** Helpers of the metrics tests: a manual sampler on a fake clock, reading exposed variables. */
import assert from "node:assert/strict";
import { describeVariable, MetricRegistry, Sampler } from "../../src/metrics/index.js";

/** The numeric value of an exposed variable of the default registry (fails if it is not exposed). */
export function num(name: string): number {
  const v = describeVariable(name);
  assert.notEqual(v, undefined, `${name} is not exposed`);
  return Number(v);
}

/** A sampler (not started) and a registry on it; `advance(n)` moves the clock n seconds, ticking each. */
export function clock(): { sampler: Sampler; registry: MetricRegistry; advance: (seconds?: number) => void } {
  let now = 0;
  const sampler = new Sampler({ clock: () => now, autoStart: false });
  const registry = new MetricRegistry({ sampler });
  const advance = (seconds = 1): void => {
    for (let i = 0; i < seconds; i++) {
      now += 1000;
      sampler.tick();
    }
  };
  return { sampler, registry, advance };
}
