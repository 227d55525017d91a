/**
 * brpc's `/flags` (src/brpc/builtin/flags_service.cpp) over a small registry of run-time
 * options standing in for gflags. A flag with a setter is *reloadable* (brpc: a gflag with a
 * validator), shown with `(R)`; `/flags/NAME?setvalue=V` validates and applies a new value,
 * but only on a server created with `allowFlagChanges: true` (brpc lets anyone change
 * reloadable flags unless `-immutable_flags`; brpc-ts refuses by default).
 *
 * Flags are process-wide (`log_level`) or about the server whose page is asked
 * (`max_concurrency`). Other modules add theirs with {@link registerFlag}, e.g.
 * `enable_rpcz`.
 */
import { ErrorCode } from "../errors/errno.js";
import { getLogLevel, type LogLevel, setLogLevel } from "../log.js";
import { NameFilter } from "../metrics/name.js";
import type { ServerContext } from "../server/context.js";
import type { Server } from "../server/server.js";
import { escapeHtml, hasQuery, sendPage, sendText, unresolvedPath, useHtml } from "./html.js";

/** A run-time option listed by `/flags`. */
export interface FlagDefinition {
  /** `[a-z0-9_]+`, as gflags names. */
  readonly name: string;
  /** One line saying what it does. */
  readonly description: string;
  /** Where it is set in code (the "Defined At" column), e.g. `ServerOptions.maxConcurrency`. */
  readonly definedAt: string;
  /** The default value as text. */
  readonly defaultValue: string;
  /** The current value as text; `server` is the server whose page asks. */
  value(server: Server): string;
  /**
   * Present for a reloadable flag: validate `value` and apply it, or throw (any Error; its
   * message is the reason shown) leaving the flag unchanged.
   */
  readonly set?: (value: string, server: Server) => void;
}

const flags = new Map<string, FlagDefinition>();

/** Add a flag to `/flags`. Throws if the name is taken or not `[a-z0-9_]+`. */
export function registerFlag(flag: FlagDefinition): void {
  if (!/^[a-z0-9_]+$/.test(flag.name)) throw new TypeError(`bad flag name "${flag.name}"`);
  if (flags.has(flag.name)) throw new Error(`flag "${flag.name}" is already registered`);
  flags.set(flag.name, flag);
}

/** The flag named `name`. */
export function getFlag(name: string): FlagDefinition | undefined {
  return flags.get(name);
}

/** Every flag, sorted by name. */
export function listFlags(): FlagDefinition[] {
  return [...flags.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** An integer in [min, max] from flag text; throws a RangeError naming the range. */
export function parseIntFlag(value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const s = value.trim();
  if (!/^[+-]?\d+$/.test(s)) throw new RangeError(`not an integer: "${value}"`);
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new RangeError(`${s} is out of range [${min}, ${max === Number.MAX_SAFE_INTEGER ? "inf" : max}]`);
  }
  return n;
}

/** A boolean from flag text (`true/false`, `1/0`, `yes/no`, `on/off`, as gflags accepts). */
export function parseBoolFlag(value: string): boolean {
  const s = value.trim().toLowerCase();
  if (s === "true" || s === "1" || s === "yes" || s === "on" || s === "t" || s === "y") return true;
  if (s === "false" || s === "0" || s === "no" || s === "off" || s === "f" || s === "n") return false;
  throw new RangeError(`not a boolean: "${value}"`);
}

/** Mutable view of the resolved options (they are read on every use, so a change applies at once). */
function options(server: Server): Record<string, unknown> {
  return server.options as unknown as Record<string, unknown>;
}

// ---- the flags of brpc-ts itself ------------------------------------------------------------

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

registerFlag({
  name: "log_level",
  description: "Minimum level of brpc-ts log lines: debug, info, warn or error",
  definedAt: "setLogLevel() / BRPC_LOG_LEVEL",
  defaultValue: "warn",
  value: () => getLogLevel(),
  set(value) {
    const v = value.trim().toLowerCase() as LogLevel;
    if (!LEVELS.includes(v)) throw new RangeError(`"${value}" is not one of ${LEVELS.join(", ")}`);
    setLogLevel(v);
  },
});

registerFlag({
  name: "max_concurrency",
  description: "Max concurrent requests of the whole server, 0 = unlimited; the excess gets ELIMIT",
  definedAt: "ServerOptions.maxConcurrency",
  defaultValue: "0",
  value: (s) => String(s.options.maxConcurrency),
  set(value, s) {
    options(s).maxConcurrency = parseIntFlag(value, 0);
  },
});

registerFlag({
  name: "idle_timeout_sec",
  description: "Close connections idle for this many seconds; <= 0 = never",
  definedAt: "ServerOptions.idleTimeoutSec",
  defaultValue: "-1",
  value: (s) => String(s.options.idleTimeoutSec),
  set(value, s) {
    s.setIdleTimeoutSec(parseIntFlag(value, -1, 86400 * 365));
  },
});

registerFlag({
  name: "stop_grace_ms",
  description: "Default grace period of Server.stop() for requests in flight, in ms",
  definedAt: "ServerOptions.stopGraceMs",
  defaultValue: "5000",
  value: (s) => String(s.options.stopGraceMs),
  set(value, s) {
    options(s).stopGraceMs = parseIntFlag(value, 0);
  },
});

registerFlag({
  name: "hide_address_in_errors",
  description: 'Leave the "[ip:port]" prefix out of error texts sent to clients',
  definedAt: "ServerOptions.hideAddressInErrors",
  defaultValue: "false",
  value: (s) => String(s.options.hideAddressInErrors),
  set(value, s) {
    options(s).hideAddressInErrors = parseBoolFlag(value);
  },
});

/** Flags that only show a server option (not reloadable). */
const READ_ONLY: readonly [string, string, string, string, (s: Server) => unknown][] = [
  [
    "method_max_concurrency",
    "Default max concurrency of each method, 0 = unlimited",
    "ServerOptions.methodMaxConcurrency",
    "0",
    (s) => s.options.methodMaxConcurrency,
  ],
  [
    "max_body_size",
    "Largest frame / body accepted, in bytes",
    "ServerOptions.maxBodySize",
    "67108864",
    (s) => s.options.maxBodySize,
  ],
  [
    "socket_max_unwritten_bytes",
    "Unsent bytes per connection above which requests get EOVERCROWDED",
    "ServerOptions.maxUnwrittenBytes",
    "67108864",
    (s) => s.options.maxUnwrittenBytes,
  ],
  [
    "write_stall_timeout_ms",
    "Fail a connection whose unsent bytes make no progress for this long (0 = off)",
    "ServerOptions.writeStallTimeoutMs",
    "30000",
    (s) => s.options.writeStallTimeoutMs,
  ],
  [
    "keepalive_ms",
    "TCP keepalive idle time before the first probe (0 = off)",
    "ServerOptions.keepAliveMs",
    "60000",
    (s) => s.options.keepAliveMs,
  ],
  [
    "has_builtin_services",
    "Serve the builtin pages (/status, /vars, ...)",
    "ServerOptions.builtinServices",
    "true",
    (s) => s.options.builtinServices,
  ],
  [
    "internal_port",
    "Builtin pages are served only on this port (-1 = on the server port)",
    "ServerOptions.internalPort",
    "-1",
    (s) => s.options.internalPort ?? -1,
  ],
  [
    "allow_flag_changes",
    "/flags/NAME?setvalue=V may change reloadable flags",
    "ServerOptions.allowFlagChanges",
    "false",
    (s) => s.options.allowFlagChanges,
  ],
];
for (const [name, description, definedAt, defaultValue, read] of READ_ONLY) {
  registerFlag({ name, description, definedAt, defaultValue, value: (s) => String(read(s)) });
}

// ---- the page ------------------------------------------------------------------------------

/**
 * True if a browser says the request comes from another site (a link or form of another
 * page): a flag is never changed by such a request, so that visiting a hostile page cannot
 * change flags of an internal server (CSRF).
 */
function crossSite(ctx: ServerContext): boolean {
  const site = ctx.http?.header("sec-fetch-site");
  return site !== undefined && site !== "same-origin" && site !== "none";
}

function setValue(ctx: ServerContext, server: Server, name: string, value: string, html: boolean): void {
  if (name === "") {
    ctx.setFailed(ErrorCode.ENOMETHOD, "Require flag name");
    return;
  }
  const flag = flags.get(name);
  if (flag === undefined) {
    ctx.setFailed(ErrorCode.ENOMETHOD, "No such flag");
    return;
  }
  if (flag.set === undefined) {
    ctx.setFailed(ErrorCode.EPERM, `\`${name}' is not reloadable`);
    return;
  }
  if (!server.options.allowFlagChanges) {
    ctx.setFailed(
      ErrorCode.EPERM,
      `Cannot modify \`${name}': changing flags is disabled (ServerOptions.allowFlagChanges is false)`,
    );
    return;
  }
  if (crossSite(ctx)) {
    ctx.setFailed(ErrorCode.EPERM, `Cannot modify \`${name}' from a request of another site`);
    return;
  }
  if (html && hasQuery(ctx, "withform")) {
    const current = flag.value(server);
    sendPage(ctx, server, {
      tab: "flags",
      title: `set ${name}`,
      body:
        `<form action="/flags/${escapeHtml(encodeURIComponent(name))}" method="get" id="setvalue-form">` +
        `Set <code>${escapeHtml(name)}</code> from <code>${escapeHtml(current)}</code> to ` +
        `<input name="setvalue" value="${escapeHtml(current)}"> <button type="submit">go</button></form>\n`,
    });
    return;
  }
  try {
    flag.set(value, server);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    ctx.setFailed(
      ErrorCode.EREQUEST,
      `Fail to set \`${name}' to ${value === "" ? "empty string" : value}: ${reason}`,
    );
    return;
  }
  const text = `Set \`${name}' to ${value}`;
  if (html) {
    sendPage(ctx, server, {
      tab: "flags",
      title: "flags",
      body: `<p id="setvalue-result">${escapeHtml(text)}</p><p><a href="/flags">[back to flags]</a></p>\n`,
    });
  } else {
    sendText(ctx, `${text}\n`);
  }
}

/** `/flags`, `/flags/NAME`, `/flags/a;b*` (`$` matches one character), `/flags/NAME?setvalue=V`. */
export function flagsService(ctx: ServerContext, server: Server): void {
  const html = useHtml(ctx);
  const constraint = unresolvedPath(ctx);
  const setvalue = ctx.http?.query.get("setvalue");
  if (setvalue !== null && setvalue !== undefined) {
    setValue(ctx, server, constraint, setvalue, html);
    return;
  }
  const filter = new NameFilter(constraint, "$");
  const shown = listFlags().filter((f) => filter.matches(f.name));
  if (!html) {
    let s = "Name | Value | Description | Defined At\n---------------------------------------\n";
    for (const f of shown) {
      const v = f.value(server);
      s += `${f.name}${f.set ? " (R)" : ""} | ${v === "" ? " " : v}`;
      if (v !== f.defaultValue) s += ` (default:${f.defaultValue})`;
      s += ` | ${f.description} | ${f.definedAt}\n`;
    }
    sendText(ctx, s);
    return;
  }
  let rows = "";
  for (const f of shown) {
    const v = f.value(server);
    const name = escapeHtml(f.name);
    const reload = f.set
      ? ` (<a href="/flags/${escapeHtml(encodeURIComponent(f.name))}?setvalue&amp;withform">R</a>)`
      : "";
    const value =
      v === f.defaultValue
        ? escapeHtml(v)
        : `<span class="changed">${escapeHtml(v)} (default:${escapeHtml(f.defaultValue)})</span>`;
    rows +=
      `<tr id="flag-${name}"><td>${name}${reload}</td><td class="value">${value}</td>` +
      `<td>${escapeHtml(f.description)}</td><td>${escapeHtml(f.definedAt)}</td></tr>\n`;
  }
  const note = server.options.allowFlagChanges
    ? "Flags marked (R) can be changed: /flags/NAME?setvalue=VALUE."
    : "Flags marked (R) are reloadable, but changing them is disabled on this server (ServerOptions.allowFlagChanges).";
  sendPage(ctx, server, {
    tab: "flags",
    title: "flags",
    body:
      `<p class="muted">${escapeHtml(note)}</p>\n` +
      '<table class="gridtable" id="flags"><tr><th>Name</th><th>Value</th><th>Description</th><th>Defined At</th></tr>\n' +
      `${rows}</table>\n`,
  });
}
