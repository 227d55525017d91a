/**
 * "grpc-js": `@grpc/grpc-js` unary `example.EchoService/Echo` of `proto/peer.proto`, loaded
 * at runtime with `@grpc/proto-loader` (the way most users do), insecure credentials, one
 * channel with N calls in flight.
 */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { closedLoop } from "../lib/load.js";
import type { LoadContext } from "../lib/system.js";

interface EchoMessage {
  message: string;
}

type EchoClient = grpc.Client & {
  Echo(
    req: EchoMessage,
    cb: (err: grpc.ServiceError | null, res?: EchoMessage) => void,
  ): grpc.ClientUnaryCall;
};

/** `example.EchoService` of proto/peer.proto (resolved from dist/bench/systems/). */
function echoService(): grpc.ServiceClientConstructor {
  const protoPath = fileURLToPath(new URL("../../../proto/peer.proto", import.meta.url));
  const def = protoLoader.loadSync(protoPath, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    example: { EchoService: grpc.ServiceClientConstructor };
  };
  return pkg.example.EchoService;
}

/** Start a grpc-js server on 127.0.0.1 implementing Echo; resolves with its port. */
export async function serve(): Promise<number> {
  const server = new grpc.Server();
  server.addService(echoService().service, {
    Echo: (call: grpc.ServerUnaryCall<EchoMessage, EchoMessage>, callback: grpc.sendUnaryData<EchoMessage>) =>
      callback(null, { message: call.request.message }),
  });
  return new Promise((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    );
  });
}

/** Keep `ctx.inflight` unary Echo calls in flight on one channel until `ctx.active` is false. */
export async function load(port: number, ctx: LoadContext): Promise<void> {
  const Service = echoService();
  const client = new Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())),
  );
  const req: EchoMessage = { message: ctx.message };
  try {
    await closedLoop(
      ctx,
      () =>
        new Promise<void>((resolve, reject) => {
          client.Echo(req, (err, res) => {
            if (err) reject(err);
            else if (res?.message !== req.message) reject(new Error(`grpc-js: bad echo ${res?.message}`));
            else resolve();
          });
        }),
    );
  } finally {
    client.close();
  }
}
