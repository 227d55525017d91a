/**
 * Interop server: `npm run interop:server -- --port P` serves example.EchoService
 * (../shared/wire/peer.proto) on 127.0.0.1:P and prints a line with "listening".
 */
import { Server } from "../../src/index.js";
import { parseArgs } from "./args.js";
import { EchoService, peerService } from "./peer-service.js";

const args = parseArgs(process.argv.slice(2));
const port = Number(args.get("port") ?? "8100");
const host = args.get("host") ?? "127.0.0.1";

const server = new Server({});
server.addService(EchoService, peerService);
await server.start(`${host}:${port}`);
console.log(`brpc-ts interop server listening on ${server.address}`);

const quit = () => {
  server.stop(1000).then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on("SIGINT", quit);
process.on("SIGTERM", quit);
