import { create, fromBinary, toBinary, equals } from "@bufbuild/protobuf";
import { codecOf, codecStats } from "../dist/src/codec/index.js";
import { Writer } from "../dist/src/io/writer.js";
import { EchoRequestSchema } from "../dist/examples/gen/peer_pb.js";
import * as p3 from "../dist/test/gen/codec_p3_pb.js";
import * as p2 from "../dist/test/gen/codec_p2_pb.js";
import * as ed from "../dist/test/gen/codec_ed_pb.js";

function rt(schema, init) {
  const c = codecOf(schema);
  const m = create(schema, init);
  const w = new Writer();
  c.encode(m, w);
  const ours = w.take();
  const theirs = toBinary(schema, m);
  const same = Buffer.compare(Buffer.from(ours), Buffer.from(theirs)) === 0;
  const dec = c.decode(ours, 0, ours.length);
  const ref = fromBinary(schema, theirs);
  console.log(schema.typeName, "bytes equal:", same, "decode equals:", equals(schema, dec, ref), "bail:", codecStats.bailouts);
  if (!same) { console.log(Buffer.from(ours).toString("hex")); console.log(Buffer.from(theirs).toString("hex")); }
  return dec;
}
console.log(rt(EchoRequestSchema, { message: "hello world 0123" }));
rt(p3.ScalarsSchema, { fDouble: 1.5, fFloat: -2, fInt64: -5n, fUint64: 1n << 63n, fInt32: -7, fFixed64: 99n, fFixed32: 4000000000, fBool: true, fString: "héllo", fBytes: new Uint8Array([1,2,3]), fUint32: 300, fEnum: p3.Color.BLUE, fSfixed32: -9, fSfixed64: -10n, fSint32: -11, fSint64: -12n,
  oDouble: 0, oString: "", rInt32: [1, -1, 300], rDouble: [1.5, -0], rString: ["a", "b"], rBytes: [new Uint8Array([9])], uInt32: [1, 2], uSint64: [-3n], sInt64: "-123", sUint64: "18446744073709551615", sFixed64: ["5"], bigTag: 5, midTag: "x".repeat(200) });
console.log(rt(p3.CompositeSchema, { inner: { name: "a", id: 3, children: [{ name: "b" }] }, mStr: { a: "b", c: "d" }, mMsg: { 5: { name: "x" } }, mInt64: { "-5": "y" }, mBool: { true: 1 }, choice: { case: "cInner", value: { name: "z" } }, other: { case: "oWrapped", value: { value: "w" } }, constructor$: "c", recursive: { inner: { id: 1 } } }));
console.log(rt(p3.WellKnownSchema, { wString: "s", wInt64: 5n, wBool: false, ts: { seconds: 5n }, wList: [{ value: 3 }], wMap: { a: { value: true } } }));
console.log(rt(p2.DefaultsSchema, { dInt32: -42, noDefault: "" }));
console.log(rt(p2.RequiredSchema, { name: "n", count: 3n, kind: p2.Kind.A, items: [{ id: 1 }], byKey: { k: { id: 2 } }, pick: { case: "picked", value: { id: 3 } } }));
console.log(rt(p2.GroupsSchema, { g: { a: 1, b: "x" }, r: [{ x: 1 }, { x: 2 }], after: 3 }));
console.log(rt(ed.EdSchema, { req: "r", delimited: { v: 1 }, delimitedList: [{ s: "q" }], expanded: [1, 2], packed: [3, 4], shut: ed.Shut.SHUT_TWO, loose: "l" }));
console.log(rt(p3.HoldsStructSchema, { ws: { s: { a: 1, b: [true, null] }, n: 2 }, tag: "t" }));
const c = codecOf(p2.RequiredSchema);
console.log(c.missingRequired(create(p2.RequiredSchema, {})), c.missingRequired({ name: "x", count: 1n, kind: 1, items: [{ id: 1 }, { label: "x" }] }), c.missingRequired({ name: "x", count: 1n, kind: 1, sub: {name: "s", item: {}} }));
