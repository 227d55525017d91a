/** Observing streams in tests: callback logs, write pumps and hang guards. */
import type { Stream, StreamHandler } from "../../src/index.js";

/** What a stream's callbacks reported, in order. */
export interface StreamLog {
  /** "failed:<code>" and "closed" entries, in the order the callbacks ran. */
  events: string[];
  failedCode: number | undefined;
  failedText: string;
  /** Resolves when onClosed ran (the first time). */
  closedCalled: Promise<void>;
}

/**
 * A handler that logs onFailed/onClosed, merged over `base` (whose callbacks still run).
 * Pass `handler` in the stream options and keep `log`.
 */
export function recordingHandler(base: StreamHandler = {}): { handler: StreamHandler; log: StreamLog } {
  let resolveClosed!: () => void;
  const log: StreamLog = {
    events: [],
    failedCode: undefined,
    failedText: "",
    closedCalled: new Promise<void>((r) => {
      resolveClosed = r;
    }),
  };
  const handler: StreamHandler = {
    ...base,
    onFailed(s, code, text) {
      log.events.push(`failed:${code}`);
      log.failedCode = code;
      log.failedText = text;
      base.onFailed?.(s, code, text);
    },
    onClosed(s) {
      log.events.push("closed");
      resolveClosed();
      base.onClosed?.(s);
    },
  };
  return { handler, log };
}

/** Reject if `p` has not settled within `ms` (a hang guard, not a performance assertion). */
export function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${what} did not happen within ${ms}ms`)), ms);
  });
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

/** The outcome of a write pump. */
export interface PumpResult {
  /** Bytes whose write() resolved. */
  written: number;
  /** Why it stopped (the rejection of the last write()). */
  error: unknown;
}

/**
 * Write `chunk` to `stream` again and again, as fast as write() allows, until a write()
 * rejects. Yields to the event loop every few writes so that I/O and timers run even while
 * writes are accepted without waiting.
 */
export async function pump(stream: Stream, chunk: Buffer): Promise<PumpResult> {
  let written = 0;
  for (let i = 0; ; i++) {
    try {
      await stream.write(chunk);
    } catch (error) {
      return { written, error };
    }
    written += chunk.length;
    if (i % 8 === 7) await new Promise((r) => setImmediate(r));
  }
}
