/**
 * Generates a specialised decoder per message type. Field values are collected in
 * locals while parsing and the message is built once at the end, with its fields in
 * a fixed order: one hidden class per set of present fields.
 *
 * Inputs that @bufbuild treats in some special way (a singular message field that
 * occurs twice and must be merged, a known field with an unexpected wire type,
 * anything malformed) throw `BAIL`, and the caller re-decodes with `fromBinary`.
 */
import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import {
  createShape,
  is64,
  isDelimited,
  isExplicit,
  isUnwrappedField,
  RECURSION_LIMIT,
  tagOf,
  WT_LEN,
  WT_SGROUP,
  WT_VARINT,
  wireTypeOf,
} from "./desc-info.js";
import * as R from "./read.js";
import { fnName, lit, prop, Refs } from "./source.js";
import type { DecodeFn, Unit } from "./unit.js";

/** Compile the decoder of `desc`; `unitOf` resolves the units of message-typed fields. */
export function compileDecoder(desc: DescMessage, unitOf: (d: DescMessage) => Unit): DecodeFn {
  const refs = new Refs();
  refs.fixed("R", R);
  refs.fixed("S", R.S);
  refs.fixed("BAIL", R.BAIL);
  return new DecoderGen(desc, refs, unitOf).build();
}

/** Code reading a uint32 varint into `v`, bounded by `lim`. */
function varint32(v: string, lim: string): string {
  return `${v} = buf[pos]; if (${v} < 128 && pos < ${lim}) pos++; else { ${v} = R.varint32(buf, pos, ${lim}); pos = S.p; }`;
}

/** Code reading a length prefix into `n` and checking it against `lim`. */
function length(lim: string): string {
  return `${varint32("n", lim)} if (n > ${lim} - pos) throw BAIL;`;
}

/** Code reading a 64-bit varint (1-byte fast path), converting with `fast(x)` or `slow` (from S.lo/S.hi). */
function varint64(target: string, lim: string, fast: string, slow: string): string {
  return `x = buf[pos]; if (x < 128 && pos < ${lim}) { pos++; ${target} = ${fast}; } else { pos = R.varint64(buf, pos, ${lim}); ${slow} }`;
}

/** Code reading one scalar value of type `t` into `target`, bounded by `lim`. */
function readScalar(
  t: ScalarType,
  target: string,
  lim: string,
  strict: boolean,
  longAsString: boolean,
): string {
  const fixed = (size: number, expr: string): string =>
    `if (pos + ${size} > ${lim}) throw BAIL; ${target} = ${expr}; pos += ${size};`;
  const big = (signed: boolean): string =>
    longAsString ? `R.${signed ? "int64s" : "uint64s"}` : `R.${signed ? "int64" : "uint64"}`;
  const small = (expr: string): string => (longAsString ? `String(${expr})` : `BigInt(${expr})`);
  switch (t) {
    case ScalarType.INT32:
      return `${varint32("x", lim)} ${target} = x | 0;`;
    case ScalarType.UINT32:
      return `${varint32("x", lim)} ${target} = x;`;
    case ScalarType.SINT32:
      return `${varint32("x", lim)} ${target} = (x >>> 1) ^ -(x & 1);`;
    case ScalarType.BOOL:
      return varint64(target, lim, "x !== 0", `${target} = S.lo !== 0 || S.hi !== 0;`);
    case ScalarType.INT64:
      return varint64(target, lim, small("x"), `${target} = ${big(true)}(S.lo, S.hi);`);
    case ScalarType.UINT64:
      return varint64(target, lim, small("x"), `${target} = ${big(false)}(S.lo, S.hi);`);
    case ScalarType.SINT64:
      return varint64(
        target,
        lim,
        small("(x >>> 1) ^ -(x & 1)"),
        `R.unzigzag64(); ${target} = ${big(true)}(S.lo, S.hi);`,
      );
    case ScalarType.FIXED32:
      return fixed(4, "R.fixed32(buf, pos)");
    case ScalarType.SFIXED32:
      return fixed(4, "R.fixed32(buf, pos) | 0");
    case ScalarType.FLOAT:
      return fixed(4, "R.float32(buf, pos)");
    case ScalarType.DOUBLE:
      return fixed(8, "R.float64(buf, pos)");
    case ScalarType.FIXED64:
      return fixed(8, `${big(false)}(R.fixed32(buf, pos), R.fixed32(buf, pos + 4))`);
    case ScalarType.SFIXED64:
      return fixed(8, `${big(true)}(R.fixed32(buf, pos), R.fixed32(buf, pos + 4))`);
    case ScalarType.STRING:
      return `${length(lim)} ${target} = R.utf8(buf, pos, pos + n, ${strict}); pos += n;`;
    case ScalarType.BYTES:
      return `${length(lim)} ${target} = buf.subarray(pos, pos + n); pos += n;`;
  }
}

/** Zero value of a scalar as @bufbuild's `scalarZeroValue` (map keys and values: 64-bit as bigint). */
function zeroLiteral(t: ScalarType): string {
  switch (t) {
    case ScalarType.STRING:
      return '""';
    case ScalarType.BOOL:
      return "false";
    case ScalarType.BYTES:
      // A fresh instance per entry, as @bufbuild creates it.
      return "new Uint8Array(0)";
    default:
      return is64(t) ? "0n" : "0";
  }
}

class DecoderGen {
  readonly #desc: DescMessage;
  readonly #refs: Refs;
  readonly #unitOf: (d: DescMessage) => Unit;
  readonly #shape: ReturnType<typeof createShape>;
  readonly #cases: string[] = [];
  readonly #locals: string[] = [];

  constructor(desc: DescMessage, refs: Refs, unitOf: (d: DescMessage) => Unit) {
    this.#desc = desc;
    this.#refs = refs;
    this.#unitOf = unitOf;
    this.#shape = createShape(desc);
  }

  build(): DecodeFn {
    const desc = this.#desc;
    desc.fields.forEach((f, i) => {
      this.#field(f, i);
    });
    desc.oneofs.forEach((_, j) => {
      this.#locals.push(`c${j} = undefined`, `o${j} = undefined`);
    });
    const known = [...new Set(desc.fields.map((f) => f.number))].map((no) => `case ${no}:`).join(" ");
    const src = `return function ${fnName("decode", desc.typeName)}(buf, pos, end, depth) {
if (depth > ${RECURSION_LIMIT}) throw BAIL;
let t, n, x, unk, unkE${this.#locals.map((l) => `, ${l}`).join("")};
while (pos < end) {
  t = buf[pos++];
  if (t > 127) { t = R.tag(buf, pos - 1, end); pos = S.p; }
  switch (t) {
${this.#cases.join("\n")}
  default: {
    const no = t >>> 3, wt = t & 7;
    if (no === 0 || wt > 5) throw BAIL;
    ${known ? `switch (no) { ${known} throw BAIL; }` : ""}
    n = pos;
    pos = R.skip(buf, pos, end, wt, no, ${RECURSION_LIMIT} - depth);
    (unk ??= []).push({ no, wireType: wt, data: buf.subarray(n, pos) });
  }
  }
}
${this.#construct()}
};`;
    return this.#refs.build<DecodeFn>(src);
  }

  /** Code creating the message from the locals. */
  #construct(): string {
    const desc = this.#desc;
    const proto = this.#shape.proto;
    // [property, expression]: always set, and set only when not undefined.
    const always: [string, string][] = [];
    const optional: [string, string][] = [];
    for (const member of desc.members) {
      if (member.kind === "oneof") {
        const j = desc.oneofs.indexOf(member);
        always.push([
          member.localName,
          `c${j} === undefined ? { case: undefined } : { case: c${j}, value: o${j} }`,
        ]);
      } else {
        (isExplicit(member) ? optional : always).push([member.localName, `f${desc.fields.indexOf(member)}`]);
      }
    }
    const lines: string[] = [];
    if (proto === undefined) {
      const entries = always.map(([k, v]) => `, ${lit(k)}: ${v}`).join("");
      lines.push(`const m = { $typeName: ${lit(desc.typeName)}${entries} };`);
    } else {
      lines.push(
        `const m = Object.create(${this.#refs.ref(proto, "P")});`,
        `m.$typeName = ${lit(desc.typeName)};`,
      );
      for (const [k, v] of always) lines.push(`${prop("m", k)} = ${v};`);
    }
    for (const [k, v] of optional) lines.push(`if (${v} !== undefined) ${prop("m", k)} = ${v};`);
    // As in @bufbuild: unknown fields replace closed-enum values stored as unknown.
    lines.push("if (unk !== undefined) m.$unknown = unk; else if (unkE !== undefined) m.$unknown = unkE;");
    lines.push("return m;");
    return lines.join("\n");
  }

  #case(tag: number, code: string): void {
    this.#cases.push(`  case ${tag}: { ${code} break; }`);
  }

  #unit(f: DescField): string {
    return this.#refs.ref(this.#unitOf(f.message!), "u");
  }

  /** Code reading a (length-delimited or group) message of field `f` into `target`. */
  #readMessage(f: DescField, target: string): string {
    const u = this.#unit(f);
    if (isDelimited(f)) {
      return `{ const g = R.groupEnd(buf, pos, end, ${f.number}, ${RECURSION_LIMIT} - depth); n = S.p; ${target} = ${u}.dec(buf, pos, n, depth + 1); pos = g; }`;
    }
    return `${length("end")} ${target} = ${u}.dec(buf, pos, pos + n, depth + 1); pos += n;`;
  }

  #messageTag(f: DescField): number {
    return tagOf(f.number, isDelimited(f) ? WT_SGROUP : WT_LEN);
  }

  /** Test that int32 `x` is a value of the closed enum of `f`. */
  #knownEnum(f: DescField): string {
    const values = [...new Set(f.enum!.values.map((v) => v.number))];
    if (values.length <= 8) return `(${values.map((v) => `x === ${v}`).join(" || ")})`;
    return `${this.#refs.ref(new Set(values), "E")}.has(x)`;
  }

  /** Code storing a closed-enum value that is not in the enum as an unknown field. */
  #unknownEnum(f: DescField): string {
    return `(unkE ??= []).push({ no: ${f.number}, wireType: ${WT_VARINT}, data: R.int32Bytes(x) });`;
  }

  #field(f: DescField, i: number): void {
    const local = `f${i}`;
    const strict = f.utf8Validation;
    if (f.oneof !== undefined) {
      const j = this.#desc.oneofs.indexOf(f.oneof);
      const setCase = `c${j} = ${lit(f.localName)};`;
      if (f.fieldKind === "message") {
        this.#case(
          this.#messageTag(f),
          `if (c${j} === ${lit(f.localName)}) throw BAIL; ${this.#readMessage(f, `o${j}`)} ${setCase}`,
        );
      } else if (f.fieldKind === "enum") {
        const read = readScalar(ScalarType.INT32, "x", "end", false, false);
        const store = `${setCase} o${j} = x;`;
        this.#case(
          tagOf(f.number, WT_VARINT),
          f.enum.open
            ? `${read} ${store}`
            : `${read} if (${this.#knownEnum(f)}) { ${store} } else ${this.#unknownEnum(f)}`,
        );
      } else if (f.fieldKind === "scalar") {
        const read = readScalar(f.scalar, "x", "end", strict, f.longAsString);
        this.#case(tagOf(f.number, wireTypeOf(f.scalar)), `${read} ${setCase} o${j} = x;`);
      }
      return;
    }
    switch (f.fieldKind) {
      case "message": {
        this.#locals.push(`${local} = undefined`);
        const once = `if (${local} !== undefined) throw BAIL;`;
        if (isUnwrappedField(f)) {
          // Stored as the wrapper's bare value.
          this.#case(this.#messageTag(f), `${once} ${this.#readMessage(f, "x")} ${local} = x.value;`);
        } else {
          this.#case(this.#messageTag(f), `${once} ${this.#readMessage(f, local)}`);
        }
        return;
      }
      case "enum": {
        this.#locals.push(`${local} = ${this.#initial(f)}`);
        const read = readScalar(ScalarType.INT32, "x", "end", false, false);
        this.#case(
          tagOf(f.number, WT_VARINT),
          f.enum.open
            ? `${read} ${local} = x;`
            : `${read} if (${this.#knownEnum(f)}) ${local} = x; else ${this.#unknownEnum(f)}`,
        );
        return;
      }
      case "scalar":
        this.#locals.push(`${local} = ${this.#initial(f)}`);
        this.#case(
          tagOf(f.number, wireTypeOf(f.scalar)),
          readScalar(f.scalar, local, "end", strict, f.longAsString),
        );
        return;
      case "list":
        this.#locals.push(`${local} = []`);
        this.#list(f, local);
        return;
      case "map":
        this.#locals.push(`${local} = {}`);
        this.#map(f, local);
        return;
    }
  }

  /** Initial local of a singular scalar/enum: undefined if explicit, else the zero `create()` stores. */
  #initial(f: DescField): string {
    if (isExplicit(f)) return "undefined";
    const zero = this.#shape.sample[f.localName];
    switch (typeof zero) {
      case "string":
        return lit(zero);
      case "number":
        return Object.is(zero, -0) ? "-0" : String(zero);
      case "boolean":
        return String(zero);
      case "bigint":
        return `${zero}n`;
      default:
        // Shared instance (bytes), as create() shares it.
        return this.#refs.ref(zero, "z");
    }
  }

  #list(f: DescField & { fieldKind: "list" }, local: string): void {
    if (f.listKind === "message") {
      this.#case(this.#messageTag(f), `${this.#readMessage(f, "x")} ${local}.push(x);`);
      return;
    }
    const t = f.listKind === "enum" ? ScalarType.INT32 : f.scalar;
    const longAsString = f.listKind === "scalar" && f.longAsString;
    const one = readScalar(t, "x", "end", f.utf8Validation, longAsString);
    this.#case(tagOf(f.number, wireTypeOf(t)), `${one} ${local}.push(x);`);
    if (wireTypeOf(t) !== WT_LEN) {
      const packed = readScalar(t, "x", "e2", false, longAsString);
      this.#case(
        tagOf(f.number, WT_LEN),
        `${length("end")} const e2 = pos + n; while (pos < e2) { ${packed} ${local}.push(x); }`,
      );
    }
  }

  #map(f: DescField & { fieldKind: "map" }, local: string): void {
    const strict = f.utf8Validation;
    const keyT = f.mapKey;
    const readKey = readScalar(keyT, "k", "e2", strict, false);
    let readVal: string;
    let valDefault: string;
    let valTag: number;
    if (f.mapKind === "message") {
      const u = this.#unit(f);
      valTag = tagOf(2, WT_LEN);
      readVal = `if (v !== undefined) throw BAIL; ${length("e2")} v = ${u}.dec(buf, pos, pos + n, depth + 1); pos += n;`;
      valDefault = `if (v === undefined) v = ${u}.dec(buf, 0, 0, depth + 1);`;
    } else {
      const t = f.mapKind === "enum" ? ScalarType.INT32 : f.scalar;
      valTag = tagOf(2, wireTypeOf(t));
      readVal = readScalar(t, "v", "e2", strict, false);
      valDefault = `if (v === undefined) v = ${f.mapKind === "enum" ? String(f.enum.values[0]!.number) : zeroLiteral(t)};`;
    }
    const set = keyT === ScalarType.STRING ? `R.setOwn(${local}, k, v);` : `${local}[k] = v;`;
    this.#case(
      tagOf(f.number, WT_LEN),
      `${length("end")}
    const e2 = pos + n;
    let k = ${zeroLiteral(keyT)}, v;
    while (pos < e2) {
      t = buf[pos++];
      if (t > 127) { t = R.tag(buf, pos - 1, e2); pos = S.p; }
      if (t === ${tagOf(1, wireTypeOf(keyT))}) { ${readKey} }
      else if (t === ${valTag}) { ${readVal} }
      else {
        const no = t >>> 3;
        if (no <= 2 || (t & 7) > 5) throw BAIL;
        pos = R.skip(buf, pos, e2, t & 7, no, ${RECURSION_LIMIT} - depth);
      }
    }
    ${valDefault}
    ${set}`,
    );
  }
}
