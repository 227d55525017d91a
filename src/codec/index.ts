/**
 * Fast protobuf binary codec for @bufbuild/protobuf v2 message types.
 *
 * Each message type gets an encoder and a decoder generated as JS source from its
 * descriptor on first use (`new Function`), cached per descriptor. Types the compiler
 * does not cover, and inputs it does not handle exactly like @bufbuild, go to
 * @bufbuild's own `toBinary`/`fromBinary`.
 */
import { type DescMessage, fromBinary } from "@bufbuild/protobuf";
import type { Writer } from "../io/writer.js";
import { unitOf } from "./unit.js";

/**
 * Binary codec of one message type. `encode` writes exactly what `toBinary` writes;
 * `decode` returns what `fromBinary` returns. Both throw an Error on invalid input; an
 * `encode` that throws may have appended bytes, so rewind the writer to its previous `pos`.
 */
export interface MessageCodec<T = unknown> {
  /** Append the binary encoding of `msg` to `w`. `msg` is a message created by @bufbuild `create()`, one returned by `decode`, or a plain init-shape object as accepted by `create(schema, init)` (missing fields = unset; nested messages may be plain objects too). */
  encode(msg: unknown, w: Writer): void;
  /** Decode `buf[start, end)`. Returns an object indistinguishable from `fromBinary(schema, bytes)`'s result for @bufbuild APIs (`equals`, `isFieldSet`, `toBinary`, `toJson`, `$typeName`, proto2 defaults via the prototype exactly as `create()` sets up, `$unknown` for unknown fields). Throws an Error on malformed input; must never hang, loop forever or read outside [start,end). */
  decode(buf: Uint8Array, start: number, end: number): T;
  /** Path of the first missing proto2 `required` field (recursively, e.g. "sub.name" or "items[2].id"), or undefined if every required field is set. brpc rejects requests/responses with missing required fields. */
  missingRequired(msg: unknown): string | undefined;
}

/** Counters for tests and diagnostics. */
export const codecStats = {
  /** Decodes handed to `fromBinary` because the compiled decoder bailed out. */
  bailouts: 0,
};

const codecs = new WeakMap<DescMessage, MessageCodec>();

/** The codec for `schema`, compiled on first use and cached (WeakMap by descriptor). */
export function codecOf<T>(schema: DescMessage): MessageCodec<T> {
  let c = codecs.get(schema);
  if (c === undefined) {
    c = makeCodec(schema);
    codecs.set(schema, c);
  }
  return c as MessageCodec<T>;
}

/** Why @bufbuild's reflection codec handles `schema` entirely, or undefined if it is compiled. */
export function fallbackReason(schema: DescMessage): string | undefined {
  return unitOf(schema).fallback;
}

function makeCodec(schema: DescMessage): MessageCodec {
  const unit = unitOf(schema);
  return {
    encode(msg, w) {
      unit.enc(msg, w);
    },
    decode(buf, start, end) {
      if (
        !(start >= 0 && start <= end && end <= buf.length && Number.isInteger(start) && Number.isInteger(end))
      ) {
        throw new RangeError(`codec: invalid range [${start}, ${end}) of ${buf.length} bytes`);
      }
      try {
        return unit.dec(buf, start, end, 1);
      } catch {
        // Malformed, or needs @bufbuild's exact semantics (merging a repeated message field...).
        codecStats.bailouts++;
        return fromBinary(schema, buf.subarray(start, end));
      }
    },
    missingRequired(msg) {
      return unit.req(msg);
    },
  };
}
