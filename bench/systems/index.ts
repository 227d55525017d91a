import type { StreamSystemEntry } from "../lib/stream.js";
import type { SystemEntry } from "../lib/system.js";

/**
 * The benchmarked systems, in report order. To add one, write `bench/systems/<name>.ts`
 * exporting `serve()` and `load()` (see `BenchSystem` in `bench/lib/system.ts`) and add a
 * line here.
 */
export const systems: readonly SystemEntry[] = [
  { name: "brpc-ts", module: () => import("./brpc-ts.js") },
  // brpc-ts with every automatic metric off (part "metrics": the overhead of metrics).
  { name: "brpc-ts-nometrics", module: () => import("./brpc-ts-nometrics.js") },
  { name: "bare", module: () => import("./bare.js") },
  { name: "bare-batched", module: () => import("./bare-batched.js") },
  { name: "grpc-js", module: () => import("./grpc-js.js") },
  // HTTP JSON echo (part "http").
  { name: "http-brpc-ts", module: () => import("./http-brpc-ts.js") },
  { name: "http-node", module: () => import("./http-node.js") },
  { name: "http-brpc-ts-async", module: () => import("./http-brpc-ts-async.js") },
  // gRPC unary echo (part "grpc"; "grpc-js" above is its baseline).
  { name: "grpc-brpc-ts", module: () => import("./grpc-brpc-ts.js") },
  { name: "grpc-js-to-brpc-ts", module: () => import("./grpc-js-to-brpc-ts.js") },
  { name: "brpc-ts-to-grpc-js", module: () => import("./brpc-ts-to-grpc-js.js") },
  { name: "h2-bare", module: () => import("./h2-bare.js") },
];

/** The registry entry called `name`; throws listing the known names if there is none. */
export function findSystem(name: string): SystemEntry {
  const entry = systems.find((s) => s.name === name);
  if (!entry) {
    throw new Error(`unknown bench system "${name}" (known: ${systems.map((s) => s.name).join(", ")})`);
  }
  return entry;
}

/**
 * The stream-throughput systems (bench/lib/stream.ts), in report order. "brpc-ts" and
 * "bare" are the pair the stream targets compare; the other brpc-ts entries vary the writer
 * or reader API on the same code, "bare-batched" is the ceiling of a Node socket.
 */
export const streamSystems: readonly StreamSystemEntry[] = [
  {
    name: "brpc-ts",
    variant: "write+handler",
    description: "`await stream.write(msg)`; reader `handler.onReceivedMessages`",
    module: () => import("./stream-brpc-ts.js"),
  },
  {
    name: "brpc-ts-trywrite",
    variant: "tryWrite+handler",
    description: "`tryWrite(msg)`, `await stream.wait()` on EAGAIN; reader `onReceivedMessages`",
    module: () => import("./stream-brpc-ts.js"),
  },
  {
    name: "brpc-ts-iter",
    variant: "write+iter",
    description: "`await stream.write(msg)`; reader `for await (const msg of stream)`",
    module: () => import("./stream-brpc-ts.js"),
  },
  {
    name: "bare",
    variant: "",
    description: "`net` socket, 4-byte length prefix + message, one `socket.write` per message",
    module: () => import("./stream-bare.js"),
  },
  {
    name: "bare-batched",
    variant: "batched",
    description: "`net` socket, same frames built back to back in 64 KiB buffers, one `socket.write` each",
    module: () => import("./stream-bare.js"),
  },
];

/** The stream registry entry called `name`; throws listing the known names if there is none. */
export function findStreamSystem(name: string): StreamSystemEntry {
  const entry = streamSystems.find((s) => s.name === name);
  if (!entry) {
    throw new Error(
      `unknown bench stream system "${name}" (known: ${streamSystems.map((s) => s.name).join(", ")})`,
    );
  }
  return entry;
}
