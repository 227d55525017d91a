/**
 * A real @grpc/grpc-js server for the client tests: example.EchoService (proto/peer.proto,
 * behaving like the brpc interop peer) and clienttest.StreamService
 * (test/fixtures/proto/client_stream.proto, all four method kinds). It records what it
 * saw (metadata, deadlines, cancellations) for the tests to check.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as loader from "@grpc/proto-loader";

/** Repository root (works from src and from dist). */
export const ROOT = (() => {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(d, "proto", "peer.proto")) && existsSync(join(d, "package.json"))) return d;
    d = dirname(d);
  }
  throw new Error("repository root not found");
})();

/** brpc's `ErrorCodeToGrpcStatus`, so the grpc-js peer fails like a brpc server would. */
function brpcCodeToGrpc(code: number): number {
  switch (code) {
    case 1001:
    case 1002:
      return grpc.status.UNIMPLEMENTED;
    case 1004:
      return grpc.status.UNAUTHENTICATED;
    case 1003:
    case 22:
      return grpc.status.INVALID_ARGUMENT;
    case 2004:
      return grpc.status.RESOURCE_EXHAUSTED;
    case 2003:
      return grpc.status.UNAVAILABLE;
    case 1:
      return grpc.status.PERMISSION_DENIED;
    case 1008:
      return grpc.status.DEADLINE_EXCEEDED;
    case 125:
      return grpc.status.CANCELLED;
    default:
      return grpc.status.INTERNAL;
  }
}

interface Item {
  value: number;
  text: string;
  blob: Buffer;
}

/** What the server saw. */
export interface SeenCall {
  method: string;
  metadata: Record<string, string>;
  /** Milliseconds from arrival to the call's deadline (Infinity without one). */
  deadlineInMs: number;
}

/** A running grpc-js server. */
export interface GrpcPeer {
  server: grpc.Server;
  port: number;
  address: string;
  seen: SeenCall[];
  /** Calls the server saw canceled by the client. */
  cancelled: string[];
  close(): Promise<void>;
}

function metaOf(md: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.getMap()))
    out[k] = Buffer.isBuffer(v) ? v.toString("base64") : String(v);
  return out;
}

function deadlineIn(call: { getDeadline(): grpc.Deadline }): number {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : Number(d);
  return Number.isFinite(ms) ? ms - Date.now() : Number.POSITIVE_INFINITY;
}

/** Start the grpc-js peer on 127.0.0.1:`port` (0: any). `options` are grpc-js server options (e.g. compression). */
export async function startGrpcPeer(options: grpc.ServerOptions = {}, wantPort = 0): Promise<GrpcPeer> {
  const def = loader.loadSync(
    [join(ROOT, "proto", "peer.proto"), join(ROOT, "test", "fixtures", "proto", "client_stream.proto")],
    { keepCase: true, longs: Number, defaults: true },
  );
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    example: { EchoService: { service: grpc.ServiceDefinition } };
    clienttest: { StreamService: { service: grpc.ServiceDefinition } };
  };
  const seen: SeenCall[] = [];
  const cancelled: string[] = [];
  type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerReadableStream<unknown, unknown>;
  const record = (method: string, call: AnyCall) => {
    seen.push({ method, metadata: metaOf(call.metadata), deadlineInMs: deadlineIn(call) });
    call.on("cancelled", () => cancelled.push(method));
  };
  const server = new grpc.Server(options);

  server.addService(pkg.example.EchoService.service, {
    Echo(
      call: grpc.ServerUnaryCall<{ message: string; sleep_ms: number; fail_code: number }, unknown>,
      cb: grpc.sendUnaryData<unknown>,
    ) {
      record("Echo", call);
      const req = call.request;
      // Metadata: echo custom request keys back as `echo-<key>`, plus a trailer.
      const md = new grpc.Metadata();
      for (const [k, v] of Object.entries(metaOf(call.metadata))) {
        if (k.startsWith("x-user-")) md.set(`echo-${k}`, v);
      }
      call.sendMetadata(md);
      const trailer = new grpc.Metadata();
      trailer.set("x-trailer", "t1");
      const answer = () => {
        if (req.fail_code !== 0) {
          cb({
            code: brpcCodeToGrpc(req.fail_code),
            details: `failed on purpose: ${req.message}`,
            metadata: trailer,
          });
        } else cb(null, { message: req.message }, trailer);
      };
      if (req.sleep_ms > 0) setTimeout(answer, req.sleep_ms);
      else answer();
    },
    Missing(call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) {
      record("Missing", call);
      cb({ code: grpc.status.UNIMPLEMENTED, details: "not implemented" });
    },
  });

  server.addService(pkg.clienttest.StreamService.service, {
    Echo(call: grpc.ServerUnaryCall<Item, Item>, cb: grpc.sendUnaryData<Item>) {
      record("StreamService.Echo", call);
      const it = call.request;
      // text "status:<message>": fail with gRPC status `value` and that message.
      if (it.text.startsWith("status:")) {
        cb({ code: it.value, details: it.text.slice(7) });
        return;
      }
      cb(null, it);
    },
    Count(call: grpc.ServerWritableStream<Item, Item>) {
      record("Count", call);
      const n = Math.abs(call.request.value);
      const slow = call.request.text === "slow";
      let i = 0;
      const next = () => {
        if (call.cancelled) return;
        if (i === n) {
          if (call.request.value < 0) {
            call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details: `stopped after ${n} items` });
          } else call.end();
          return;
        }
        const ok = call.write({ value: i, text: call.request.text, blob: call.request.blob });
        i++;
        if (slow) setTimeout(next, 20);
        else if (ok) setImmediate(next);
        else call.once("drain", next);
      };
      next();
    },
    Sum(call: grpc.ServerReadableStream<Item, unknown>, cb: grpc.sendUnaryData<unknown>) {
      record("Sum", call);
      let sum = 0;
      let count = 0;
      call.on("data", (it: Item) => {
        sum += it.value;
        count++;
      });
      call.on("end", () => cb(null, { sum, count }));
      call.on("error", () => {});
    },
    Chat(call: grpc.ServerDuplexStream<Item, Item>) {
      record("Chat", call);
      call.on("data", (it: Item) => {
        call.write({ value: it.value * 10, text: it.text, blob: it.blob });
      });
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
  });

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${wantPort}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    server,
    port,
    address: `127.0.0.1:${port}`,
    seen,
    cancelled,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000).unref();
      }),
  };
}
