import { codecOf } from "../dist/src/codec/index.js";
import { unitOf } from "../dist/src/codec/unit.js";
import * as p3 from "../dist/test/gen/codec_p3_pb.js";
import { EchoRequestSchema } from "../dist/examples/gen/peer_pb.js";
const which = process.argv[2] ?? "enc";
const s = { echo: EchoRequestSchema, scalars: p3.ScalarsSchema, composite: p3.CompositeSchema }[process.argv[3] ?? "echo"];
console.log(unitOf(s)[which].toString());
