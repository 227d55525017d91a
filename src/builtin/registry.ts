/**
 * The table of builtin services (brpc's `AddBuiltinServices`): a service per first URL path
 * component, with what the index page and the navigation bar say about it. Every entry is
 * wrapped in the access check of brpc's security mode: with `ServerOptions.internalPort`
 * set, builtin pages answer only on the internal port (403 `EPERM` elsewhere).
 *
 * Modules of other features register their pages here (`registerBuiltin("rpcz", ...)`);
 * `src/builtin/index.ts` registers the pages of this directory.
 */
import { ErrorCode } from "../errors/errno.js";
import type { ServerContext } from "../server/context.js";
import type { Server } from "../server/server.js";

/** A builtin service: fill in the response of `ctx`; may be async. */
export type BuiltinService = (ctx: ServerContext, server: Server) => void | Promise<void>;

/** A line of the index page (`/`). */
export interface IndexLine {
  /** The path shown (and linked to in HTML when `link` is not false), e.g. `/vars/NAME`. */
  readonly path: string;
  /** What it shows. */
  readonly text: string;
  /** Indented under the previous line. */
  readonly indent?: boolean;
  /** Link the path in HTML (default true; false for templates like `/flags/NAME?setvalue=V`). */
  readonly link?: boolean;
}

/** What the pages say about a builtin service. */
export interface BuiltinInfo {
  /** Name of its tab in the navigation bar of HTML pages; no tab when absent. */
  readonly tab?: string;
  /** Lines of the index page; default `/<name>`. */
  readonly index?: readonly IndexLine[];
  /** Order in the navigation bar and the index page (smaller first); default 100. */
  readonly order?: number;
}

/** A registered builtin service. */
export interface BuiltinEntry {
  readonly name: string;
  readonly service: BuiltinService;
  readonly info: BuiltinInfo;
}

const entries = new Map<string, BuiltinEntry>();
const guarded = new Map<string, BuiltinService>();

/** Builtin services by the first URL path component ("index" is the empty path "/"). */
export const builtinServices: ReadonlyMap<string, BuiltinService> = guarded;

/**
 * True if builtin pages may be served on the connection of `ctx`: always, unless the server
 * has an internal port and the request came in on another one (brpc's security mode).
 */
export function builtinAllowed(ctx: ServerContext, server: Server): boolean {
  return server.options.internalPort === undefined || server.isInternalConnection(ctx.connection);
}

function guard(service: BuiltinService): BuiltinService {
  return (ctx, server) => {
    // Also on error answers (text/plain): never let a browser sniff them into HTML.
    ctx.http?.setHeader("X-Content-Type-Options", "nosniff");
    if (!builtinAllowed(ctx, server)) {
      ctx.setFailed(
        ErrorCode.EPERM,
        "Not allowed to access builtin services, try ServerOptions.internalPort instead if you're in internal network",
      );
      return;
    }
    return service(ctx, server);
  };
}

/**
 * Add a builtin service answering `/<name>` and `/<name>/...` (`name` is one URL path
 * component, e.g. "rpcz"). Throws if the name is taken. The service is reached only when no
 * user service has that name, and only on the internal port when the server has one.
 */
export function registerBuiltin(name: string, service: BuiltinService, info: BuiltinInfo = {}): void {
  if (name.length === 0 || name.includes("/")) throw new TypeError(`bad builtin service name "${name}"`);
  if (entries.has(name)) throw new Error(`builtin service "${name}" is already registered`);
  entries.set(name, { name, service, info });
  guarded.set(name, guard(service));
}

/** Registered builtin services, in page order (`info.order`, then name). */
export function listBuiltins(): BuiltinEntry[] {
  return [...entries.values()].sort(
    (a, b) =>
      (a.info.order ?? 100) - (b.info.order ?? 100) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}

/** True if a builtin service answers `/<name>`. */
export function hasBuiltin(name: string): boolean {
  return entries.has(name);
}
