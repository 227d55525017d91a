/**
 * Minimal logging facade. Errors caused by peers are logged once, at the point where
 * the connection or call fails. Replace the sink with {@link setLogSink}.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Where log lines go. */
export type LogSink = (level: LogLevel, message: string, err?: unknown) => void;

const levels: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function envLevel(): number {
  const v = (process.env.BRPC_LOG_LEVEL ?? "warn").toLowerCase() as LogLevel;
  return levels[v] ?? levels.warn;
}

let threshold = envLevel();

const defaultSink: LogSink = (level, message, err) => {
  const line = `[brpc-ts] ${level.toUpperCase()} ${message}`;
  if (err !== undefined) console.error(line, err instanceof Error ? err.message : err);
  else console.error(line);
};

let sink: LogSink = defaultSink;

/** Replace the log sink (e.g. with pino or winston). Pass undefined to restore stderr. */
export function setLogSink(s: LogSink | undefined): void {
  sink = s ?? defaultSink;
}

/** Set the minimum level printed (default from BRPC_LOG_LEVEL, else "warn"). */
export function setLogLevel(level: LogLevel): void {
  threshold = levels[level];
}

/** The minimum level printed now (see {@link setLogLevel}). */
export function getLogLevel(): LogLevel {
  for (const [name, v] of Object.entries(levels)) if (v === threshold) return name as LogLevel;
  return "warn";
}

/** The library's logger. */
export const log = {
  debug(message: string, err?: unknown): void {
    if (threshold <= 10) sink("debug", message, err);
  },
  info(message: string, err?: unknown): void {
    if (threshold <= 20) sink("info", message, err);
  },
  warn(message: string, err?: unknown): void {
    if (threshold <= 30) sink("warn", message, err);
  },
  error(message: string, err?: unknown): void {
    if (threshold <= 40) sink("error", message, err);
  },
};
