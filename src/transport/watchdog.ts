/**
 * The write-progress watchdog: the user-space equivalent of TCP_USER_TIMEOUT, which Node
 * cannot set. A connection with unsent bytes whose writes make no progress for its
 * `writeStallTimeoutMs` is failed with ETIMEDOUT, so a peer that stopped reading or
 * vanished (power loss, partition) is detected and every call and stream on it fails
 * promptly instead of waiting forever (field report 2). One timer serves all connections.
 */
import { ErrorCode } from "../errors/errno.js";
import { now } from "../io/timers.js";
import { log } from "../log.js";
import type { Connection } from "./connection.js";

interface Watched {
  conn: Connection;
  timeoutMs: number;
  progress: number;
  since: number;
}

const watched = new Map<Connection, Watched>();
let timer: NodeJS.Timeout | undefined;
let period = 1000;

/** Bytes whose write completed (handed to the kernel). */
function completed(conn: Connection): number {
  const s = conn.socket;
  return (s.bytesWritten ?? 0) - s.writableLength;
}

function tick(): void {
  const t = now();
  for (const w of watched.values()) {
    const conn = w.conn;
    if (conn.failed) {
      watched.delete(conn);
      continue;
    }
    const done = completed(conn);
    if (conn.unwrittenBytes === 0 || done !== w.progress) {
      w.progress = done;
      w.since = t;
      continue;
    }
    if (t - w.since >= w.timeoutMs) {
      const text = `No write progress for ${w.timeoutMs}ms with ${conn.unwrittenBytes} bytes unsent to ${conn.remoteSide}: the peer stopped reading or is unreachable`;
      log.warn(text);
      watched.delete(conn);
      conn.fail(ErrorCode.ETIMEDOUT, text);
    }
  }
  if (watched.size === 0 && timer !== undefined) {
    clearInterval(timer);
    timer = undefined;
  }
}

/** Watch `conn` until it fails; `timeoutMs` <= 0 does nothing. */
export function watchWrites(conn: Connection, timeoutMs: number): void {
  if (!(timeoutMs > 0) || conn.failed) return;
  watched.set(conn, { conn, timeoutMs, progress: completed(conn), since: now() });
  const want = Math.max(25, Math.min(1000, Math.floor(timeoutMs / 4)));
  if (timer === undefined || want < period) {
    if (timer !== undefined) clearInterval(timer);
    period = want;
    timer = setInterval(tick, period);
    timer.unref();
  }
}

/** Stop watching `conn`. */
export function unwatchWrites(conn: Connection): void {
  watched.delete(conn);
}
