/**
 * Variable names as brpc spells them (`bvar::to_underscored_name`) and brpc's wildcard filters
 * (`/vars/<filter>`, `bvar_dump_include`).
 */

/** True for an ASCII letter. */
function isAlpha(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** True for an ASCII upper-case letter. */
function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}

/** True for an ASCII digit. */
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * Appends `src` to `out` the way brpc's `to_underscored_name` appends to a name being built:
 * letters are lower-cased and an upper-case letter that follows a non-upper-case character of
 * `src` starts a new word (`_`), digits are kept, and every run of other characters (including
 * any non-ASCII ones) becomes one `_`. No `_` is doubled where `out` already ends with one.
 */
export function appendUnderscored(out: string, src: string): string {
  for (let i = 0; i < src.length; i++) {
    const c = src.charCodeAt(i);
    if (isAlpha(c)) {
      if (isUpper(c)) {
        // A new word, unless it continues an upper-case run ("HTTPServer" -> "httpserver").
        if (i > 0 && !isUpper(src.charCodeAt(i - 1)) && !out.endsWith("_")) out += "_";
        out += String.fromCharCode(c + 32);
      } else {
        out += src[i];
      }
    } else if (isDigit(c)) {
      out += src[i];
    } else if (out.length === 0 || !out.endsWith("_")) {
      out += "_";
    }
  }
  return out;
}

/**
 * brpc's `to_underscored_name`: `"RpcServer8000EchoService"` -> `"rpc_server8000_echo_service"`,
 * `"foo.bar-baz"` -> `"foo_bar_baz"`, `"HTTPServer"` -> `"httpserver"`.
 */
export function toUnderscoredName(name: string): string {
  return appendUnderscored("", name);
}

/**
 * The name `expose_as(prefix, name)` gives a variable in brpc: the underscored prefix, a `_`
 * unless it already ends with one, then the underscored name. An empty prefix gives
 * `toUnderscoredName(name)`.
 */
export function exposedName(prefix: string, name: string): string {
  let out = "";
  if (prefix.length > 0) {
    out = appendUnderscored(out, prefix);
    if (out.length > 0 && !out.endsWith("_")) out += "_";
  }
  return appendUnderscored(out, name);
}

/**
 * True if `text` matches the wildcard `pattern`: `*` matches any run of characters (also none),
 * `questionMark` (default `?`; brpc's `/vars` page uses `$` since `?` starts a URL query) matches
 * exactly one character, everything else matches itself.
 */
export function wildcardMatch(pattern: string, text: string, questionMark = "?"): boolean {
  let p = 0;
  let t = 0;
  let starP = -1; // position after the last '*' seen
  let starT = 0; // where that '*' started matching in text
  while (t < text.length) {
    const pc = p < pattern.length ? pattern[p] : "";
    if (pc === "*") {
      starP = ++p;
      starT = t;
    } else if (pc !== "" && (pc === questionMark || pc === text[t])) {
      p++;
      t++;
    } else if (starP >= 0) {
      // Let the last '*' swallow one more character and retry.
      p = starP;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === "*") p++;
  return p === pattern.length;
}

/**
 * A compiled brpc name filter: alternatives separated by `;` or `,`; an alternative with `*`
 * or the question mark is a wildcard, any other is an exact name. An empty filter matches
 * every name.
 */
export class NameFilter {
  private readonly exact = new Set<string>();
  private readonly wildcards: string[] = [];

  /** Compile `filter` (e.g. `"rpc_server_*_qps;process_*"`). */
  constructor(
    filter: string,
    private readonly questionMark = "?",
  ) {
    for (const field of filter.split(/[;,]/)) {
      if (field.length === 0) continue;
      if (field.includes("*") || field.includes(questionMark)) this.wildcards.push(field);
      else this.exact.add(field);
    }
  }

  /** True if the filter has no alternative (it then matches everything). */
  get isEmpty(): boolean {
    return this.exact.size === 0 && this.wildcards.length === 0;
  }

  /** True if `name` matches one of the alternatives (or the filter is empty). */
  matches(name: string): boolean {
    if (this.isEmpty) return true;
    if (this.exact.has(name)) return true;
    for (const w of this.wildcards) if (wildcardMatch(w, name, this.questionMark)) return true;
    return false;
  }
}
