import { create, fromBinary, toBinary, isFieldSet } from "@bufbuild/protobuf";
import { ClosedSchema, DefaultsSchema } from "/work/main/dist/test/gen/codec_p2_pb.js";
const m = create(ClosedSchema);
console.log(Object.getPrototypeOf(m), Object.getPrototypeOf(create(DefaultsSchema)));
// closed enum unknown (field 1 = 7) then unknown field 50 varint 1
const bytes = new Uint8Array([0x08, 0x07, 0x90, 0x03, 0x01]);
console.log(fromBinary(ClosedSchema, bytes).$unknown);
const bytes2 = new Uint8Array([0x90, 0x03, 0x01, 0x08, 0x07]);
console.log(fromBinary(ClosedSchema, bytes2).$unknown);
console.log(fromBinary(ClosedSchema, new Uint8Array([0x08, 0x07])).$unknown);
