import { create } from "@bufbuild/protobuf";
import { codecOf } from "../dist/src/codec/index.js";
import { Writer } from "../dist/src/io/writer.js";
import { ScalarsSchema } from "../dist/test/gen/codec_p3_pb.js";
function ns(fn) { for (let i = 0; i < 50000; i++) fn(); const n = 2e6; const t = performance.now(); for (let i = 0; i < n; i++) fn(); return ((performance.now() - t) * 1e6 / n).toFixed(1); }
const c = codecOf(ScalarsSchema);
const w = new Writer();
const cases = { empty: {}, fDouble: { fDouble: 1.5 }, fFloat: { fFloat: 2.5 }, fInt64: { fInt64: 1234567890123n }, fUint64: { fUint64: 42n }, fInt32: { fInt32: -5 }, fFixed64: { fFixed64: 9n }, fFixed32: { fFixed32: 10 }, fBool: { fBool: true }, fString: { fString: "scalar string" }, fBytes: { fBytes: new Uint8Array([1, 2, 3, 4]) }, fUint32: { fUint32: 300 }, fEnum: { fEnum: 2 }, fSint64: { fSint64: -10n }, rInt32: { rInt32: [1, 2, 3, 300, -1] }, rDouble: { rDouble: [0.5, 1.5] }, rString: { rString: ["a", "bc"] } };
for (const [k, init] of Object.entries(cases)) {
  const m = create(ScalarsSchema, init);
  console.log(k.padEnd(10), ns(() => { const at = w.pos; c.encode(m, w); w.rewind(at); }), ns(() => c.decode(Buffer.from([]), 0, 0)));
}
