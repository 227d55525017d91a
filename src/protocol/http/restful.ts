/**
 * Restful URL mappings, after brpc's `src/brpc/restful.cpp`: `Server.addService(desc,
 * impl, { restful: "/v1/echo/* => Echo, /v1/health => Check" })`.
 *
 * Rules (brpc's): one `*` per path; a `*` must follow a `/` (or start the path);
 * the first path component names a "virtual service" matched like a real one, the rest
 * is matched by prefix, wildcard and postfix, exact patterns before wildcards; paths
 * without a first component before the `*` (e.g. `*.txt`) go to a global map tried when
 * nothing else matches. Mapped methods are no longer reachable at `/Service/Method`
 * unless the service was added with `allowDefaultUrl: true`.
 */
import type { MethodEntry, ServiceEntry, ServiceRegistry } from "../../server/service-registry.js";

/** A normalized restful path (brpc `RestfulMethodPath`). */
export interface RestfulPath {
  /** First component ("v1" of "/v1/echo/*"); empty for global patterns like "*.txt". */
  readonly serviceName: string;
  /** Components before the `*` after the first one, as "/a/b/" (always ends with "/"). */
  readonly prefix: string;
  /** What follows the `*`, as "b/c/" or "/" (always ends with "/"). */
  readonly postfix: string;
  readonly hasWildcard: boolean;
}

/** One `PATH => Method` of a mapping string. */
export interface RestfulMapping {
  readonly path: RestfulPath;
  readonly methodName: string;
}

/** brpc's http_parser `IS_URL_CHAR`: visible ASCII except '#' and '?', plus bytes >= 0x80. */
function isUrlChar(c: number): boolean {
  if (c >= 0x80) return true;
  if (c === 9 || c === 12) return true;
  return c > 0x20 && c < 0x7f && c !== 0x23 && c !== 0x3f;
}

function components(s: string): string[] {
  return s.split("/").filter((x) => x !== "");
}

/** Parse one restful path (brpc `ParseRestfulPath`). Throws with brpc's reason. */
export function parseRestfulPath(raw: string): RestfulPath {
  const path = raw.trim();
  if (path === "") throw new Error("Parameter[path] is empty");
  let star = -1;
  for (let i = 0; i < path.length; i++) {
    const ch = path.charCodeAt(i);
    if (ch === 0x2a) {
      if (star >= 0) throw new Error(`More than one wildcard in restful_path=\`${path}'`);
      star = i;
    } else if (!isUrlChar(ch)) {
      throw new Error(`Invalid character=\`${path[i]}' (index=${i}) in path=\`${path}'`);
    }
  }
  const hasWildcard = star >= 0;
  let first = hasWildcard ? path.slice(0, star) : path;
  const second = hasWildcard ? path.slice(star + 1) : "";
  first = first.replace(/^\/+/, "");
  const disallowed = () =>
    new Error(`Pattern A* (A is not ended with /) in path=\`${path}' is disallowed for performance concerns`);
  let serviceName = "";
  let prefix = "";
  const slash = first.indexOf("/");
  if (slash >= 0) {
    serviceName = first.slice(0, slash);
    const prefixRaw = first.slice(slash + 1);
    for (const c of components(prefixRaw)) prefix += `/${c}`;
    if (!hasWildcard || prefixRaw === "" || prefixRaw.endsWith("/")) prefix += "/";
    else throw disallowed();
  } else if (!hasWildcard) {
    serviceName = first;
    prefix = "/";
  } else {
    if (first !== "") throw disallowed();
    prefix = "/";
  }
  let postfix = "";
  if (hasWildcard) {
    if (second === "" || second.startsWith("/")) postfix = "/";
    for (const c of components(second)) postfix += `${c}/`;
  } else {
    postfix = "/";
  }
  return { serviceName, prefix, postfix, hasWildcard };
}

/** The canonical text of a path (brpc `RestfulMethodPath::to_string`), used to detect duplicates. */
export function restfulPathString(p: RestfulPath): string {
  let s = p.serviceName === "" ? "" : `/${p.serviceName}`;
  if (p.hasWildcard) s += `${p.prefix}*${p.postfix.slice(0, -1)}`;
  else s += p.prefix.slice(0, -1);
  return s;
}

/** Parse "PATH => Method, PATH2 => Method2" (brpc `ParseRestfulMappings`). Throws on errors. */
export function parseRestfulMappings(mappings: string): RestfulMapping[] {
  const out: RestfulMapping[] = [];
  const parts = mappings.split(",").filter((p) => p !== "");
  parts.forEach((part, n) => {
    let added = false;
    for (let i = 0; i < part.length; i++) {
      if (part[i] !== "=") continue;
      const eq = i;
      while (i < part.length && part[i] === "=") i++;
      if (i < part.length && part[i] === ">") {
        const path = parseRestfulPath(part.slice(0, eq));
        const methodName = part.slice(i + 1).trim();
        if (methodName === "") throw new Error(`No method name in ${n + 1}-th mapping`);
        out.push({ path, methodName });
        added = true;
        break;
      }
    }
    if (!added) throw new Error(`Invalid mapping: ${part}`);
  });
  return out;
}

interface MapEntry {
  readonly path: RestfulPath;
  readonly method: MethodEntry;
}

/** Result of a restful lookup. */
export interface RestfulMatch {
  readonly method: MethodEntry;
  /** What the wildcard (or the part after an exact path) matched, without a leading "/". */
  readonly unresolvedPath: string;
}

function reversed(s: string): string {
  let r = "";
  for (let i = s.length - 1; i >= 0; i--) r += s[i];
  return r;
}

function compareEntries(a: MapEntry, b: MapEntry): number {
  const p1 = a.path;
  const p2 = b.path;
  if (p1.prefix !== p2.prefix) return p1.prefix < p2.prefix ? -1 : 1;
  // "/A/*/B" sorts before "/A/B": matching walks backwards, exact patterns first.
  if (p1.hasWildcard !== p2.hasWildcard) return p1.hasWildcard ? -1 : 1;
  const r1 = reversed(p1.postfix);
  const r2 = reversed(p2.postfix);
  return r1 < r2 ? -1 : r1 > r2 ? 1 : 0;
}

/** "/a//b" -> "/a/b/" (brpc `NormalizeSlashes`). */
function normalizeSlashes(path: string): string {
  let out = "";
  for (const c of components(path)) out += `/${c}`;
  return `${out}/`;
}

/** "/A/B/C/" -> "/A/B/"; "/A/" -> "/"; false when nothing is left to remove. */
function removeLastComponent(path: string): string | undefined {
  if (path === "") return undefined;
  const p = path.endsWith("/") ? path.slice(0, -1) : path;
  const slash = p.lastIndexOf("/");
  if (slash < 0) return undefined;
  return p.slice(0, slash + 1);
}

/** The mappings sharing one first path component (brpc `RestfulMap`). */
export class RestfulMap {
  readonly serviceName: string;
  readonly #dedup = new Map<string, MapEntry>();
  #sorted: MapEntry[] | undefined;

  constructor(serviceName: string) {
    this.serviceName = serviceName;
  }

  /** True when `path` is mapped already. */
  has(path: RestfulPath): boolean {
    return this.#dedup.has(restfulPathString(path));
  }

  /** Add a mapping; throws when the same path is mapped already. */
  add(path: RestfulPath, method: MethodEntry): void {
    const key = restfulPathString(path);
    const old = this.#dedup.get(key);
    if (old !== undefined) throw new Error(`Already mapped \`${key}' to \`${old.method.fullName}'`);
    this.#dedup.set(key, { path, method });
    this.#sorted = undefined;
  }

  /** Find the method of `methodPath` (the URL path after the first component). */
  find(methodPath: string): RestfulMatch | undefined {
    if (this.#sorted === undefined) this.#sorted = [...this.#dedup.values()].sort(compareEntries);
    const sorted = this.#sorted;
    if (sorted.length === 0) return undefined;
    const fullPath = normalizeSlashes(methodPath);
    let subPath: string | undefined = fullPath;
    let lastFindPos = sorted.length;
    do {
      if (lastFindPos === 0) return undefined;
      // upper_bound over [0, lastFindPos): first entry whose prefix is greater than subPath.
      let lo = 0;
      let hi = lastFindPos;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (subPath < (sorted[mid] as MapEntry).path.prefix) hi = mid;
        else lo = mid + 1;
      }
      let it = lo;
      if (it !== 0) it--;
      let matched = false;
      let stripSlash = false;
      let left = "";
      for (;;) {
        const rpath = (sorted[it] as MapEntry).path;
        // Prefixes all end with "/": one that does not match ends the scan of this round.
        if (!subPath.startsWith(rpath.prefix)) break;
        left = fullPath;
        if (rpath.prefix !== "") {
          let removal = rpath.prefix.length;
          if (rpath.prefix.endsWith("/")) {
            removal--;
            stripSlash = true;
          }
          left = left.slice(removal);
        }
        if (left.endsWith(rpath.postfix)) {
          left = left.slice(0, left.length - rpath.postfix.length);
          if (left === "" || rpath.hasWildcard) {
            matched = true;
            break;
          }
        }
        if (it === 0) return undefined;
        it--;
      }
      lastFindPos = it;
      if (!matched) continue;
      let unresolvedPath = "";
      if (left !== "") unresolvedPath = stripSlash && left.startsWith("/") ? left.slice(1) : left;
      return { method: (sorted[it] as MapEntry).method, unresolvedPath };
      // biome-ignore lint/suspicious/noAssignInExpressions: mirrors brpc's loop
    } while ((subPath = removeLastComponent(subPath)) !== undefined);
    return undefined;
  }
}

/** A parsed `restful` option waiting for its service to be registered. */
export interface PreparedMappings {
  readonly mappings: RestfulMapping[];
  readonly allowDefaultUrl: boolean;
}

/** All restful mappings of one server. */
export class RestfulRouter {
  readonly #maps = new Map<string, RestfulMap>();
  #global: RestfulMap | undefined;
  /** Methods reachable only through their restful paths. */
  readonly #noDefaultUrl = new WeakSet<MethodEntry>();

  /**
   * Validate the mappings of a service about to be added (named `fullName`, with
   * `methodNames`): throws with brpc's reason, before anything is registered.
   */
  prepare(
    fullName: string,
    methodNames: readonly string[],
    restful: string | undefined,
    allowDefaultUrl: boolean,
    registry: ServiceRegistry,
  ): PreparedMappings | undefined {
    const short = fullName.slice(fullName.lastIndexOf(".") + 1);
    for (const name of [fullName, short]) {
      if (this.#maps.has(name)) throw new Error(`service ${fullName} conflicts with restful path /${name}`);
    }
    const text = restful?.trim() ?? "";
    if (text === "") return undefined;
    let mappings: RestfulMapping[];
    try {
      mappings = parseRestfulMappings(text);
    } catch (err) {
      throw new Error(`Fail to parse mappings \`${text}': ${(err as Error).message}`);
    }
    const seen = new Set<string>();
    for (const m of mappings) {
      if (!methodNames.includes(m.methodName)) {
        throw new Error(`${fullName} has no method called \`${m.methodName}'`);
      }
      const svc = m.path.serviceName;
      if (
        svc !== "" &&
        (svc === fullName || svc === short || registry.byFullName(svc) || registry.byShortName(svc))
      ) {
        throw new Error(`restful path /${svc} conflicts with service ${svc}`);
      }
      const key = restfulPathString(m.path);
      const map = svc === "" ? this.#global : this.#maps.get(svc);
      if (seen.has(key) || map?.has(m.path)) throw new Error(`Already mapped \`${key}'`);
      seen.add(key);
    }
    return { mappings, allowDefaultUrl };
  }

  /** Register the mappings prepared for `svc`. */
  commit(svc: ServiceEntry, prepared: PreparedMappings | undefined): void {
    if (prepared === undefined) return;
    for (const m of prepared.mappings) {
      const method = svc.methods.get(m.methodName) as MethodEntry;
      let map: RestfulMap;
      if (m.path.serviceName === "") {
        this.#global ??= new RestfulMap("");
        map = this.#global;
      } else {
        let found = this.#maps.get(m.path.serviceName);
        if (found === undefined) {
          found = new RestfulMap(m.path.serviceName);
          this.#maps.set(m.path.serviceName, found);
        }
        map = found;
      }
      map.add(m.path, method);
      if (!prepared.allowDefaultUrl) this.#noDefaultUrl.add(method);
    }
  }

  /** The map of a first path component, if any. */
  mapOf(firstComponent: string): RestfulMap | undefined {
    return this.#maps.get(firstComponent);
  }

  /** The map of patterns without a first component ("*.txt => M"). */
  get global(): RestfulMap | undefined {
    return this.#global;
  }

  /** True when `m` is mapped and may not be called at /Service/Method. */
  blocksDefaultUrl(m: MethodEntry): boolean {
    return this.#noDefaultUrl.has(m);
  }

  /** True when no mapping was added. */
  get empty(): boolean {
    return this.#maps.size === 0 && this.#global === undefined;
  }
}
