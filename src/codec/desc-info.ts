/**
 * Facts about @bufbuild/protobuf v2 descriptors that both code generators need:
 * wire types, the local (JS) representation @bufbuild uses for a field, and the
 * features this codec leaves to @bufbuild.
 */
import { create, type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";

/** Wire type: varint. */
export const WT_VARINT = 0;
/** Wire type: 64-bit little-endian. */
export const WT_I64 = 1;
/** Wire type: length-delimited. */
export const WT_LEN = 2;
/** Wire type: start of a group. */
export const WT_SGROUP = 3;
/** Wire type: end of a group. */
export const WT_EGROUP = 4;
/** Wire type: 32-bit little-endian. */
export const WT_I32 = 5;

/** `FieldPresence.IMPLICIT` from descriptor.proto. */
export const PRESENCE_IMPLICIT = 2;
/** `FieldPresence.LEGACY_REQUIRED` from descriptor.proto. */
export const PRESENCE_REQUIRED = 3;

/** Message nesting depth at which @bufbuild's `fromBinary` gives up (its default `recursionLimit`). */
export const RECURSION_LIMIT = 100;

/** Wire type of a scalar (enums use `ScalarType.INT32`). */
export function wireTypeOf(t: ScalarType): number {
  switch (t) {
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WT_I64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WT_I32;
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WT_LEN;
    default:
      return WT_VARINT;
  }
}

/** True for the five 64-bit integer scalar types. */
export function is64(t: ScalarType): boolean {
  return (
    t === ScalarType.INT64 ||
    t === ScalarType.UINT64 ||
    t === ScalarType.SINT64 ||
    t === ScalarType.FIXED64 ||
    t === ScalarType.SFIXED64
  );
}

/** A field tag as the uint32 the wire carries. */
export function tagOf(fieldNo: number, wireType: number): number {
  return ((fieldNo << 3) | wireType) >>> 0;
}

const wrapperNames = new Set([
  "google.protobuf.DoubleValue",
  "google.protobuf.FloatValue",
  "google.protobuf.Int64Value",
  "google.protobuf.UInt64Value",
  "google.protobuf.Int32Value",
  "google.protobuf.UInt32Value",
  "google.protobuf.BoolValue",
  "google.protobuf.StringValue",
  "google.protobuf.BytesValue",
]);

/** A google/protobuf/wrappers.proto message type (same test as @bufbuild's `isWrapperDesc`). */
export function isWrapperDesc(desc: DescMessage): boolean {
  const f = desc.fields[0];
  return (
    wrapperNames.has(desc.typeName) &&
    f !== undefined &&
    f.fieldKind === "scalar" &&
    f.name === "value" &&
    f.number === 1
  );
}

/** A singular wrapper field outside a oneof: @bufbuild stores the bare scalar, not the message. */
export function isUnwrappedField(f: DescField): boolean {
  return f.fieldKind === "message" && f.oneof === undefined && isWrapperDesc(f.message);
}

/** A field whose values @bufbuild stores as JSON (google.protobuf.Struct outside google.protobuf.Value). */
export function usesJsonLocal(f: DescField): boolean {
  return f.message?.typeName === "google.protobuf.Struct" && f.parent.typeName !== "google.protobuf.Value";
}

/** Why the compiler leaves `desc` to @bufbuild's reflection codec, or undefined if it handles it. */
export function fallbackReason(desc: DescMessage): string | undefined {
  for (const f of desc.fields) {
    if (usesJsonLocal(f)) return `${f} holds google.protobuf.Struct as JSON`;
  }
  return undefined;
}

/** Fields in wire order (by number), as `toBinary` writes them. */
export function sortedFields(desc: DescMessage): DescField[] {
  return desc.fields.concat().sort((a, b) => a.number - b.number);
}

/**
 * What `create(desc)` produces, to copy from exactly: the prototype holding proto2-style
 * defaults (undefined if plain objects are used) and a sample message whose own
 * properties are the zero values of implicit-presence fields (shared instances, as
 * `create()` shares them).
 */
export function createShape(desc: DescMessage): {
  proto: Record<string, unknown> | undefined;
  sample: Record<string, unknown>;
} {
  const sample = create(desc) as unknown as Record<string, unknown>;
  const p = Object.getPrototypeOf(sample) as Record<string, unknown>;
  return { proto: p === Object.prototype ? undefined : p, sample };
}

/** Does the field carry its unset/set state in an own property (explicit presence, not in a oneof)? */
export function isExplicit(f: DescField): boolean {
  return (
    f.oneof === undefined &&
    f.fieldKind !== "list" &&
    f.fieldKind !== "map" &&
    f.presence !== PRESENCE_IMPLICIT
  );
}

/** Is this message field (or message list) written with group encoding (proto2 groups, editions DELIMITED)? */
export function isDelimited(f: DescField): boolean {
  return (f as { delimitedEncoding?: boolean }).delimitedEncoding === true;
}
