/** Benchmark settings, read from the environment by {@link readConfig}. */
export interface BenchConfig {
  /** Unrecorded warm-up per run, ms (`BENCH_WARMUP` seconds, default 1). */
  warmupMs: number;
  /** Measurement window per run, ms (`BENCH_SECONDS` seconds, default 3). */
  measureMs: number;
  /** In-flight levels (`BENCH_INFLIGHT`, comma-separated, default `1,64`). */
  inflight: number[];
  /** Systems to run (`BENCH_ONLY`, comma-separated names; default all registered). */
  only: string[] | null;
  /** Rounds of the whole sequence; the report shows per-metric medians (`BENCH_ROUNDS`, default 1). */
  rounds: number;
  /** Run the unary echo part (`BENCH_UNARY`, default 1; `0` skips it). */
  unary: boolean;
  /** Run the stream-throughput part after the unary one (`BENCH_STREAM`, default 1; `0` skips it). */
  stream: boolean;
  /** Run the HTTP JSON echo part (`BENCH_HTTP`, default 1; `0` skips it). */
  http: boolean;
  /** Run the gRPC unary echo part (`BENCH_GRPC`, default 1; `0` skips it). */
  grpc: boolean;
  /** Run the metrics-overhead part, echo with metrics on vs off (`BENCH_METRICS`, default 1; `0` skips it). */
  metrics: boolean;
  /** Message sizes of the stream part, bytes (`BENCH_STREAM_SIZES`, default `16,1k,1m`; k = KiB, m = MiB). */
  streamSizes: number[];
}

function seconds(env: NodeJS.ProcessEnv, key: string, dflt: number, min: number): number {
  const raw = env[key];
  if (raw === undefined || raw === "") return dflt * 1000;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min)
    throw new Error(`${key}=${raw}: expected a number of seconds >= ${min}`);
  return v * 1000;
}

function list(env: NodeJS.ProcessEnv, key: string): string[] | null {
  const raw = env[key];
  if (raw === undefined || raw.trim() === "") return null;
  return raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

function positiveInt(key: string, s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${key}: "${s}" is not a positive integer`);
  return n;
}

function flag(env: NodeJS.ProcessEnv, key: string): boolean {
  const raw = (env[key] ?? "").trim().toLowerCase();
  if (raw === "" || raw === "1" || raw === "true" || raw === "yes") return true;
  if (raw === "0" || raw === "false" || raw === "no") return false;
  throw new Error(`${key}=${env[key]}: expected 0 or 1`);
}

function byteSize(key: string, s: string): number {
  const m = /^(\d+)\s*([km]?)(i?b)?$/i.exec(s);
  const unit = m ? ({ "": 1, k: 1024, m: 1024 * 1024 } as Record<string, number>)[m[2]!.toLowerCase()]! : 0;
  const n = m ? Number(m[1]) * unit : Number.NaN;
  if (!Number.isInteger(n) || n < 8)
    throw new Error(`${key}: "${s}" is not a size >= 8 bytes (e.g. 16, 1k, 1m)`);
  return n;
}

const PARTS = ["unary", "http", "grpc", "metrics", "stream"] as const;

/**
 * Whether part `key` runs: listed in `BENCH_PARTS` (all parts when unset) and its own
 * switch (`BENCH_<KEY>`) not 0.
 */
function part(env: NodeJS.ProcessEnv, key: (typeof PARTS)[number]): boolean {
  const selected = list(env, "BENCH_PARTS");
  for (const p of selected ?? []) {
    if (!(PARTS as readonly string[]).includes(p))
      throw new Error(`BENCH_PARTS: unknown part "${p}" (known: ${PARTS.join(", ")})`);
  }
  return (selected === null || selected.includes(key)) && flag(env, `BENCH_${key.toUpperCase()}`);
}

/** Read the `BENCH_*` knobs; throws on malformed values. */
export function readConfig(env: NodeJS.ProcessEnv = process.env): BenchConfig {
  const inflight = (list(env, "BENCH_INFLIGHT") ?? ["1", "64"]).map((s) => positiveInt("BENCH_INFLIGHT", s));
  return {
    warmupMs: seconds(env, "BENCH_WARMUP", 1, 0),
    measureMs: seconds(env, "BENCH_SECONDS", 3, 0.1),
    inflight,
    only: list(env, "BENCH_ONLY"),
    rounds: positiveInt("BENCH_ROUNDS", env.BENCH_ROUNDS || "1"),
    unary: part(env, "unary"),
    stream: part(env, "stream"),
    http: part(env, "http"),
    grpc: part(env, "grpc"),
    metrics: part(env, "metrics"),
    streamSizes: (list(env, "BENCH_STREAM_SIZES") ?? ["16", "1k", "1m"]).map((s) =>
      byteSize("BENCH_STREAM_SIZES", s),
    ),
  };
}
