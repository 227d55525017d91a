/**
 * The compiled functions of one message type, and the cache that builds them.
 */
import { create, type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Writer } from "../io/writer.js";
import { compileDecoder } from "./compile-decoder.js";
import { compileEncoder } from "./compile-encoder.js";
import { compileRequired, walkRequired } from "./compile-required.js";
import { fallbackReason, RECURSION_LIMIT } from "./desc-info.js";

/** Appends the fields of `msg` (no tag, no length prefix) to `w`. */
export type EncodeFn = (msg: unknown, w: Writer) => void;
/** Decodes the fields in `buf[pos, end)` into a new message; `depth` is 1 for the outermost message. */
export type DecodeFn = (buf: Uint8Array, pos: number, end: number, depth: number) => unknown;
/** Path of the first unset required field, or undefined. */
export type RequiredFn = (msg: unknown) => string | undefined;

/**
 * Per-type functions. Generated code calls children through their `Unit`, so a type
 * can refer to itself or to types compiled after it.
 */
export class Unit {
  enc: EncodeFn = notReady;
  dec: DecodeFn = notReady;
  req: RequiredFn = notReady;
  /** Why @bufbuild's reflection codec handles this type, if it does. */
  fallback: string | undefined = undefined;

  constructor(readonly desc: DescMessage) {}
}

function notReady(): never {
  throw new Error("codec: unit used before compilation finished");
}

const units = new WeakMap<DescMessage, Unit>();

/** The compiled unit of `desc`, compiling it (and every type it references) on first use. */
export function unitOf(desc: DescMessage): Unit {
  let u = units.get(desc);
  if (u === undefined) {
    u = new Unit(desc);
    // Register first: compiling may reach this type again through its fields.
    units.set(desc, u);
    u.fallback = fallbackReason(desc);
    if (u.fallback === undefined) {
      try {
        u.enc = compileEncoder(desc, unitOf);
        u.dec = compileDecoder(desc, unitOf);
      } catch (e) {
        // E.g. code generation disallowed (--disallow-code-generation-from-strings).
        u.fallback = `compilation failed: ${String(e)}`;
      }
    }
    if (u.fallback !== undefined) {
      u.enc = (msg, w) => w.raw(toBinary(desc, create(desc, msg as never)));
      // Nested in a compiled parent: the remaining recursion budget carries over.
      u.dec = (buf, pos, end, depth) =>
        fromBinary(desc, buf.subarray(pos, end), { recursionLimit: RECURSION_LIMIT + 1 - depth });
    }
    try {
      u.req = compileRequired(desc, unitOf);
    } catch {
      u.req = walkRequired(desc, unitOf);
    }
  }
  return u;
}
