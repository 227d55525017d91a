import type { SystemEntry } from "../lib/system.js";

/**
 * The benchmarked systems, in report order. To add one, write `bench/systems/<name>.ts`
 * exporting `serve()` and `load()` (see `BenchSystem` in `bench/lib/system.ts`) and add a
 * line here.
 */
export const systems: readonly SystemEntry[] = [
  { name: "brpc-ts", module: () => import("./brpc-ts.js") },
  { name: "bare", module: () => import("./bare.js") },
  { name: "bare-batched", module: () => import("./bare-batched.js") },
  { name: "grpc-js", module: () => import("./grpc-js.js") },
];

/** The registry entry called `name`; throws listing the known names if there is none. */
export function findSystem(name: string): SystemEntry {
  const entry = systems.find((s) => s.name === name);
  if (!entry) {
    throw new Error(`unknown bench system "${name}" (known: ${systems.map((s) => s.name).join(", ")})`);
  }
  return entry;
}
