/** URL path -> method, as brpc's `FindMethodPropertyByURI` (src/brpc/policy/http_rpc_protocol.cpp). */
import { type BuiltinService, builtinServices } from "../../builtin/index.js";
import type { Server } from "../../server/server.js";
import type { MethodEntry, ServiceEntry } from "../../server/service-registry.js";

/** What a URL path leads to. */
export type Route =
  | { readonly kind: "method"; readonly method: MethodEntry; readonly unresolvedPath: string }
  | { readonly kind: "builtin"; readonly service: BuiltinService; readonly unresolvedPath: string }
  /** `/Service` without a method (brpc's BadMethodService): ENOMETHOD with this text. */
  | { readonly kind: "no-method"; readonly text: string };

/** brpc's `default_method`: a service method of this name catches `/Service` and `/Service/<unknown>`. */
const DEFAULT_METHOD = "default_method";

function segments(path: string): { parts: string[]; firstEnd: number } {
  const parts: string[] = [];
  let firstEnd = -1;
  let i = 0;
  const n = path.length;
  while (i < n) {
    while (i < n && path.charCodeAt(i) === 0x2f) i++;
    if (i >= n) break;
    const s = i;
    while (i < n && path.charCodeAt(i) !== 0x2f) i++;
    parts.push(path.slice(s, i));
    if (firstEnd < 0) firstEnd = i;
  }
  return { parts, firstEnd };
}

function badMethodText(name: string, svc: ServiceEntry | undefined): string {
  let s = `Missing method name for service=${name}.`;
  if (svc !== undefined) {
    s += " Available methods are: \n\n";
    for (const m of svc.methods.values()) {
      s += `rpc ${m.name} (${m.input?.name ?? "bytes"}) returns (${m.output?.name ?? "bytes"});\n`;
    }
  }
  return s;
}

/** The builtin service named `name`, unless the server has none (`builtinServices: false`). */
function builtinOf(server: Server, name: string): BuiltinService | undefined {
  return server.options.builtinServices ? builtinServices.get(name) : undefined;
}

function findImpl(server: Server, path: string): Route | undefined {
  const { parts, firstEnd } = segments(path);
  if (parts.length === 0) {
    const index = builtinOf(server, "index");
    return index === undefined ? undefined : { kind: "builtin", service: index, unresolvedPath: "" };
  }
  const first = parts[0] as string;
  const restful = server.restful.mapOf(first);
  if (restful !== undefined) {
    const m = restful.find(parts.length > 1 ? path.slice(firstEnd) : "");
    return m === undefined
      ? undefined
      : { kind: "method", method: m.method, unresolvedPath: m.unresolvedPath };
  }
  const svc = server.findService(first);
  if (svc === undefined) {
    const b = builtinOf(server, first);
    return b === undefined
      ? undefined
      : { kind: "builtin", service: b, unresolvedPath: parts.slice(1).join("/") };
  }
  const methodName = parts[1];
  if (methodName !== undefined) {
    const m = svc.methods.get(methodName);
    if (m !== undefined) return byDefaultUrl(server, m, parts.slice(2).join("/"));
  }
  const dm = svc.methods.get(DEFAULT_METHOD);
  if (dm !== undefined) return byDefaultUrl(server, dm, parts.slice(1).join("/"));
  if (methodName === undefined) return { kind: "no-method", text: badMethodText(first, svc) };
  return undefined;
}

/** A method found at /Service/Method: refused when it has restful paths (unless allowed). */
function byDefaultUrl(server: Server, method: MethodEntry, unresolvedPath: string): Route {
  return server.restful.blocksDefaultUrl(method) ? NOT_FOUND : { kind: "method", method, unresolvedPath };
}

/** brpc's nullptr after an exact service match: no fallback to the global restful map. */
const NOT_FOUND: Route = { kind: "no-method", text: "" };

/** Routes found per server, valid for one server generation (services change only while stopped). */
const caches = new WeakMap<Server, { generation: number; routes: Map<string, Route> }>();
const MAX_CACHED_ROUTES = 256;

/** The route of `path` ("/Service/Method/rest", restful paths, builtins), or undefined (ENOMETHOD). */
export function findRoute(server: Server, path: string): Route | undefined {
  let cache = caches.get(server);
  if (cache === undefined || cache.generation !== server.generation) {
    cache = { generation: server.generation, routes: new Map() };
    caches.set(server, cache);
  }
  const hit = cache.routes.get(path);
  if (hit !== undefined) return hit;
  const r = lookup(server, path);
  if (r !== undefined) {
    if (cache.routes.size >= MAX_CACHED_ROUTES) cache.routes.clear();
    cache.routes.set(path, r);
  }
  return r;
}

function lookup(server: Server, path: string): Route | undefined {
  const r = findImpl(server, path);
  if (r === NOT_FOUND) return undefined;
  if (r !== undefined) return r;
  // Nothing matched a service name: try the fuzzy patterns ("*.txt => M").
  const g = server.restful.global?.find(path);
  return g === undefined ? undefined : { kind: "method", method: g.method, unresolvedPath: g.unresolvedPath };
}
