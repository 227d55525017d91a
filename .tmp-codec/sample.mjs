import fc from "fast-check";
import { create, toBinary } from "@bufbuild/protobuf";
import { arbInit, testSchemas } from "../dist/test/codec-helpers.js";
const s = testSchemas().find((s) => s.typeName === process.argv[2]);
const samples = fc.sample(arbInit(s, 3, { requiredSet: true }), 20);
let total = 0;
for (const x of samples) total += toBinary(s, create(s, x)).length;
console.log("avg bytes", total / samples.length);
console.dir(samples[5], { depth: 4 });
