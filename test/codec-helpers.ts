/**
 * Test helpers for the codec: fast-check arbitraries built generically from message
 * descriptors, a strict structural comparison, and the list of test schemas.
 */
import assert from "node:assert/strict";
import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import fc from "fast-check";
import { file_peer } from "../examples/gen/peer_pb.js";
import { file_codec_ed } from "./gen/codec_ed_pb.js";
import { file_codec_p2 } from "./gen/codec_p2_pb.js";
import { file_codec_p3 } from "./gen/codec_p3_pb.js";

/** Every message type of the test files (nested ones included), plus those they reference. */
export function testSchemas(): DescMessage[] {
  const out = new Set<DescMessage>();
  const add = (d: DescMessage): void => {
    if (out.has(d)) return;
    out.add(d);
    for (const n of d.nestedMessages) add(n);
    for (const f of d.fields) if (f.message !== undefined) add(f.message);
  };
  for (const file of [file_peer, file_codec_p2, file_codec_p3, file_codec_ed]) {
    for (const m of file.messages) add(m);
  }
  return [...out];
}

/** Options for {@link arbInit}. */
export interface ArbOptions {
  /** Always set `required` fields (else they are sometimes missing). */
  requiredSet: boolean;
}

type Init = Record<string, unknown>;

const INT32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const UINT32 = fc.integer({ min: 0, max: 0xffffffff });
const INT64 = fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n);
const UINT64 = fc.bigInt(0n, 2n ** 64n - 1n);
const STRING = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.string({ unit: "grapheme", minLength: 40, maxLength: 200 }),
  fc.string({ minLength: 100, maxLength: 300 }),
);

/** Arbitrary value of a scalar type, in @bufbuild's local representation. */
export function arbScalar(t: ScalarType, longAsString = false): fc.Arbitrary<unknown> {
  const long = (a: fc.Arbitrary<bigint>): fc.Arbitrary<unknown> =>
    longAsString
      ? a.map((v) => String(v))
      : fc.oneof(
          a,
          a.map((v) => BigInt.asIntN(20, v)),
        );
  switch (t) {
    case ScalarType.DOUBLE:
      return fc.double();
    case ScalarType.FLOAT:
      return fc.float();
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return fc.oneof(INT32, fc.integer({ min: -200, max: 200 }));
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.oneof(UINT32, fc.integer({ min: 0, max: 300 }));
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return long(INT64);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return longAsString ? UINT64.map((v) => String(v)) : fc.oneof(UINT64, fc.bigInt(0n, 300n));
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.STRING:
      return STRING;
    case ScalarType.BYTES:
      return fc.oneof(fc.uint8Array({ maxLength: 20 }), fc.uint8Array({ minLength: 120, maxLength: 300 }));
  }
}

/** Object key of a map key scalar (map keys are always strings locally). */
function arbMapKey(t: ScalarType): fc.Arbitrary<string> {
  switch (t) {
    case ScalarType.BOOL:
      return fc.constantFrom("true", "false");
    case ScalarType.STRING:
      return fc.oneof(fc.string({ maxLength: 8 }), fc.constant("__proto__"));
    default:
      return arbScalar(t).map((v) => String(v));
  }
}

function arbEnum(f: DescField, closedKnownOnly: boolean): fc.Arbitrary<number> {
  const known = fc.constantFrom(...f.enum!.values.map((v) => v.number));
  return f.enum!.open || !closedKnownOnly ? fc.oneof(known, INT32) : known;
}

const WRAPPERS = new Set(
  ["Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes"].map(
    (n) => `google.protobuf.${n}Value`,
  ),
);

const JSON_VALUE: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.string({ maxLength: 5 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 4 }), tie("value"), { maxKeys: 3 }),
  ),
})).value;

const STRUCT = fc.dictionary(fc.string({ maxLength: 4 }), JSON_VALUE, { maxKeys: 3 });

/**
 * Arbitrary init object (as accepted by `create(desc, init)`) for a message type;
 * message-typed fields recurse up to `depth` levels.
 */
export function arbInit(desc: DescMessage, depth: number, opts: ArbOptions): fc.Arbitrary<Init> {
  const parts: fc.Arbitrary<[string, unknown]>[] = [];
  const isStruct = (f: DescField): boolean =>
    f.message?.typeName === "google.protobuf.Struct" && desc.typeName !== "google.protobuf.Value";
  const message = (f: DescField): fc.Arbitrary<unknown> =>
    isStruct(f) ? STRUCT : arbInit(f.message!, depth - 1, opts);
  for (const f of desc.fields) {
    if (f.oneof !== undefined) continue;
    let value: fc.Arbitrary<unknown>;
    switch (f.fieldKind) {
      case "scalar":
        value = arbScalar(f.scalar, f.longAsString);
        break;
      case "enum":
        value = arbEnum(f, true);
        break;
      case "message": {
        if (depth <= 0) continue;
        // Singular wrapper fields hold the bare value.
        const w = f.message.fields[0];
        value =
          WRAPPERS.has(f.message.typeName) && w?.fieldKind === "scalar" ? arbScalar(w.scalar) : message(f);
        break;
      }
      case "list": {
        if (f.listKind === "message" && depth <= 0) continue;
        const item =
          f.listKind === "message"
            ? message(f)
            : f.listKind === "enum"
              ? arbEnum(f, false)
              : arbScalar(f.scalar, f.longAsString);
        value = fc.array(item, { maxLength: 4 });
        break;
      }
      case "map": {
        if (f.mapKind === "message" && depth <= 0) continue;
        const val =
          f.mapKind === "message"
            ? message(f)
            : f.mapKind === "enum"
              ? arbEnum(f, false)
              : arbScalar(f.scalar);
        value = fc.dictionary(arbMapKey(f.mapKey), val, { maxKeys: 3 });
        break;
      }
    }
    const always = f.fieldKind === "list" || f.fieldKind === "map" || (f.presence === 3 && opts.requiredSet);
    parts.push(
      always
        ? value.map((v): [string, unknown] => [f.localName, v])
        : fc.option(value, { nil: undefined, freq: 2 }).map((v): [string, unknown] => [f.localName, v]),
    );
  }
  for (const o of desc.oneofs) {
    const cases: fc.Arbitrary<unknown>[] = [fc.constant({ case: undefined })];
    for (const f of o.fields) {
      if (f.fieldKind === "message" && depth <= 0) continue;
      const v =
        f.fieldKind === "message"
          ? message(f)
          : f.fieldKind === "enum"
            ? arbEnum(f, true)
            : arbScalar(f.scalar!);
      cases.push(v.map((value) => ({ case: f.localName, value })));
    }
    parts.push(fc.oneof(...cases).map((v): [string, unknown] => [o.localName, v]));
  }
  return fc.tuple(...parts).map((entries) => {
    const init: Init = {};
    for (const [k, v] of entries) if (v !== undefined) init[k] = v;
    return init;
  });
}

/**
 * Assert that two values are structurally identical: same prototypes, same own keys,
 * numbers equal by `Object.is` (NaN equals NaN, -0 differs from 0), bytes by content.
 */
export function assertSame(a: unknown, b: unknown, path = "$"): void {
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) {
    assert.ok(Object.is(a, b), `${path}: ${String(a)} !== ${String(b)}`);
    return;
  }
  assert.equal(Object.getPrototypeOf(a), Object.getPrototypeOf(b), `${path}: prototypes differ`);
  if (a instanceof Uint8Array) {
    assert.ok(b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b)), `${path}: bytes differ`);
    return;
  }
  if (Array.isArray(a)) {
    assert.ok(Array.isArray(b) && a.length === b.length, `${path}: array lengths differ`);
    for (let i = 0; i < a.length; i++) assertSame(a[i], b[i], `${path}[${i}]`);
    return;
  }
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  assert.deepEqual(ka, kb, `${path}: own keys differ`);
  for (const k of ka) {
    assertSame((a as Init)[k], (b as Init)[k], `${path}.${k}`);
  }
}
