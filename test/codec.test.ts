import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { codecOf, codecStats, fallbackReason } from "../src/codec/index.js";
import { Writer } from "../src/io/writer.js";
import { arbInit, assertSame, testSchemas } from "./codec-helpers.js";

const schemas = testSchemas();
/** Scale the number of generated cases with CODEC_FC_SCALE (default 1). */
const scale = Number(process.env.CODEC_FC_SCALE ?? 1);
const runs = (n: number): number => Math.max(1, Math.round(n * scale));
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

/** Encode with our codec into a writer that already holds pending and handed-out bytes. */
function ourEncode(schema: DescMessage, msg: unknown, chunk = 16 * 1024): Uint8Array {
  const w = new Writer(chunk);
  w.raw(new Uint8Array([1, 2, 3]));
  w.take();
  w.raw(new Uint8Array([4, 5]));
  codecOf(schema).encode(msg, w);
  return Uint8Array.from(w.peek().subarray(2));
}

/** `bytes` inside a larger buffer with bytes around it that would change the result if read. */
function embed(bytes: Uint8Array): Uint8Array {
  const buf = new Uint8Array(bytes.length + 8).fill(0x8a);
  buf.set(bytes, 4);
  return buf;
}

/** Our decode must agree with `fromBinary`: same result, or both throw. */
function assertDecodesLikeBufbuild(schema: DescMessage, bytes: Uint8Array): void {
  let ref: unknown;
  let refErr: unknown;
  try {
    ref = fromBinary(schema, bytes);
  } catch (e) {
    refErr = e;
  }
  let ours: unknown;
  let ourErr: unknown;
  try {
    ours = codecOf(schema).decode(embed(bytes), 4, 4 + bytes.length);
  } catch (e) {
    ourErr = e;
  }
  if (refErr !== undefined) {
    assert.ok(ourErr instanceof Error, `expected an Error like fromBinary's: ${String(refErr)}`);
  } else {
    assert.equal(ourErr, undefined);
    assertSame(ours, ref);
  }
}

describe("codec: differential against @bufbuild/protobuf", () => {
  for (const schema of schemas) {
    const codec = codecOf(schema);
    const arb = arbInit(schema, 3, { requiredSet: true });

    it(`${schema.typeName}: encode is byte-identical to toBinary (messages and init objects)`, {
      timeout: 120_000,
    }, () => {
      fc.assert(
        fc.property(arb, fc.constantFrom(1, 64, 16 * 1024), (init, chunk) => {
          const m = create(schema, init);
          const expected = hex(toBinary(schema, m));
          assert.equal(hex(ourEncode(schema, m, chunk)), expected);
          assert.equal(hex(ourEncode(schema, init, chunk)), expected);
        }),
        { numRuns: runs(150) },
      );
    });

    it(`${schema.typeName}: decode is indistinguishable from fromBinary`, { timeout: 120_000 }, () => {
      fc.assert(
        fc.property(arb, (init) => {
          const bytes = toBinary(schema, create(schema, init));
          const bailouts = codecStats.bailouts;
          const ours = codec.decode(embed(bytes), 4, 4 + bytes.length);
          const ref = fromBinary(schema, bytes);
          assertSame(ours, ref);
          assert.equal(codecStats.bailouts, bailouts, "valid input must not need fromBinary");
          // Re-encoding what we decoded gives what @bufbuild writes for its own result.
          assert.equal(hex(ourEncode(schema, ours)), hex(toBinary(schema, ref)));
        }),
        { numRuns: runs(150) },
      );
    });

    it(`${schema.typeName}: missingRequired is set exactly when toBinary and encode throw`, {
      timeout: 120_000,
    }, () => {
      fc.assert(
        fc.property(arbInit(schema, 3, { requiredSet: false }), (init) => {
          const m = create(schema, init);
          const missing = codec.missingRequired(m);
          assert.equal(codec.missingRequired(init), missing);
          const threw = (fn: () => unknown): boolean => {
            try {
              fn();
              return false;
            } catch (e) {
              assert.ok(e instanceof Error);
              return true;
            }
          };
          assert.equal(
            threw(() => toBinary(schema, m)),
            missing !== undefined,
          );
          assert.equal(
            threw(() => ourEncode(schema, m)),
            missing !== undefined,
          );
          assert.equal(
            threw(() => ourEncode(schema, init)),
            missing !== undefined,
          );
        }),
        { numRuns: runs(100) },
      );
    });

    it(`${schema.typeName}: malformed and odd input decodes as fromBinary does, or throws`, {
      timeout: 120_000,
    }, () => {
      const valid = arb.map((init) => toBinary(schema, create(schema, init)));
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => assertDecodesLikeBufbuild(schema, bytes)),
        { numRuns: runs(200) },
      );
      fc.assert(
        fc.property(
          valid,
          fc.array(fc.tuple(fc.nat(), fc.nat(255), fc.nat(3)), { maxLength: 4 }),
          (bytes, edits) => {
            let b = Array.from(bytes);
            for (const [at, v, op] of edits) {
              const i = b.length === 0 ? 0 : at % b.length;
              if (op === 0) b[i] = v;
              else if (op === 1) b = b.slice(0, i);
              else if (op === 2) b.splice(i, 0, v);
              else b = b.concat(b.slice(i));
            }
            assertDecodesLikeBufbuild(schema, Uint8Array.from(b));
          },
        ),
        { numRuns: runs(200) },
      );
      fc.assert(
        fc.property(arbWireRecords(schema), (bytes) => assertDecodesLikeBufbuild(schema, bytes)),
        {
          numRuns: runs(200),
        },
      );
    });
  }
});

/** Well-framed records with the message's field numbers but arbitrary wire types and payloads. */
function arbWireRecords(schema: DescMessage): fc.Arbitrary<Uint8Array> {
  const numbers = [...schema.fields.map((f) => f.number), 99];
  const record = fc.tuple(fc.constantFrom(...numbers), fc.nat(5), fc.uint8Array({ maxLength: 12 }), fc.nat());
  return fc.array(record, { maxLength: 6 }).map((records) => {
    const w = new Writer(64);
    for (const [no, wt, payload, n] of records) {
      w.uvarint(no * 8 + wt);
      if (wt === 0) w.uvarint(n);
      else if (wt === 1) w.raw(new Uint8Array(8).fill(n & 0xff));
      else if (wt === 2) w.bytes(payload);
      else if (wt === 3) w.uvarint(no * 8 + 4);
      else if (wt === 5) w.raw(new Uint8Array(4).fill(n & 0xff));
    }
    return Uint8Array.from(w.peek());
  });
}

describe("codec: fallback", () => {
  it("leaves messages with google.protobuf.Struct fields to @bufbuild", () => {
    const withStruct = schemas.find((s) => s.typeName === "codectest.p3.WithStruct")!;
    const holds = schemas.find((s) => s.typeName === "codectest.p3.HoldsStruct")!;
    assert.match(fallbackReason(withStruct) ?? "", /Struct/);
    assert.equal(fallbackReason(holds), undefined);
  });
});

describe("codec: missing input", () => {
  it("rejects an invalid range", () => {
    const codec = codecOf(schemas[0]!);
    assert.throws(() => codec.decode(new Uint8Array(4), 2, 5), RangeError);
    assert.throws(() => codec.decode(new Uint8Array(4), 3, 2), RangeError);
    assert.throws(() => codec.decode(new Uint8Array(4), -1, 2), RangeError);
  });
});
