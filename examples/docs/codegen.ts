/**
 * docs/codegen.md: the code protoc-gen-es generates from proto/peer.proto
 * (examples/gen/peer_pb.ts) used with a Server, a Channel and @bufbuild's own API.
 *
 *   npx tsc -p . && node dist/examples/docs/codegen.js
 */
import assert from "node:assert/strict";
import { create, fromBinary, isMessage, toBinary, toJson } from "@bufbuild/protobuf";
// Internal: the compiled codec's diagnostics (not exported by the package).
import { codecStats, fallbackReason } from "../../src/codec/index.js";
import { Channel, Server, type ServerContext, type ServiceImpl } from "../../src/index.js";
import {
  type EchoRequest,
  EchoRequestSchema,
  type EchoResponse,
  EchoResponseSchema,
  EchoService,
} from "../gen/peer_pb.js";

// The service descriptor: names as they go on the wire.
console.log(
  `service ${EchoService.typeName}: ${EchoService.methods.map((m) => `${m.name} (${m.localName})`).join(", ")}`,
);

// An implementation typed from the descriptor: handler keys are local names,
// requests are generated message types, responses are messages or plain init objects.
const impl: ServiceImpl<typeof EchoService> = {
  echo(req: EchoRequest, _ctx: ServerContext) {
    return { message: req.message.toUpperCase() }; // plain object
  },
  missing(req: EchoRequest): EchoResponse {
    return create(EchoResponseSchema, { message: `missing ${req.message}` }); // message
  },
};
const server = new Server();
server.addService(EchoService, impl);
await server.start("127.0.0.1:0");

const channel = new Channel(server.address);
// 1. A typed client: one async function per method, keyed by local name.
const echo = channel.client(EchoService);
const r1 = await echo.echo({ message: "typed client" });
assert.ok(isMessage(r1, EchoResponseSchema));
console.log(`client(EchoService).echo -> ${JSON.stringify(toJson(EchoResponseSchema, r1))}`);

// 2. One method by descriptor.
const r2 = await channel.call(EchoService.method.missing, create(EchoRequestSchema, { message: "call" }));
console.log(`call(EchoService.method.missing) -> "${r2.message}"`);

// 3. Bytes in, bytes out: encode and decode yourself.
const bytes = await channel.callRaw(
  EchoService.typeName,
  EchoService.method.echo.name,
  toBinary(EchoRequestSchema, create(EchoRequestSchema, { message: "raw" })),
);
console.log(`callRaw -> ${bytes.toString("hex")} = "${fromBinary(EchoResponseSchema, bytes).message}"`);

// The peer.proto types are compiled (no Struct field), and valid input never bails out.
assert.equal(fallbackReason(EchoRequestSchema), undefined);
assert.equal(codecStats.bailouts, 0);
console.log(
  `compiled codec: fallback ${fallbackReason(EchoResponseSchema) ?? "none"}, bailouts ${codecStats.bailouts}`,
);

channel.close();
await server.stop();
console.log("done");
