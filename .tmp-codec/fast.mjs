import { create } from "@bufbuild/protobuf";
import { codecOf } from "../dist/src/codec/index.js";
import { ScalarsSchema, CompositeSchema } from "../dist/test/gen/codec_p3_pb.js";
const m = create(ScalarsSchema, {});
console.log("create Scalars fast:", %HasFastProperties(m));
const d = codecOf(ScalarsSchema).decode(new Uint8Array(0), 0, 0);
console.log("decoded Scalars fast:", %HasFastProperties(d));
console.log("create Composite fast:", %HasFastProperties(create(CompositeSchema, {})));
console.log("decoded Composite fast:", %HasFastProperties(codecOf(CompositeSchema).decode(new Uint8Array(0), 0, 0)));
