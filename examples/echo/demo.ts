/**
 * `npm start`: an echo server and a client calling it over baidu_std, printing what
 * happens: plain calls, an attachment, compression, a server error and a timeout. Then
 * the server keeps serving live traffic (baidu_std, HTTP/JSON and gRPC calls, some failing,
 * some slow) while its builtin pages (/status, /vars with live charts, /rpcz, ...) show
 * it: until Ctrl-C in a terminal, `DEMO_SECONDS` seconds otherwise (default 5).
 */
import { Channel, Controller, ErrorCode, RpcError, Server } from "../../src/index.js";
import { EchoService } from "../gen/peer_pb.js";
import { peerService } from "../interop/peer-service.js";

const server = new Server({ maxConcurrency: 1000, rpcz: true });
server.addService(EchoService, peerService);
await server.start("127.0.0.1:0");
console.log(`server: example.EchoService listening on ${server.address}`);

const channel = new Channel(server.address, { timeoutMs: 500, maxRetry: 3 });
const echo = channel.client(EchoService);

async function show(label: string, fn: (cntl: Controller) => Promise<{ message: string }>): Promise<void> {
  const cntl = new Controller();
  try {
    const res = await fn(cntl);
    const att = cntl.responseAttachment.length > 0 ? ` attachment="${cntl.responseAttachment}"` : "";
    console.log(`client: ${label} -> message="${res.message}"${att} latency=${cntl.latencyUs}us`);
  } catch (err) {
    const e = RpcError.from(err);
    console.log(`client: ${label} -> failed ${e.codeName}(${e.code}): ${e.text}`);
  }
}

await show("echo", (controller) => echo.echo({ message: "hello brpc-ts" }, { controller, logId: 1n }));
await show("echo with attachment", (controller) =>
  echo.echo({ message: "with attachment" }, { controller, attachment: "some raw bytes" }),
);
for (const c of ["snappy", "gzip", "zlib"]) {
  await show(`echo compressed with ${c}`, (controller) =>
    echo.echo({ message: `compressed ${c}` }, { controller, compressType: c }),
  );
}
await show("a call the server fails", (controller) =>
  echo.echo({ message: "please fail", failCode: ErrorCode.EINTERNAL }, { controller }),
);
await show("a call that times out (server sleeps 300ms, timeout 100ms)", (controller) =>
  echo.echo({ message: "slow", sleepMs: 300 }, { controller, timeoutMs: 100 }),
);
await show("Missing (unimplemented on the server)", (controller) =>
  echo.missing({ message: "x" }, { controller }),
);

const t0 = performance.now();
const N = 20000;
let inflight = 0;
let done = 0;
await new Promise<void>((resolve) => {
  const next = (): void => {
    while (inflight < 64 && done + inflight < N) {
      inflight++;
      echo.echo({ message: "load" }).then(() => {
        inflight--;
        done++;
        if (done === N) resolve();
        else next();
      }, resolve);
    }
  };
  next();
});
const secs = (performance.now() - t0) / 1000;
console.log(`client: ${N} calls with 64 in flight in ${secs.toFixed(2)}s (${Math.round(N / secs)} calls/s)`);

// Live traffic for the builtin pages.
const interactive = process.stdin.isTTY === true && process.env.DEMO_SECONDS === undefined;
const seconds = Number(process.env.DEMO_SECONDS ?? 5);
const base = `http://${server.address}`;
console.log(`builtin pages: ${base}/ (open it in a browser; curl gets text)`);
console.log(`  ${base}/status  ${base}/vars  ${base}/rpcz  ${base}/connections  ${base}/brpc_metrics`);
console.log(
  interactive
    ? "live traffic: baidu_std, HTTP/JSON and gRPC calls; Ctrl-C stops"
    : `live traffic: baidu_std, HTTP/JSON and gRPC calls for ${seconds}s (DEMO_SECONDS=N to change)`,
);
const grpc = new Channel(server.address, { protocol: "h2:grpc", timeoutMs: 500 });
const grpcEcho = grpc.client(EchoService);
let tick = 0;
const counts = { ok: 0, failed: 0 };
const count = (p: Promise<unknown>): void => {
  p.then(
    () => counts.ok++,
    () => counts.failed++,
  );
};
const traffic = setInterval(() => {
  tick++;
  for (let i = 0; i < 10; i++) {
    // Mostly fast calls; every 20th fails, every 50th takes 50-100 ms.
    const n = tick * 10 + i;
    const failCode = n % 20 === 0 ? ErrorCode.EINTERNAL : 0;
    const sleepMs = n % 50 === 0 ? 50 + (n % 51) : 0;
    count(echo.echo({ message: `live ${n}`, failCode, sleepMs }));
  }
  count(grpcEcho.echo({ message: `grpc ${tick}` }));
  count(
    fetch(`${base}/example.EchoService/Echo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message: `http ${tick}` }),
    }).then((r) => r.text()),
  );
}, 20);
await new Promise<void>((resolve) => {
  if (interactive) {
    process.once("SIGINT", () => resolve());
  } else {
    setTimeout(resolve, seconds * 1000);
  }
});
clearInterval(traffic);
console.log(`live traffic: ${counts.ok} calls ok, ${counts.failed} failed on purpose or slow`);

grpc.close();
channel.close();
await server.stop();
console.log("server: stopped");
