/** UTF-8 decoding tuned for the short strings RPC metadata and messages are full of. */

/** Strings up to this many bytes are decoded in JS when ASCII; longer ones natively (measured crossover). */
export const SHORT_STRING = 24;

// Unrolled `String.fromCharCode(b[s], ..., b[s+n-1])` per length, null if not ASCII:
// ~2x faster than a native call for short strings.
const shortAsciiImpl = ((): ((b: Uint8Array, s: number, n: number) => string | null) => {
  let src = "switch (n) {\ncase 0: return '';\n";
  for (let n = 1; n <= SHORT_STRING; n++) {
    const c = Array.from({ length: n }, (_, k) => `c${k}`);
    const loads = c.map((v, k) => `const ${v} = b[s + ${k}];`).join(" ");
    src += `case ${n}: { ${loads} if ((${c.join(" | ")}) & 128) return null; return f(${c.join(", ")}); }\n`;
  }
  src += "}\nreturn null;";
  try {
    return new Function("f", `return function shortAscii(b, s, n) {\n${src}\n}`)(String.fromCharCode);
  } catch {
    // Code generation disallowed: never take the fast path.
    return () => null;
  }
})();

/** The ASCII text of `b[s, s+n)` for n <= {@link SHORT_STRING}, or null if it is not ASCII. */
export const shortAscii: (b: Uint8Array, s: number, n: number) => string | null = shortAsciiImpl;

const nativeUtf8Slice = (Buffer.prototype as unknown as { utf8Slice: (start: number, end: number) => string })
  .utf8Slice;

/** UTF-8 text of `buf[s, e)` (works on any Uint8Array); invalid sequences become U+FFFD. */
export function utf8Slice(buf: Uint8Array, s: number, e: number): string {
  if (e - s <= SHORT_STRING) {
    const r = shortAscii(buf, s, e - s);
    if (r !== null) return r;
  }
  return nativeUtf8Slice.call(buf, s, e);
}
