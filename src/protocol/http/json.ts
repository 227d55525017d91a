/**
 * brpc's json2pb (`src/json2pb/json_to_pb.cpp`, `pb_to_json.cpp`) for HTTP bodies of
 * protobuf services: proto field names, unknown fields ignored, enums by name (or
 * number on input), 64-bit integers as JSON numbers (strings accepted on input),
 * bytes as base64, maps with string keys as objects, brpc's error texts.
 *
 * Not the canonical protobuf JSON mapping (that one is `application/proto-json`):
 * well-known types are plain messages here, as in brpc.
 */
import { create, type DescField, type DescMessage, isMessage, ScalarType } from "@bufbuild/protobuf";
import { type ReflectList, type ReflectMap, type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import { PRESENCE_IMPLICIT, PRESENCE_REQUIRED } from "../../codec/desc-info.js";

/** brpc's `-json2pb_max_recursion_depth`. */
const MAX_DEPTH = 100;

/** json2pb failed: `message` is brpc's error text (without the "Fail to parse ..." head). */
export class Json2PbError extends Error {}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** brpc's `decode_name`: "_Z046_" in a proto field name stands for the character 46 ('.'). */
function jsonName(f: DescField): string {
  if (!f.name.includes("_Z")) return f.name;
  return f.name.replace(/_Z(\d{3})_/g, (m, d: string) => {
    const n = Number(d);
    return n < 256 ? String.fromCharCode(n) : m;
  });
}

function fullName(f: DescField): string {
  return `${f.parent.typeName}.${f.name}`;
}

function isRequired(f: DescField): boolean {
  return f.presence === PRESENCE_REQUIRED;
}

/** rapidjson's value printing in brpc's "Invalid value" texts. */
function describeValue(v: Json): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(6);
  if (typeof v === "string") return `"${v}"`;
  return Array.isArray(v) ? "array" : "object";
}

class Errors {
  text = "";
  add(s: string): void {
    this.text = this.text === "" ? s : `${this.text}, ${s}`;
  }
}

/**
 * brpc's `value_invalid`: records the error; returns true (skip the value, go on) for
 * optional fields, false (fail) for required and repeated ones.
 */
function invalid(f: DescField, type: string, v: Json, err: Errors): boolean {
  const optional = !isRequired(f) && f.fieldKind !== "list" && f.fieldKind !== "map";
  err.add(
    `Invalid value \`${describeValue(v)}' for ${optional ? "optional " : ""}field \`${fullName(f)}' which SHOULD be ${type}`,
  );
  return optional;
}

const INT64_RE = /^[ \t\n\r\f\v]*[+-]?\d+$/;
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Sentinel: the value was invalid for an optional field and is skipped. */
const SKIP = Symbol("skip");
/** Sentinel: conversion failed (error recorded). */
const FAIL = Symbol("fail");
type Conv = unknown | typeof SKIP | typeof FAIL;

function bad(f: DescField, type: string, v: Json, err: Errors): Conv {
  return invalid(f, type, v, err) ? SKIP : FAIL;
}

function int64Of(f: DescField, v: Json, unsigned: boolean, err: Errors): Conv {
  const type = unsigned ? "UINT64" : "INT64";
  let n: bigint | undefined;
  if (typeof v === "number" && Number.isInteger(v)) n = BigInt(v);
  else if (typeof v === "string" && INT64_RE.test(v)) n = BigInt(v.trim());
  if (n === undefined) return bad(f, type, v, err);
  const ok = unsigned ? n >= 0n && n <= 0xffffffffffffffffn : n >= -(2n ** 63n) && n < 2n ** 63n;
  return ok ? n : bad(f, type, v, err);
}

function floatOf(f: DescField, v: Json, type: "float" | "double", err: Errors): Conv {
  let n: number | undefined;
  if (typeof v === "number") n = v;
  else if (typeof v === "string") {
    const s = v.toLowerCase();
    if (s === "nan") n = Number.NaN;
    else if (s === "infinity") n = Number.POSITIVE_INFINITY;
    else if (s === "-infinity") n = Number.NEGATIVE_INFINITY;
  }
  if (n === undefined) return bad(f, type, v, err);
  return type === "float" ? Math.fround(n) : n;
}

/** Convert one JSON value of a scalar or enum element of `f` (`scalar`/`enumDesc` from the field). */
function elementOf(f: DescField, v: Json, err: Errors, depth: number): Conv {
  if (f.enum !== undefined) {
    const e =
      typeof v === "number" && Number.isInteger(v)
        ? f.enum.values.find((x) => x.number === v)
        : typeof v === "string"
          ? f.enum.values.find((x) => x.name === v)
          : undefined;
    return e === undefined ? bad(f, "enum", v, err) : e.number;
  }
  if (f.message !== undefined) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      if (f.fieldKind === "list") return bad(f, "message", v, err);
      err.add(`The input is not a json object [${f.message.name}]`);
      return FAIL;
    }
    const sub = reflect(f.message);
    return readObject(sub, v, err, depth + 1) ? sub : FAIL;
  }
  switch (f.scalar as ScalarType) {
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return typeof v === "number" && Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff
        ? v
        : bad(f, "INT32", v, err);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff
        ? v
        : bad(f, "UINT32", v, err);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return int64Of(f, v, false, err);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return int64Of(f, v, true, err);
    case ScalarType.BOOL:
      return typeof v === "boolean" ? v : bad(f, "BOOL", v, err);
    case ScalarType.FLOAT:
      return floatOf(f, v, "float", err);
    case ScalarType.DOUBLE:
      return floatOf(f, v, "double", err);
    case ScalarType.STRING:
      return typeof v === "string" ? v : bad(f, "string", v, err);
    case ScalarType.BYTES: {
      if (typeof v !== "string") return bad(f, "string", v, err);
      if (!B64_RE.test(v)) {
        err.add(`Fail to decode base64 string=${v} [${f.parent.name}]`);
        return FAIL;
      }
      return new Uint8Array(Buffer.from(v, "base64"));
    }
  }
  return FAIL;
}

/** Map key text -> key value of the map's key type (string keys only reach here as JSON objects). */
function mapKeyOf(keyType: ScalarType, k: string): unknown {
  switch (keyType) {
    case ScalarType.BOOL:
      return k === "true";
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return BigInt(k);
    case ScalarType.STRING:
      return k;
    default:
      return Number(k);
  }
}

function readField(r: ReflectMessage, f: DescField, v: Json, err: Errors, depth: number): boolean {
  if (v === null) {
    if (isRequired(f)) {
      err.add(`Missing required field: ${fullName(f)}`);
      return false;
    }
    return true;
  }
  if (f.fieldKind === "map") {
    if (f.mapKey === ScalarType.STRING && typeof v === "object" && !Array.isArray(v)) {
      const map = r.get(f) as ReflectMap;
      for (const [k, item] of Object.entries(v)) {
        const val = elementOf(f, item, err, depth);
        if (val === FAIL) return false;
        if (val !== SKIP) map.set(mapKeyOf(f.mapKey, k), val);
      }
      return true;
    }
    // brpc sees other maps as repeated entry messages: [{"key": k, "value": v}, ...].
    if (!Array.isArray(v)) {
      err.add(`Invalid value for repeated field: ${fullName(f)}`);
      return false;
    }
    const map = r.get(f) as ReflectMap;
    for (const item of v) {
      if (item === null || typeof item !== "object" || Array.isArray(item)) {
        if (!invalid(f, "message", item, err)) return false;
        continue;
      }
      const key = item.key;
      if (key === undefined || key === null) continue;
      const val =
        item.value === undefined || item.value === null ? undefined : elementOf(f, item.value, err, depth);
      if (val === FAIL) return false;
      try {
        const kv = typeof key === "string" ? mapKeyOf(f.mapKey, key) : key;
        if (val !== SKIP) map.set(kv, val ?? defaultOf(f));
      } catch {
        if (!invalid(f, "message", item, err)) return false;
      }
    }
    return true;
  }
  if (f.fieldKind === "list") {
    if (!Array.isArray(v)) {
      err.add(`Invalid value for repeated field: ${fullName(f)}`);
      return false;
    }
    const list = r.get(f) as ReflectList;
    for (const item of v) {
      const val = elementOf(f, item, err, depth);
      if (val === FAIL) return false;
      if (val !== SKIP) list.add(val);
    }
    return true;
  }
  const val = elementOf(f, v, err, depth);
  if (val === FAIL) return false;
  if (val !== SKIP) r.set(f, val);
  return true;
}

function defaultOf(f: DescField): unknown {
  if (f.message !== undefined) return reflect(f.message);
  if (f.enum !== undefined) return f.enum.values[0]?.number ?? 0;
  switch (f.scalar) {
    case ScalarType.BOOL:
      return false;
    case ScalarType.STRING:
      return "";
    case ScalarType.BYTES:
      return new Uint8Array(0);
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return 0n;
    default:
      return 0;
  }
}

function readObject(r: ReflectMessage, v: { [k: string]: Json }, err: Errors, depth: number): boolean {
  if (depth > MAX_DEPTH) {
    err.add(`Exceeded maximum recursion depth [${r.desc.name}]`);
    return false;
  }
  for (const f of r.desc.fields) {
    const name = jsonName(f);
    if (!Object.hasOwn(v, name)) {
      if (isRequired(f)) {
        err.add(`Missing required field: ${fullName(f)}`);
        return false;
      }
      continue;
    }
    if (!readField(r, f, v[name] as Json, err, depth)) return false;
  }
  return true;
}

// ---- fast path for flat messages ----------------------------------------------------
//
// Most RPC messages are a handful of singular strings, booleans and 32-bit numbers. For
// those, JSON <-> message goes straight through the message's properties instead of the
// reflection API. Anything the fast path is not sure about (a value of an unexpected
// type, null, a missing required field) is handed to the general code below, so results
// and error texts are the same either way.

/** How a flat field's value is checked and printed. */
const Flat = { STRING: 0, BOOL: 1, INT32: 2, UINT32: 3, DOUBLE: 4 } as const;
type Flat = (typeof Flat)[keyof typeof Flat];

interface FlatField {
  readonly field: DescField;
  /** JSON member name. */
  readonly name: string;
  /** `"name":` as printed. */
  readonly key: string;
  readonly local: string;
  readonly kind: Flat;
  readonly required: boolean;
  /** Presence is implicit (proto3 singular): set means not the zero value. */
  readonly implicit: boolean;
}

/** Flat plans by message type; null for types the fast path does not handle. */
const flatPlans = new WeakMap<DescMessage, readonly FlatField[] | null>();

function flatKindOf(f: DescField): Flat | undefined {
  if (f.fieldKind !== "scalar" || f.oneof !== undefined) return undefined;
  switch (f.scalar) {
    case ScalarType.STRING:
      return Flat.STRING;
    case ScalarType.BOOL:
      return Flat.BOOL;
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return Flat.INT32;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return Flat.UINT32;
    case ScalarType.DOUBLE:
      return Flat.DOUBLE;
    default:
      return undefined;
  }
}

function flatPlan(desc: DescMessage): readonly FlatField[] | null {
  let plan = flatPlans.get(desc);
  if (plan !== undefined) return plan;
  const fields: FlatField[] = [];
  for (const f of desc.fields) {
    const kind = flatKindOf(f);
    const name = jsonName(f);
    if (kind === undefined || name !== f.name || !/^[A-Za-z0-9_]+$/.test(name)) {
      flatPlans.set(desc, null);
      return null;
    }
    fields.push({
      field: f,
      name,
      key: `"${name}":`,
      local: f.localName,
      kind,
      required: isRequired(f),
      implicit: f.presence === PRESENCE_IMPLICIT,
    });
  }
  plan = fields;
  flatPlans.set(desc, plan);
  return plan;
}

/** True if `v` is a value of `kind` that the general path would take as is. */
function flatValueOk(kind: Flat, v: unknown): boolean {
  switch (kind) {
    case Flat.STRING:
      return typeof v === "string";
    case Flat.BOOL:
      return typeof v === "boolean";
    case Flat.INT32:
      return typeof v === "number" && Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff;
    case Flat.UINT32:
      return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
    default:
      return typeof v === "number" && Number.isFinite(v);
  }
}

/** The message of JSON object `v` through `plan`, or undefined to take the general path. */
function flatRead(desc: DescMessage, plan: readonly FlatField[], v: { [k: string]: Json }): unknown {
  const msg = create(desc) as unknown as Record<string, unknown>;
  for (let i = 0; i < plan.length; i++) {
    const p = plan[i]!;
    if (!Object.hasOwn(v, p.name)) {
      if (p.required) return undefined;
      continue;
    }
    const x = v[p.name];
    if (!flatValueOk(p.kind, x)) return undefined;
    msg[p.local] = x;
  }
  return msg;
}

const FLAT_FALLBACK = Symbol("fallback");

/** `msg` (a message of `desc` or an init object) printed through `plan`, or FLAT_FALLBACK. */
function flatWrite(plan: readonly FlatField[], msg: unknown, isMsg: boolean): string | typeof FLAT_FALLBACK {
  const m = (msg ?? {}) as Record<string, unknown>;
  let out = "{";
  for (let i = 0; i < plan.length; i++) {
    const p = plan[i]!;
    const v = m[p.local];
    // Set: an own, defined property of a message (explicit presence), a non-null init
    // value (what create() would copy), and for implicit presence not the zero value.
    let set = isMsg ? v !== undefined && Object.hasOwn(m, p.local) : v !== undefined && v !== null;
    if (set && !flatValueOk(p.kind, v)) return FLAT_FALLBACK;
    if (set && p.implicit) set = v !== "" && v !== 0 && v !== false;
    if (!set) {
      if (p.required) return FLAT_FALLBACK;
      continue;
    }
    if (out.length > 1) out += ",";
    out += p.key;
    switch (p.kind) {
      case Flat.STRING:
        out += JSON.stringify(v);
        break;
      case Flat.BOOL:
        out += v ? "true" : "false";
        break;
      case Flat.DOUBLE:
        out += writeNumber(v as number);
        break;
      default:
        out += String(v);
    }
  }
  return `${out}}`;
}

/**
 * Parse a JSON body into a message of `desc` as brpc's `JsonToProtoMessage` does.
 * Throws {@link Json2PbError} with brpc's text ("Invalid json: ... [EchoRequest]",
 * "Missing required field: example.EchoRequest.message", ...).
 */
export function jsonToMessage(desc: DescMessage, text: string): unknown {
  let v: Json;
  try {
    v = JSON.parse(text) as Json;
  } catch (e) {
    const reason = (e as Error).message.replace(/\.?$/, ".");
    throw new Json2PbError(`Invalid json: ${reason} [${desc.name}]`);
  }
  const err = new Errors();
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new Json2PbError(`The input is not a json object [${desc.name}]`);
  }
  const plan = flatPlan(desc);
  if (plan !== null) {
    const fast = flatRead(desc, plan, v);
    if (fast !== undefined) return fast;
  }
  const r = reflect(desc);
  if (!readObject(r, v, err, 0)) throw new Json2PbError(err.text);
  return r.message;
}

// ---- pb -> json -------------------------------------------------------------

function b64(u: Uint8Array): string {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString("base64");
}

function writeNumber(n: number): string {
  if (Number.isFinite(n)) return JSON.stringify(n);
  return Number.isNaN(n) ? '"NaN"' : n > 0 ? '"Infinity"' : '"-Infinity"';
}

function writeElement(f: DescField, v: unknown, depth: number): string {
  if (f.enum !== undefined) {
    const e = f.enum.values.find((x) => x.number === v);
    return e === undefined ? String(v) : JSON.stringify(e.name);
  }
  if (f.message !== undefined) return writeObject(v as ReflectMessage, depth + 1);
  switch (f.scalar as ScalarType) {
    case ScalarType.STRING:
      return JSON.stringify(v);
    case ScalarType.BYTES:
      return JSON.stringify(b64(v as Uint8Array));
    case ScalarType.BOOL:
      return v ? "true" : "false";
    case ScalarType.FLOAT:
      return writeNumber(Math.fround(v as number));
    case ScalarType.DOUBLE:
      return writeNumber(v as number);
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      // rapidjson writes 64-bit integers as plain numbers.
      return String(v);
    default:
      return String(v);
  }
}

function writeObject(r: ReflectMessage, depth: number): string {
  if (depth > MAX_DEPTH) throw new Json2PbError("Exceeded maximum recursion depth");
  let out = "{";
  let first = true;
  const key = (f: DescField) => {
    out += `${first ? "" : ","}${JSON.stringify(jsonName(f))}:`;
    first = false;
  };
  const maps: DescField[] = [];
  for (const f of r.desc.fields) {
    if (f.fieldKind === "map") {
      if (f.mapKey === ScalarType.STRING) {
        maps.push(f);
        continue;
      }
      const m = r.get(f) as ReflectMap;
      if (m.size === 0) continue;
      key(f);
      const items: string[] = [];
      for (const [k, v] of m) {
        const kf = typeof k === "bigint" || typeof k === "number" ? String(k) : JSON.stringify(String(k));
        items.push(`{"key":${kf},"value":${writeElement(f, v, depth)}}`);
      }
      out += `[${items.join(",")}]`;
      continue;
    }
    if (f.fieldKind === "list") {
      const list = r.get(f) as ReflectList;
      if (list.size === 0) continue;
      key(f);
      const items: string[] = [];
      for (const v of list) items.push(writeElement(f, v, depth));
      out += `[${items.join(",")}]`;
      continue;
    }
    if (!r.isSet(f)) {
      if (isRequired(f)) throw new Json2PbError(`Missing required field: ${fullName(f)}`);
      continue;
    }
    key(f);
    out += writeElement(f, r.get(f), depth);
  }
  // brpc prints (string-keyed) map fields after all the others.
  for (const f of maps) {
    key(f);
    const m = r.get(f) as ReflectMap;
    const items: string[] = [];
    for (const [k, v] of m) items.push(`${JSON.stringify(String(k))}:${writeElement(f, v, depth)}`);
    out += `{${items.join(",")}}`;
  }
  return `${out}}`;
}

/**
 * Print `msg` (a message of `desc` or an init object) as brpc's `ProtoMessageToJson` does.
 * Throws {@link Json2PbError} ("Missing required field: ...").
 */
export function messageToJson(desc: DescMessage, msg: unknown): string {
  const isMsg = isMessage(msg, desc);
  const plan = flatPlan(desc);
  if (plan !== null) {
    const fast = flatWrite(plan, msg, isMsg);
    if (fast !== FLAT_FALLBACK) return fast;
  }
  const r = isMsg
    ? reflect(desc, msg)
    : reflect(desc, createFrom(desc, msg as Record<string, unknown> | undefined));
  return writeObject(r, 0);
}

function createFrom(desc: DescMessage, init: Record<string, unknown> | undefined) {
  return create(desc, (init ?? {}) as never);
}
