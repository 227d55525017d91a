/**
 * Generates a specialised encoder per message type: fields in number order (as
 * `toBinary` writes them), presence tests inlined, then `$unknown`.
 */
import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import {
  createShape,
  is64,
  isDelimited,
  isExplicit,
  isUnwrappedField,
  PRESENCE_REQUIRED,
  sortedFields,
  tagOf,
  WT_EGROUP,
  WT_LEN,
  WT_SGROUP,
  wireTypeOf,
} from "./desc-info.js";
import { fnName, lit, prop, Refs } from "./source.js";
import type { EncodeFn, Unit } from "./unit.js";
import * as W from "./write.js";

/** Compile the encoder of `desc`; `unitOf` resolves the units of message-typed fields. */
export function compileEncoder(desc: DescMessage, unitOf: (d: DescMessage) => Unit): EncodeFn {
  const refs = new Refs();
  refs.fixed("W", W);
  refs.fixed("hop", Object.prototype.hasOwnProperty);
  const gen = new EncoderGen(desc, refs, unitOf);
  const fields = sortedFields(desc);
  const body: string[] = [];
  if (fields.length > 0) {
    body.push(
      "const tn = m.$typeName;",
      `if (tn !== undefined && tn !== ${lit(desc.typeName)}) throw W.foreignError(${lit(String(fields[0]))}, tn);`,
    );
  }
  // b/p cache w.buf/w.pos; they are written back (SYNC) around calls that use `w`.
  body.push("let v, e, n, q, b = w.buf, p = w.pos;");
  for (const f of fields) body.push(gen.field(f));
  body.push("w.pos = p;", "v = m.$unknown;", "if (v != null) W.unknown(w, v);");
  return refs.build<EncodeFn>(
    `return function ${fnName("encode", desc.typeName)}(m, w) {\n${body.join("\n")}\n};`,
  );
}

const SYNC = "w.pos = p;";
const LOAD = "b = w.buf; p = w.pos;";

/** Code making room for `n` (a number or an expression) more bytes at `p`. */
function ensure(n: number | string): string {
  return `if (p + ${n} > b.length) { w.pos = p; w.ensure(${n}); ${LOAD} }`;
}

/** Code storing the (constant) tag bytes; capacity ensured. */
function tagBytes(tag: number): string {
  const out: string[] = [];
  while (tag > 0x7f) {
    out.push(`b[p++] = ${(tag & 0x7f) | 0x80};`);
    tag >>>= 7;
  }
  out.push(`b[p++] = ${tag};`);
  return out.join(" ");
}

/** Code writing a tag, with its own capacity check. */
function writeTag(tag: number): string {
  return `${ensure(W.varintSize(tag))} ${tagBytes(tag)}`;
}

/** Code storing uint32 `n` as a varint (clobbers `n`). */
const VARINT = "while (n > 127) { b[p++] = (n & 127) | 128; n >>>= 7; } b[p++] = n;";

/**
 * How to write a scalar held in variable `x` (no tag): `max` bytes at most stored at
 * `b[p]` after the caller ensured room, or `max` 0 for code that syncs and calls a
 * `w`-based helper. `name` is used in error messages.
 */
function scalarCode(t: ScalarType, x: string, name: string): { max: number; code: string } {
  const n = lit(name);
  const int32 = `n = (${x} | 0) === ${x} ? ${x} : W.toInt32(${x}, ${n});`;
  const uint32 = `n = ${x} >>> 0 === ${x} ? ${x} : W.toUint32(${x}, ${n});`;
  const fixed = "b[p] = n; b[p + 1] = n >>> 8; b[p + 2] = n >>> 16; b[p + 3] = n >>> 24; p += 4;";
  switch (t) {
    case ScalarType.INT32:
      return { max: 10, code: `${int32} if (n >= 0) { ${VARINT} } else p = W.neg32(b, p, n);` };
    case ScalarType.SINT32:
      return { max: 5, code: `${int32} n = ((n << 1) ^ (n >> 31)) >>> 0; ${VARINT}` };
    case ScalarType.UINT32:
      return { max: 5, code: `${uint32} ${VARINT}` };
    case ScalarType.SFIXED32:
      return { max: 4, code: `${int32} ${fixed}` };
    case ScalarType.FIXED32:
      return { max: 4, code: `${uint32} ${fixed}` };
    case ScalarType.BOOL:
      return { max: 1, code: `b[p++] = ${x} ? 1 : 0;` };
    case ScalarType.DOUBLE:
      return { max: 8, code: `p = W.f64(b, p, typeof ${x} === "number" ? ${x} : Number(${x}));` };
    case ScalarType.FLOAT:
      return {
        max: 4,
        code: `p = W.f32(b, p, typeof ${x} === "number" && Math.abs(${x}) <= 3.4028234663852886e38 ? ${x} : W.toFloat32(${x}, ${n}));`,
      };
    case ScalarType.INT64:
      return { max: 10, code: `p = W.i64(b, p, ${x}, false, ${n});` };
    case ScalarType.UINT64:
      return { max: 10, code: `p = W.i64(b, p, ${x}, true, ${n});` };
    case ScalarType.SINT64:
      return { max: 10, code: `p = W.s64(b, p, ${x}, ${n});` };
    case ScalarType.FIXED64:
      return { max: 8, code: `p = W.x64(b, p, ${x}, true, ${n});` };
    case ScalarType.SFIXED64:
      return { max: 8, code: `p = W.x64(b, p, ${x}, false, ${n});` };
    case ScalarType.STRING:
      return { max: 0, code: `${SYNC} W.string(w, ${x}); ${LOAD}` };
    case ScalarType.BYTES:
      return { max: 0, code: `${SYNC} W.bytes(w, ${x}, ${n}); ${LOAD}` };
  }
}

/** Code writing tag and scalar `x`, with capacity checks. */
function tagAndScalar(tag: number, t: ScalarType, x: string, name: string): string {
  const { max, code } = scalarCode(t, x, name);
  return `${ensure(W.varintSize(tag) + max)} ${tagBytes(tag)} ${code}`;
}

/**
 * Code writing a tag and a length-delimited value whose content `body` writes, through
 * b/p or, if `synced`, through `w` (leaving `w.pos` current).
 */
function lengthDelimited(tag: number, body: string, synced = false): string {
  // One placeholder length byte; W.join widens it if the content needs more.
  return `${ensure(W.varintSize(tag) + 1)} ${tagBytes(tag)} { const h = p - w.start; b[p++] = 0; ${body} ${synced ? "" : SYNC} W.join(w, h); ${LOAD} }`;
}

/** Code encoding message `x` through unit `u`, leaving `w.pos` current (an absent message is empty, as in toBinary). */
function encodeChild(u: string, x: string): string {
  return `${SYNC} if (${x} != null) ${u}.enc(${x}, w);`;
}

/** Byte width of a packed element of fixed size, 0 for varints. */
function fixedWidth(t: ScalarType): number {
  switch (t) {
    case ScalarType.BOOL:
      return 1;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return 4;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return 8;
    default:
      return 0;
  }
}

/** Condition under which an implicit-presence scalar `x` is written (`toBinary`'s zero-value tests). */
function implicitSet(t: ScalarType, x: string): string {
  switch (t) {
    case ScalarType.STRING:
      return `${x} != null && ${x} !== ""`;
    case ScalarType.BOOL:
      return `${x} != null && ${x} !== false`;
    case ScalarType.BYTES:
      return `${x} != null && ${x}.length !== 0`;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      // -0 is written, +0 is not.
      return `${x} != null && (${x} !== 0 || 1 / ${x} < 0)`;
    default:
      // Loose like toBinary's: 0, 0n, "0" (and "") are zero. Common zeros first.
      return is64(t)
        ? `${x} !== 0n && ${x} !== "0" && ${x} != null && ${x} != 0`
        : `${x} !== 0 && ${x} != null && ${x} != 0`;
  }
}

/**
 * Explicit presence test of field `f` of message `m` whose value was loaded into `v`:
 * an own property that is not null/undefined. With a prototype holding defaults, the
 * own-property check only runs when the value equals the default.
 */
export function explicitSet(
  proto: Record<string, unknown> | undefined,
  f: DescField,
  m: string,
  v: string,
  refs: Refs,
): string {
  if (proto === undefined || !Object.hasOwn(proto, f.localName)) return `${v} != null`;
  const d = proto[f.localName];
  const own = `hop.call(${m}, ${lit(f.localName)})`;
  // NaN never compares equal to itself.
  if (typeof d === "number" && Number.isNaN(d)) return `${v} != null && ${own}`;
  return `${v} != null && (${v} !== ${refs.ref(d, "d")} || ${own})`;
}

/** Implicit presence test for a singular scalar or enum field. */
function implicitFieldSet(f: DescField, x: string): string {
  if (f.fieldKind === "enum") return `${x} != null && ${x} !== ${f.enum.values[0]!.number}`;
  return implicitSet(f.scalar!, x);
}

class EncoderGen {
  readonly #refs: Refs;
  readonly #unitOf: (d: DescMessage) => Unit;
  readonly #shape: ReturnType<typeof createShape>;

  constructor(desc: DescMessage, refs: Refs, unitOf: (d: DescMessage) => Unit) {
    this.#refs = refs;
    this.#unitOf = unitOf;
    this.#shape = createShape(desc);
  }

  /** Code for one field. */
  field(f: DescField): string {
    const name = String(f);
    if (f.oneof !== undefined) {
      return `v = ${prop("m", f.oneof.localName)};\nif (v != null && v.case === ${lit(f.localName)}) { v = v.value; ${this.#value(f, "v")} }`;
    }
    const load = `v = ${prop("m", f.localName)};`;
    switch (f.fieldKind) {
      case "list":
        return `${load}\nif (v != null && v.length !== 0) { ${this.#list(f)} }`;
      case "map":
        return `${load}\nif (v != null) { ${this.#map(f)} }`;
      default: {
        const cond = isExplicit(f)
          ? explicitSet(this.#shape.proto, f, "m", "v", this.#refs)
          : implicitFieldSet(f, "v");
        const missing = f.presence === PRESENCE_REQUIRED ? ` else throw W.requiredError(${lit(name)});` : "";
        return `${load}\nif (${cond}) { ${this.#value(f, "v")} }${missing}`;
      }
    }
  }

  /** Tag and value of a singular field (also a oneof member) whose value is in `x`. */
  #value(f: DescField, x: string): string {
    if (f.fieldKind === "message") {
      if (isUnwrappedField(f)) {
        // The local value is the wrapper's scalar: write the wrapper message around it.
        const inner = f.message.fields[0]!;
        const t = inner.fieldKind === "scalar" ? inner.scalar : ScalarType.INT32;
        return this.#message(
          f,
          `if (${implicitSet(t, x)}) { ${tagAndScalar(tagOf(1, wireTypeOf(t)), t, x, String(inner))} }`,
        );
      }
      return this.#message(f, encodeChild(this.#unit(f), x), true);
    }
    const t = f.fieldKind === "enum" ? ScalarType.INT32 : f.scalar!;
    return tagAndScalar(tagOf(f.number, wireTypeOf(t)), t, x, String(f));
  }

  /** A message-typed field whose content `body` writes (through `w` if `synced`): length-delimited, or as a group. */
  #message(f: DescField, body: string, synced = false): string {
    if (isDelimited(f)) {
      return `${writeTag(tagOf(f.number, WT_SGROUP))} ${body} ${synced ? LOAD : ""} ${writeTag(tagOf(f.number, WT_EGROUP))}`;
    }
    return lengthDelimited(tagOf(f.number, WT_LEN), body, synced);
  }

  #unit(f: DescField): string {
    return this.#refs.ref(this.#unitOf(f.message!), "u");
  }

  #list(f: DescField & { fieldKind: "list" }): string {
    const loop = (body: string): string => `for (let i = 0; i < v.length; i++) { e = v[i]; ${body} }`;
    if (f.listKind === "message") {
      return loop(this.#message(f, encodeChild(this.#unit(f), "e"), true));
    }
    const t = f.listKind === "enum" ? ScalarType.INT32 : f.scalar;
    const name = String(f);
    if (!f.packed) return loop(tagAndScalar(tagOf(f.number, wireTypeOf(t)), t, "e", name));
    const tag = tagOf(f.number, WT_LEN);
    const { max, code } = scalarCode(t, "e", name);
    const width = fixedWidth(t);
    if (width > 0) {
      // Known length: prefix, then elements without capacity checks.
      return `${ensure(`${W.varintSize(tag) + 5} + v.length * ${width}`)} ${tagBytes(tag)} n = v.length * ${width}; ${VARINT} ${loop(code)}`;
    }
    return lengthDelimited(tag, loop(`${ensure(max)} ${code}`));
  }

  #map(f: DescField & { fieldKind: "map" }): string {
    const name = String(f);
    const keyT = f.mapKey;
    let key: string;
    switch (keyT) {
      case ScalarType.BOOL:
        key = 'q = k === "true" ? true : k === "false" ? false : k;';
        break;
      case ScalarType.STRING:
      case ScalarType.INT64:
      case ScalarType.UINT64:
      case ScalarType.SINT64:
      case ScalarType.FIXED64:
      case ScalarType.SFIXED64:
        // The 64-bit writers parse decimal strings.
        key = "q = k;";
        break;
      default:
        key = "n = Number.parseInt(k); q = Number.isFinite(n) ? n : k;";
    }
    const writeKey = `${key} ${tagAndScalar(tagOf(1, wireTypeOf(keyT)), keyT, "q", name)}`;
    let writeVal: string;
    if (f.mapKind === "message") {
      writeVal = lengthDelimited(tagOf(2, WT_LEN), encodeChild(this.#unit(f), "e"), true);
    } else {
      const t = f.mapKind === "enum" ? ScalarType.INT32 : f.scalar;
      writeVal = tagAndScalar(tagOf(2, wireTypeOf(t)), t, "e", name);
    }
    // for-in with an own-property test: Object.keys' order, without allocating the key array.
    return `for (const k in v) {
  if (!hop.call(v, k)) continue;
  e = v[k];
  ${lengthDelimited(tagOf(f.number, WT_LEN), `${writeKey} ${writeVal}`)}
}`;
  }
}
