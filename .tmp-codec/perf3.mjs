import { create } from "@bufbuild/protobuf";
import { codecOf } from "../dist/src/codec/index.js";
import { Writer } from "../dist/src/io/writer.js";
import { ScalarsSchema } from "../dist/test/gen/codec_p3_pb.js";
function ns(fn) { for (let i = 0; i < 50000; i++) fn(); const n = 2e6; const t = performance.now(); for (let i = 0; i < n; i++) fn(); return ((performance.now() - t) * 1e6 / n).toFixed(1); }
const c = codecOf(ScalarsSchema);
const w = new Writer();
const init = { fDouble: 1.5, fFloat: 2.5, fInt64: 1234567890123n, fUint64: 42n, fInt32: -5, fFixed64: 9n, fFixed32: 10, fBool: true, fString: "scalar string", fBytes: new Uint8Array([1, 2, 3, 4]), fUint32: 300, fEnum: 2, fSfixed32: -7, fSfixed64: -8n, fSint32: -9, fSint64: -10n, rInt32: [1, 2, 3, 300, -1], rDouble: [0.5, 1.5], rString: ["a", "bc"] };
const full = create(ScalarsSchema, init);
const w2 = new Writer(); c.encode(full, w2); const bytes = w2.take();
const which = process.argv[2];
const m = which === "empty" ? c.decode(new Uint8Array(0), 0, 0) : which === "decoded" ? c.decode(bytes, 0, bytes.length) : which === "init" ? init : which === "created" ? full : create(ScalarsSchema, {});
console.log(which, ns(() => { const at = w.pos; c.encode(m, w); w.rewind(at); }));
