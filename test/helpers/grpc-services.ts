/** The gRPC test service (test/fixtures/proto/grpc_test.proto), servers and grpc-js clients for the gRPC tests. */
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { EchoService } from "../../examples/gen/peer_pb.js";
import { peerService } from "../../examples/interop/peer-service.js";
import {
  RpcError,
  Server,
  type ServerContext,
  type ServerOptions,
  type ServiceImpl,
} from "../../src/index.js";
import { Calc, type Num, NumSchema } from "../gen/grpc_test_pb.js";

/** Repository root (works from src and from dist). */
export const ROOT = (() => {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (d.endsWith("dist")) return dirname(d);
    d = dirname(d);
  }
  return join(dirname(fileURLToPath(import.meta.url)), "..", "..");
})();

/** What the test service saw, for assertions. */
export class CalcProbe {
  /** Calls whose ctx.signal aborted, by label. */
  readonly aborted: string[] = [];
  /** Streaming handlers whose `finally` ran, by label. */
  readonly finalized: string[] = [];
  /** Errors the request iteration threw, by label. */
  readonly inputErrors: { label: string; code: number }[] = [];
  /** Last context seen by Echo. */
  lastCtx: ServerContext | undefined;
  /** Add: resolves when the test lets the handler go on pulling (backpressure test). */
  gate: Promise<void> | undefined;
  /** Messages the Add handler has pulled. */
  pulled = 0;

  watch(label: string, ctx: ServerContext): void {
    ctx.signal.addEventListener("abort", () => this.aborted.push(label), { once: true });
  }
}

/** Handlers of grpctest.Calc; `probe` records what happened. */
export function calcService(probe: CalcProbe): ServiceImpl<typeof Calc> {
  return {
    async echo(req, ctx) {
      probe.lastCtx = ctx;
      probe.watch(`echo:${req.text}`, ctx);
      if (req.sleepMs > 0) {
        await sleep(req.sleepMs, undefined, { signal: ctx.signal }).catch(() => {});
      }
      if (req.failCode !== 0) throw new RpcError(req.failCode, `failed on purpose: ${req.text}`);
      const md = ctx.grpc?.requestMetadata ?? {};
      if (md["x-echo-md"] !== undefined) {
        ctx.grpc!.responseHeaders["x-header-back"] = `h:${String(md["x-echo-md"])}`;
        ctx.grpc!.responseTrailers["x-trailer-back"] = `t:${String(md["x-echo-md"])}`;
        const bin = md["x-data-bin"];
        if (bin instanceof Buffer)
          ctx.grpc!.responseTrailers["x-data-bin"] = Buffer.concat([bin, Buffer.from([0xff])]);
      }
      ctx.responseCompressType = ctx.requestCompressType;
      return {
        value: req.value,
        text: `${req.text}|log=${ctx.logId ?? "-"}|ct=${ctx.requestCompressType}|${ctx.grpc?.subtype ?? "?"}`,
        blob: req.blob,
      };
    },
    async *count(req, ctx) {
      const label = `count:${req.text}`;
      probe.watch(label, ctx);
      try {
        const n = req.value < 0 ? Number.POSITIVE_INFINITY : req.value;
        for (let i = 0; i < n; i++) {
          if (req.failCode !== 0 && i === 2) throw new RpcError(req.failCode, `stream failed at ${i}`);
          yield { value: i, text: `${req.text}-${i}`, blob: req.blob };
          if (req.sleepMs > 0) await sleep(req.sleepMs);
        }
      } finally {
        probe.finalized.push(label);
      }
    },
    async add(requests, ctx) {
      probe.watch("add", ctx);
      let total = 0;
      let count = 0;
      try {
        for await (const r of requests) {
          probe.pulled++;
          if (probe.gate !== undefined) await probe.gate;
          if (r.failCode !== 0) throw new RpcError(r.failCode, `bad item ${count}`);
          total += r.value;
          count++;
        }
      } catch (err) {
        if (err instanceof RpcError) probe.inputErrors.push({ label: "add", code: err.code });
        throw err;
      }
      return { total, count };
    },
    async *chat(requests, ctx) {
      probe.watch("chat", ctx);
      try {
        for await (const r of requests as AsyncIterable<Num>) {
          if (r.text === "stop") return;
          yield { value: r.value * 2, text: `re:${r.text}`, blob: r.blob };
        }
      } catch (err) {
        if (err instanceof RpcError) probe.inputErrors.push({ label: "chat", code: err.code });
        throw err;
      } finally {
        probe.finalized.push("chat");
      }
    },
  };
}

/** A started server with the peer EchoService and grpctest.Calc. */
export interface GrpcTestServer {
  server: Server;
  port: number;
  probe: CalcProbe;
  close(): Promise<void>;
}

/** Start a brpc-ts server on 127.0.0.1:0 serving gRPC on its port. */
export async function startGrpcServer(options: ServerOptions = {}): Promise<GrpcTestServer> {
  const server = new Server(options);
  const probe = new CalcProbe();
  server.addService(EchoService, peerService);
  server.addService(Calc, calcService(probe));
  await server.start("127.0.0.1:0");
  return { server, port: server.port, probe, close: () => server.stop(0) };
}

// ---- grpc-js clients ----------------------------------------------------------------------

const loaderOptions: protoLoader.Options = { keepCase: false, longs: String, enums: String, defaults: true };

function loadPackage(file: string): grpc.GrpcObject {
  return grpc.loadPackageDefinition(protoLoader.loadSync(join(ROOT, file), loaderOptions));
}

type Ctor = new (
  address: string,
  creds: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => grpc.Client;

/** grpc-js clients of the test services. */
export interface GrpcClients {
  // biome-ignore lint/suspicious/noExplicitAny: grpc-js dynamic clients
  echo: any;
  // biome-ignore lint/suspicious/noExplicitAny: grpc-js dynamic clients
  calc: any;
  // biome-ignore lint/suspicious/noExplicitAny: grpc-js dynamic clients
  health: any;
  close(): void;
}

/** Connect grpc-js clients to 127.0.0.1:port (`options` are grpc-js channel options). */
export function grpcClients(port: number, options: grpc.ClientOptions = {}): GrpcClients {
  const peer = loadPackage("proto/peer.proto") as unknown as { example: { EchoService: Ctor } };
  const test = loadPackage("test/fixtures/proto/grpc_test.proto") as unknown as { grpctest: { Calc: Ctor } };
  const health = loadPackage("src/protocol/grpc/health.proto") as unknown as {
    grpc: { health: { v1: { Health: Ctor } } };
  };
  const addr = `127.0.0.1:${port}`;
  const creds = grpc.credentials.createInsecure();
  const echo = new peer.example.EchoService(addr, creds, options);
  const calc = new test.grpctest.Calc(addr, creds, options);
  const h = new health.grpc.health.v1.Health(addr, creds, options);
  return {
    echo,
    calc,
    health: h,
    close() {
      echo.close();
      calc.close();
      h.close();
    },
  };
}

/** Promisified unary call on a grpc-js client. */
export function unary<T>(
  // biome-ignore lint/suspicious/noExplicitAny: grpc-js dynamic clients
  client: any,
  method: string,
  req: unknown,
  opts: { metadata?: grpc.Metadata; deadline?: Date | number } = {},
): Promise<{ value: T; headers: grpc.Metadata | undefined; status: grpc.StatusObject | undefined }> {
  return new Promise((resolve, reject) => {
    let headers: grpc.Metadata | undefined;
    let status: grpc.StatusObject | undefined;
    const call = client[method](
      req,
      opts.metadata ?? new grpc.Metadata(),
      { deadline: opts.deadline },
      (err: grpc.ServiceError | null, value: T) => {
        if (err) reject(err);
        else setImmediate(() => resolve({ value, headers, status }));
      },
    );
    call.on("metadata", (md: grpc.Metadata) => {
      headers = md;
    });
    call.on("status", (s: grpc.StatusObject) => {
      status = s;
    });
  });
}

/** A grpc-js error's code and details. */
export function grpcError(err: unknown): { code: number; details: string } {
  const e = err as grpc.ServiceError;
  return { code: e.code, details: e.details };
}

export { grpc };

/** The wire bytes of a `grpctest.Num`. */
export const num = (init: Parameters<typeof create<typeof NumSchema>>[1]): Buffer =>
  Buffer.from(toBinary(NumSchema, create(NumSchema, init)));
