import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import {
  create,
  type DescMessage,
  equals,
  fromBinary,
  isFieldSet,
  type MessageShape,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { EchoRequestSchema } from "../examples/gen/peer_pb.js";
import { codecOf, codecStats } from "../src/codec/index.js";
import { Writer } from "../src/io/writer.js";
import { assertSame } from "./codec-helpers.js";
import { EdSchema, LeafSchema } from "./gen/codec_ed_pb.js";
import { ClosedSchema, DefaultsSchema, GroupsSchema, Kind, RequiredSchema } from "./gen/codec_p2_pb.js";
import { CompositeSchema, InnerSchema, ScalarsSchema, WellKnownSchema } from "./gen/codec_p3_pb.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ""), "hex"));

function enc(schema: DescMessage, msg: unknown, w = new Writer()): Uint8Array {
  // Relative to `start`: the writer may move pending bytes when it grows.
  const at = w.pos - w.start;
  codecOf(schema).encode(msg, w);
  return Uint8Array.from(w.buf.subarray(w.start + at, w.pos));
}

function dec<D extends DescMessage>(schema: D, b: Uint8Array): MessageShape<D> {
  return codecOf<MessageShape<D>>(schema).decode(b, 0, b.length);
}

/** Decode with our codec and with fromBinary; both must agree exactly. */
function decBoth<D extends DescMessage>(schema: D, b: Uint8Array): MessageShape<D> {
  const ours = dec(schema, b);
  assertSame(ours, fromBinary(schema, b));
  return ours;
}

/** Run `fn` and return how many decodes it handed to fromBinary. */
function bailouts(fn: () => void): number {
  const before = codecStats.bailouts;
  fn();
  return codecStats.bailouts - before;
}

describe("codec: example.EchoRequest", () => {
  it("encodes and decodes the echo request", () => {
    const b = enc(EchoRequestSchema, create(EchoRequestSchema, { message: "hello world 0123" }));
    assert.equal(hex(b), `0a10${Buffer.from("hello world 0123").toString("hex")}`);
    const m = decBoth(EchoRequestSchema, b);
    assert.equal(Object.getPrototypeOf(m), Object.getPrototypeOf(create(EchoRequestSchema)));
    assert.ok(isFieldSet(m, EchoRequestSchema.field.message));
    assert.ok(!isFieldSet(m, EchoRequestSchema.field.sleepMs));
    assert.equal(m.sleepMs, 0);
    assert.ok(!Object.hasOwn(m, "sleepMs"));
  });

  it("accepts plain init objects and default values set explicitly", () => {
    assert.equal(hex(enc(EchoRequestSchema, { message: "" })), "0a00");
    assert.equal(
      hex(enc(EchoRequestSchema, { message: "x", sleepMs: 0, openStream: false })),
      "0a0178" + "1000" + "2000",
    );
    assert.equal(hex(enc(EchoRequestSchema, { message: "x", sleepMs: null })), "0a0178");
  });
});

describe("codec: proto2", () => {
  it("exposes defaults through the prototype, as create() does", () => {
    const m = decBoth(DefaultsSchema, new Uint8Array(0));
    assert.equal(m.dString, 'hé"llo\n');
    assert.equal(m.dInt64, -9007199254740993n);
    assert.equal(m.dUint64, 18446744073709551615n);
    assert.equal(m.dEnum, Kind.B);
    assert.ok(Number.isNaN(m.dNan));
    assert.equal(m.dInt64Str, "7");
    assert.deepEqual(Object.keys(m), ["$typeName"]);
    assert.deepEqual(toJson(DefaultsSchema, m), toJson(DefaultsSchema, create(DefaultsSchema)));
  });

  it("writes explicitly set defaults, NaN included, and skips unset ones", () => {
    const m = create(DefaultsSchema, {
      dNan: Number.NaN,
      dString: 'hé"llo\n',
      dBytes: new Uint8Array([1, 2, 255]),
    });
    assert.equal(hex(enc(DefaultsSchema, m)), hex(toBinary(DefaultsSchema, m)));
    assert.equal(hex(enc(DefaultsSchema, create(DefaultsSchema))), "");
  });

  it("throws like toBinary when a required field is missing", () => {
    assert.throws(
      () => enc(RequiredSchema, create(RequiredSchema)),
      /codectest.p2.Required.name.*required field not set/,
    );
    assert.throws(() => enc(RequiredSchema, { name: "n", kind: 1 }), /codectest.p2.Required.count/);
    assert.throws(() => enc(EchoRequestSchema, {}), /required field not set/);
  });

  it("reports the path of the first missing required field", () => {
    const c = codecOf(RequiredSchema);
    const ok = { name: "n", count: 1n, kind: Kind.A };
    assert.equal(c.missingRequired(create(RequiredSchema)), "name");
    assert.equal(c.missingRequired({ name: "n", kind: Kind.A }), "count");
    assert.equal(c.missingRequired({ name: "n", count: 0n }), "kind");
    assert.equal(c.missingRequired(create(RequiredSchema, ok)), undefined);
    assert.equal(c.missingRequired({ ...ok, sub: {} }), "sub.name");
    assert.equal(c.missingRequired({ ...ok, sub: { name: "s", item: { label: "l" } } }), "sub.item.id");
    assert.equal(c.missingRequired({ ...ok, items: [{ id: 1 }, { id: 2 }, {}] }), "items[2].id");
    assert.equal(c.missingRequired({ ...ok, byKey: { k: {} } }), "by_key[k].id");
    assert.equal(c.missingRequired({ ...ok, pick: { case: "picked", value: {} } }), "picked.id");
    // Set to the default value counts as set; a decoded message too.
    const m = dec(
      RequiredSchema,
      toBinary(RequiredSchema, create(RequiredSchema, { name: "", count: 0n, kind: 1 })),
    );
    assert.equal(c.missingRequired(m), undefined);
    const partial = fromBinary(RequiredSchema, bytes("0a0161"));
    assert.equal(c.missingRequired(partial), "count");
    assert.equal(codecOf(EchoRequestSchema).missingRequired({}), "message");
    assert.equal(codecOf(ScalarsSchema).missingRequired({}), undefined);
    assert.equal(codecOf(EdSchema).missingRequired({ leaf: {} }), "req");
  });

  it("keeps unknown closed-enum values as unknown fields, as fromBinary does", () => {
    // kind=7 (unknown), kinds=[7] (lists keep it), kind_map{1:7}, o_kind=9 (unknown)
    const m = decBoth(ClosedSchema, bytes("0807 1007 2204 08011007 2809"));
    assert.equal(m.kind, Kind.A);
    assert.ok(!isFieldSet(m, ClosedSchema.field.kind));
    assert.deepEqual(m.kinds, [7]);
    assert.deepEqual(m.kindMap, { 1: 7 });
    assert.equal(m.o.case, undefined);
    assert.deepEqual(
      m.$unknown?.map((u) => [u.no, u.wireType, hex(u.data)]),
      [
        [1, 0, "07"],
        [5, 0, "09"],
      ],
    );
    // Negative values re-encode as ten bytes.
    assert.equal(
      hex(decBoth(ClosedSchema, bytes("08feffffff0f")).$unknown![0]!.data),
      "feffffffffffffffff01",
    );
    // @bufbuild drops them when the message also has other unknown fields; so do we.
    assert.deepEqual(
      decBoth(ClosedSchema, bytes("0807 f80601")).$unknown?.map((u) => u.no),
      [111],
    );
  });

  it("decodes groups and rejects a mismatched end-group tag", () => {
    const m = create(GroupsSchema, { g: { a: 1, b: "x" }, r: [{ x: 1 }, { x: 2 }], after: 3 });
    const b = toBinary(GroupsSchema, m);
    assert.equal(hex(enc(GroupsSchema, m)), hex(b));
    assert.ok(equals(GroupsSchema, decBoth(GroupsSchema, b), m));
    assert.throws(() => dec(GroupsSchema, bytes("0b 1001 14")), Error); // ends with field 2
    assert.throws(() => dec(GroupsSchema, bytes("0b 1001")), Error); // no end
    assert.throws(() => dec(GroupsSchema, bytes("0c")), Error); // stray end
  });
});

describe("codec: proto3 and editions", () => {
  it("keeps unknown open-enum values", () => {
    const m = decBoth(ScalarsSchema, bytes("7063 b003fbffffffffffffffff01"));
    assert.equal(m.fEnum, 99);
    assert.deepEqual(m.rEnum, [-5]);
    assert.equal(m.oEnum, undefined);
    assert.equal(m.uEnum.length, 0);
    assert.equal(decBoth(ScalarsSchema, bytes("7085ffffffffffffffff01")).fEnum, -123);
  });

  it("accepts packed and unpacked encodings of repeated scalars", () => {
    // r_int32 (45, packed) unpacked, then packed; u_int32 (65, unpacked) packed.
    const m = decBoth(ScalarsSchema, bytes("e80201 e80202 ea02020304 8a04020506"));
    assert.deepEqual(m.rInt32, [1, 2, 3, 4]);
    assert.deepEqual(m.uInt32, [5, 6]);
    assert.equal(
      bailouts(() => dec(ScalarsSchema, bytes("e80201 ea02020304 8a04020506"))),
      0,
    );
    // Encoding follows the field's packed option.
    assert.equal(hex(enc(ScalarsSchema, { rInt32: [1, 2], uInt32: [1, 2] })), "ea02020102" + "880401880402");
  });

  it("lets the last occurrence of a scalar win and merges repeated message fields like fromBinary", () => {
    assert.equal(decBoth(ScalarsSchema, bytes("2801 2802 2803")).fInt32, 3);
    // inner twice: merged by @bufbuild (name from the first, id from the second).
    let m: MessageShape<typeof CompositeSchema> | undefined;
    assert.equal(
      bailouts(() => {
        m = decBoth(CompositeSchema, bytes("0a030a0161 0a021005"));
      }),
      1,
    );
    assert.equal(m!.inner?.name, "a");
    assert.equal(m!.inner?.id, 5);
    // The last oneof member wins.
    const o = decBoth(CompositeSchema, bytes("a20101 61 a80102"));
    assert.deepEqual(o.choice, { case: "cInt64", value: 2n });
  });

  it("preserves unknown fields and writes them back", () => {
    const b = bytes("2801 f80601 fa0602abcd fd0601020304 f90601020304050607 08 fb06 0801 fc06");
    const m = decBoth(ScalarsSchema, b);
    assert.deepEqual(
      m.$unknown?.map((u) => [u.no, u.wireType]),
      [
        [111, 0],
        [111, 2],
        [111, 5],
        [111, 1],
        [111, 3],
      ],
    );
    assert.equal(hex(enc(ScalarsSchema, m)), hex(toBinary(ScalarsSchema, m)));
  });

  it("validates UTF-8 where the field asks for it, replaces invalid sequences elsewhere", () => {
    const bad = "4a03 61ff62"; // f_string = "a\xffb"
    assert.throws(() => dec(ScalarsSchema, bytes(bad)), Error);
    assert.throws(() => fromBinary(ScalarsSchema, bytes(bad)), Error);
    const longBad = `4a20${"61".repeat(31)}ff`;
    assert.throws(() => dec(ScalarsSchema, bytes(longBad)), Error);
    assert.equal(decBoth(EdSchema, bytes("5203 61ff62")).loose, "a\ufffdb");
    assert.throws(() => dec(LeafSchema, bytes("1203 61ff62")), Error);
    assert.equal(decBoth(EchoRequestSchema, bytes("0a03 61ff62")).message, "a\ufffdb");
    // A BOM is text.
    assert.equal(decBoth(ScalarsSchema, bytes("4a03efbbbf")).fString, "\ufeff");
    // Valid text containing U+FFFD is fine.
    assert.equal(decBoth(ScalarsSchema, bytes("4a03efbfbd")).fString, "\ufffd");
  });

  it("round-trips strings of every length around the fast-path limits", () => {
    for (let n = 0; n <= 140; n++) {
      for (const s of ["a".repeat(n), "é".repeat(n), `${"b".repeat(n)}€`, `\u{1F600}${"c".repeat(n)}`]) {
        const m = create(ScalarsSchema, { fString: s, rString: [s, s] });
        const b = toBinary(ScalarsSchema, m);
        assert.equal(hex(enc(ScalarsSchema, m)), hex(b));
        assert.equal(decBoth(ScalarsSchema, b).fString, s);
      }
    }
  });

  it("encodes lone surrogates as U+FFFD, as toBinary does", () => {
    for (const s of ["a\ud800", "\udc00b", `${"x".repeat(40)}\ud800`, "😀", "é".repeat(100)]) {
      const m = create(ScalarsSchema, { fString: s });
      assert.equal(hex(enc(ScalarsSchema, m)), hex(toBinary(ScalarsSchema, m)));
    }
  });

  it("accepts 64-bit integers as bigint, number or string, and rejects what create()/toBinary reject", () => {
    const ref = hex(
      toBinary(ScalarsSchema, create(ScalarsSchema, { fInt64: -5n, fUint64: 7n, fSint64: -3n })),
    );
    assert.equal(hex(enc(ScalarsSchema, { fInt64: -5, fUint64: 7, fSint64: -3 })), ref);
    assert.equal(hex(enc(ScalarsSchema, { fInt64: "-5", fUint64: "7", fSint64: "-3" })), ref);
    assert.throws(() => enc(ScalarsSchema, { fInt64: 1.5 }), Error);
    assert.throws(() => enc(ScalarsSchema, { fUint64: -1n }), /invalid uint64/);
    assert.throws(() => enc(ScalarsSchema, { fInt64: 2n ** 63n }), /invalid int64/);
    assert.throws(() => enc(ScalarsSchema, { fFixed64: "x" }), Error);
    const big = {
      sInt64: "-9223372036854775808",
      sUint64: "18446744073709551615",
      sFixed64: ["9007199254740993"],
    };
    const m = decBoth(ScalarsSchema, enc(ScalarsSchema, big));
    assert.equal(m.sInt64, big.sInt64);
    assert.equal(m.sUint64, big.sUint64);
    assert.deepEqual(m.sFixed64, big.sFixed64);
  });

  it("validates 32-bit values like toBinary", () => {
    assert.throws(() => enc(ScalarsSchema, { fInt32: 1.5 }), /invalid int32/);
    assert.throws(() => enc(ScalarsSchema, { fUint32: -1 }), /invalid uint32/);
    assert.throws(() => enc(ScalarsSchema, { fFloat: 1e39 }), /invalid float32/);
    assert.equal(hex(enc(ScalarsSchema, { fInt32: "7" })), hex(enc(ScalarsSchema, { fInt32: 7 })));
    const m = create(ScalarsSchema, { fFloat: Number.NaN, fDouble: -0, rFloat: [Number.POSITIVE_INFINITY] });
    assert.equal(hex(enc(ScalarsSchema, m)), hex(toBinary(ScalarsSchema, m)));
  });

  it("accepts number[] for bytes in init objects", () => {
    assert.equal(
      hex(enc(ScalarsSchema, { fBytes: [1, 2], rBytes: [[3]] })),
      hex(toBinary(ScalarsSchema, create(ScalarsSchema, { fBytes: [1, 2], rBytes: [[3]] } as never))),
    );
  });

  it("unwraps wrapper fields like @bufbuild", () => {
    const m = create(WellKnownSchema, { wString: "", wInt64: 0n, wBool: true });
    const b = enc(WellKnownSchema, m);
    assert.equal(hex(b), hex(toBinary(WellKnownSchema, m)));
    const d = decBoth(WellKnownSchema, b);
    assert.equal(d.wString, "");
    assert.equal(d.wInt64, 0n);
    assert.equal(d.wBool, true);
    assert.ok(isFieldSet(d, WellKnownSchema.field.wString));
    assert.ok(!isFieldSet(d, WellKnownSchema.field.wUint32));
  });

  it("treats map key __proto__ as a plain key", () => {
    const m = create(CompositeSchema);
    Object.defineProperty(m.mStr, "__proto__", {
      value: "p",
      enumerable: true,
      writable: true,
      configurable: true,
    });
    const d = decBoth(CompositeSchema, enc(CompositeSchema, m));
    assert.equal(Object.getPrototypeOf(d.mStr), Object.prototype);
    assert.deepEqual(Object.keys(d.mStr), ["__proto__"]);
  });

  it("builds decoded messages with properties in one order, whatever the wire order", () => {
    const a = dec(CompositeSchema, bytes("0a00 a20101 61 f20201 78"));
    const b = dec(CompositeSchema, bytes("f20201 78 a20101 61 0a00"));
    assert.deepEqual(Object.keys(a), Object.keys(b));
  });

  it("rejects a message of another type", () => {
    assert.throws(() => enc(CompositeSchema, create(InnerSchema)), /cannot use field codectest.p3.Composite/);
  });
});

describe("codec: buffers and limits", () => {
  it("grows the writer mid-message and widens length prefixes", () => {
    const name = "n".repeat(300);
    const big = create(CompositeSchema, {
      inner: { name, children: Array.from({ length: 60 }, (_, i) => ({ name, id: i })) },
      inners: Array.from({ length: 300 }, (_, id) => ({ name: `${id}`, id })),
      recursive: { inner: { name: "é".repeat(30_000) } },
    });
    const ref = toBinary(CompositeSchema, big);
    for (const chunk of [1, 100, 4096, 1 << 20]) {
      const w = new Writer(chunk);
      w.raw(new Uint8Array(chunk > 1 ? chunk - 3 : 1));
      w.take();
      assert.ok(Buffer.from(enc(CompositeSchema, big, w)).equals(ref), `chunk ${chunk}`);
    }
    assertSame(dec(CompositeSchema, ref), fromBinary(CompositeSchema, ref));
  });

  it("decodes from a Buffer, returning Buffer views for bytes like fromBinary", () => {
    const b = Buffer.from(toBinary(ScalarsSchema, create(ScalarsSchema, { fBytes: new Uint8Array([1, 2]) })));
    const m = decBoth(ScalarsSchema, b);
    assert.ok(Buffer.isBuffer(m.fBytes));
  });

  it("enforces @bufbuild's recursion limit and never overflows the stack", () => {
    const nested = (depth: number): Uint8Array => {
      let b = new Uint8Array(0);
      for (let i = 1; i < depth; i++) {
        const w = new Writer(64);
        w.u8(0xc2); // field 40 (recursive), length-delimited
        w.u8(0x02);
        w.bytes(b);
        b = Uint8Array.from(w.peek());
      }
      return b;
    };
    for (const depth of [99, 100, 101]) {
      let ours: unknown;
      let theirs: unknown;
      try {
        ours = dec(CompositeSchema, nested(depth));
      } catch (e) {
        ours = e instanceof Error;
      }
      try {
        theirs = fromBinary(CompositeSchema, nested(depth));
      } catch (e) {
        theirs = e instanceof Error;
      }
      if (theirs === true) assert.equal(ours, true, `depth ${depth}`);
      else assertSame(ours, theirs);
    }
    assert.throws(() => dec(CompositeSchema, nested(5000)), Error);
  });
});

describe("codec: without code generation", () => {
  it("falls back to @bufbuild and interprets missingRequired", () => {
    const url = (p: string): string => JSON.stringify(new URL(p, import.meta.url).href);
    const script = `
      import { create, toBinary } from "@bufbuild/protobuf";
      import { codecOf, fallbackReason } from ${url("../src/codec/index.js")};
      import { Writer } from ${url("../src/io/writer.js")};
      import { RequiredSchema } from ${url("./gen/codec_p2_pb.js")};
      const c = codecOf(RequiredSchema);
      const ok = { name: "n", count: 1n, kind: 1 };
      const w = new Writer();
      c.encode({ ...ok, items: [{ id: 1 }] }, w);
      const b = w.take();
      const same = Buffer.from(toBinary(RequiredSchema, create(RequiredSchema, { ...ok, items: [{ id: 1 }] }))).equals(b);
      console.log(JSON.stringify({
        fallback: fallbackReason(RequiredSchema),
        same,
        decoded: c.decode(b, 0, b.length).items.length,
        missing: [{}, { ...ok, sub: { item: {} } }, { ...ok, sub: { name: "s", item: {} } }, { ...ok, items: [{ id: 1 }, {}] },
          { ...ok, byKey: { k: {} } }, { ...ok, pick: { case: "picked", value: {} } }, ok].map((m) => c.missingRequired(m) ?? null),
      }));`;
    const out = execFileSync(
      process.execPath,
      ["--disallow-code-generation-from-strings", "--input-type=module", "-e", script],
      { cwd: new URL("../..", import.meta.url), encoding: "utf8" },
    );
    const r = JSON.parse(out) as {
      fallback: string;
      same: boolean;
      decoded: number;
      missing: (string | null)[];
    };
    assert.match(r.fallback, /compilation failed/);
    assert.ok(r.same);
    assert.equal(r.decoded, 1);
    assert.deepEqual(r.missing, [
      "name",
      "sub.name",
      "sub.item.id",
      "items[1].id",
      "by_key[k].id",
      "picked.id",
      null,
    ]);
  });
});
