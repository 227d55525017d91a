import { create } from "@bufbuild/protobuf";
import { codecOf } from "../dist/src/codec/index.js";
import { Writer } from "../dist/src/io/writer.js";
import { ScalarsSchema } from "../dist/test/gen/codec_p3_pb.js";
function ns(fn) { for (let i = 0; i < 50000; i++) fn(); let best = 1e9; for (let r = 0; r < 5; r++) { const n = 5e5; const t = performance.now(); for (let i = 0; i < n; i++) fn(); best = Math.min(best, (performance.now() - t) * 1e6 / n); } return best; }
const c = codecOf(ScalarsSchema);
const w = new Writer();
const groups = {
  ints: { fInt32: -5, fUint32: 300, fEnum: 2, fSint32: -9, fFixed32: 10, fSfixed32: -7, fBool: true },
  floats: { fDouble: 1.5, fFloat: 2.5 },
  int64s: { fInt64: 1234567890123n, fUint64: 42n, fFixed64: 9n, fSfixed64: -8n, fSint64: -10n },
  strs: { fString: "scalar string", fBytes: new Uint8Array([1, 2, 3, 4]) },
  lists: { rInt32: [1, 2, 3, 300, -1], rDouble: [0.5, 1.5], rString: ["a", "bc"] },
};
const k = process.argv[2];
const w2 = new Writer(); c.encode(create(ScalarsSchema, groups[k] ?? {}), w2); const bytes = w2.take();
const m = c.decode(bytes, 0, bytes.length);
console.log(k, ns(() => { const at = w.pos; c.encode(m, w); w.rewind(at); }).toFixed(1), ns(() => c.decode(bytes, 0, bytes.length)).toFixed(1));
