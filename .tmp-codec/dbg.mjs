import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as ed from "../dist/test/gen/codec_ed_pb.js";
const m = create(ed.EdSchema, { req: "r", shut: ed.Shut.SHUT_TWO });
console.log(m, ed.Shut, Buffer.from(toBinary(ed.EdSchema, m)).toString("hex"));
console.log(fromBinary(ed.EdSchema, toBinary(ed.EdSchema, m)));
