/** A manual metrics sampler on a fake clock, for deterministic window and series tests. */
import { MetricRegistry, Sampler } from "../../src/metrics/index.js";

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
