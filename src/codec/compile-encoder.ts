/**
 * Generates a specialised encoder per message type: fields in number order (as
 * `toBinary` writes them), presence tests inlined, then `$unknown`.
 */
import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import {
  createShape,
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
  body.push("let v, x, h;");
  for (const f of fields) body.push(gen.field(f));
  body.push("v = m.$unknown;", "if (v != null) W.unknown(w, v);");
  return refs.build<EncodeFn>(
    `return function ${fnName("encode", desc.typeName)}(m, w) {\n${body.join("\n")}\n};`,
  );
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

/** Code that writes a tag. */
function writeTag(tag: number): string {
  return tag < 0x80 ? `W.byte(w, ${tag});` : `W.u32(w, ${tag});`;
}

/** Code that writes scalar `x` (a variable) without tag. `name` is used in error messages. */
function writeScalar(t: ScalarType, x: string, name: string): string {
  const n = lit(name);
  switch (t) {
    case ScalarType.DOUBLE:
      return `W.float64(w, typeof ${x} === "number" ? ${x} : Number(${x}));`;
    case ScalarType.FLOAT:
      return `W.float32(w, typeof ${x} === "number" && Math.abs(${x}) <= 3.4028234663852886e38 ? ${x} : W.toFloat32(${x}, ${n}));`;
    case ScalarType.INT32:
      return `W.i32(w, (${x} | 0) === ${x} ? ${x} : W.toInt32(${x}, ${n}));`;
    case ScalarType.SINT32:
      return `${x} = (${x} | 0) === ${x} ? ${x} : W.toInt32(${x}, ${n}); W.u32(w, ((${x} << 1) ^ (${x} >> 31)) >>> 0);`;
    case ScalarType.SFIXED32:
      return `W.fixed32(w, (${x} | 0) === ${x} ? ${x} : W.toInt32(${x}, ${n}));`;
    case ScalarType.UINT32:
      return `W.u32(w, ${x} >>> 0 === ${x} ? ${x} : W.toUint32(${x}, ${n}));`;
    case ScalarType.FIXED32:
      return `W.fixed32(w, ${x} >>> 0 === ${x} ? ${x} : W.toUint32(${x}, ${n}));`;
    case ScalarType.BOOL:
      return `W.byte(w, ${x} ? 1 : 0);`;
    case ScalarType.STRING:
      return `W.string(w, ${x});`;
    case ScalarType.BYTES:
      return `W.bytes(w, ${x}, ${n});`;
    case ScalarType.INT64:
      return `W.int64(w, ${x}, false, ${n});`;
    case ScalarType.UINT64:
      return `W.int64(w, ${x}, true, ${n});`;
    case ScalarType.SINT64:
      return `W.sint64(w, ${x}, ${n});`;
    case ScalarType.FIXED64:
      return `W.fixed64(w, ${x}, true, ${n});`;
    case ScalarType.SFIXED64:
      return `W.fixed64(w, ${x}, false, ${n});`;
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
      // Loose: 0, 0n and "0" are all zero.
      return `${x} != null && ${x} != 0`;
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
        const cond = isExplicit(f) ? this.#explicitSet(f) : implicitFieldSet(f, "v");
        const missing = f.presence === PRESENCE_REQUIRED ? ` else throw W.requiredError(${lit(name)});` : "";
        return `${load}\nif (${cond}) { ${this.#value(f, "v")} }${missing}`;
      }
    }
  }

  #explicitSet(f: DescField): string {
    return explicitSet(this.#shape.proto, f, "m", "v", this.#refs);
  }

  /** Tag and value of a singular field (also a oneof member) whose value is in `x`. */
  #value(f: DescField, x: string): string {
    const no = f.number;
    if (f.fieldKind === "message") {
      if (isUnwrappedField(f)) {
        // The local value is the wrapper's scalar: write the wrapper message around it.
        const inner = f.message.fields[0]!;
        const t = inner.fieldKind === "scalar" ? inner.scalar : ScalarType.INT32;
        const body = `if (${implicitSet(t, x)}) { ${writeTag(tagOf(1, wireTypeOf(t)))} ${writeScalar(t, x, String(inner))} }`;
        return this.#delimited(f, body);
      }
      return this.#delimited(f, `${this.#unit(f)}.enc(${x}, w);`);
    }
    const t = f.fieldKind === "enum" ? ScalarType.INT32 : f.scalar!;
    return `${writeTag(tagOf(no, wireTypeOf(t)))} ${writeScalar(t, x, String(f))}`;
  }

  /** Wrap `body` (which writes a message body) as a length-delimited or group-encoded field. */
  #delimited(f: DescField, body: string): string {
    if (isDelimited(f)) {
      return `${writeTag(tagOf(f.number, WT_SGROUP))} ${body} ${writeTag(tagOf(f.number, WT_EGROUP))}`;
    }
    return `${writeTag(tagOf(f.number, WT_LEN))} { const h = W.fork(w); ${body} W.join(w, h); }`;
  }

  #unit(f: DescField): string {
    return this.#refs.ref(this.#unitOf(f.message!), "u");
  }

  #list(f: DescField & { fieldKind: "list" }): string {
    const loop = "for (let i = 0; i < v.length; i++) { x = v[i];";
    if (f.listKind === "message") {
      return `${loop} ${this.#delimited(f, `${this.#unit(f)}.enc(x, w);`)} }`;
    }
    const t = f.listKind === "enum" ? ScalarType.INT32 : f.scalar;
    const name = String(f);
    if (!f.packed) {
      return `${loop} ${writeTag(tagOf(f.number, wireTypeOf(t)))} ${writeScalar(t, "x", name)} }`;
    }
    const tag = writeTag(tagOf(f.number, WT_LEN));
    const width = fixedWidth(t);
    if (width > 0) {
      return `${tag} W.u32(w, v.length * ${width}); ${loop} ${writeScalar(t, "x", name)} }`;
    }
    return `${tag} h = W.fork(w); ${loop} ${writeScalar(t, "x", name)} } W.join(w, h);`;
  }

  #map(f: DescField & { fieldKind: "map" }): string {
    const name = String(f);
    const keyT = f.mapKey;
    let key: string;
    switch (keyT) {
      case ScalarType.STRING:
        key = "x = k;";
        break;
      case ScalarType.BOOL:
        key = 'x = k === "true" ? true : k === "false" ? false : k;';
        break;
      case ScalarType.INT64:
      case ScalarType.UINT64:
      case ScalarType.SINT64:
      case ScalarType.FIXED64:
      case ScalarType.SFIXED64:
        // The 64-bit writers parse decimal strings.
        key = "x = k;";
        break;
      default:
        key = "x = Number.parseInt(k); if (!Number.isFinite(x)) x = k;";
    }
    const writeKey = `${key} ${writeTag(tagOf(1, wireTypeOf(keyT)))} ${writeScalar(keyT, "x", name)}`;
    let writeVal: string;
    if (f.mapKind === "message") {
      const u = this.#unit(f);
      writeVal = `${writeTag(tagOf(2, WT_LEN))} { const h2 = W.fork(w); if (x != null) ${u}.enc(x, w); W.join(w, h2); }`;
    } else {
      const t = f.mapKind === "enum" ? ScalarType.INT32 : f.scalar;
      writeVal = `${writeTag(tagOf(2, wireTypeOf(t)))} ${writeScalar(t, "x", name)}`;
    }
    return `const ks = Object.keys(v);
for (let i = 0; i < ks.length; i++) {
  const k = ks[i];
  ${writeTag(tagOf(f.number, WT_LEN))}
  const h = W.fork(w);
  ${writeKey}
  x = v[k];
  ${writeVal}
  W.join(w, h);
}`;
  }
}
