/**
 * docs/rpcz.md: server A (rpcz on) calls server B from its handler; the trace id goes
 * along (baidu_std meta to B, x-bd-* headers over HTTP), B continues the trace, and /rpcz
 * shows the three spans and the timeline of the trace.
 *
 *   npx tsc -p . && node dist/examples/docs/rpcz.js
 */
import assert from "node:assert/strict";
import { Channel, rpczSpans, Server } from "../../src/index.js";
import { EchoService } from "../gen/peer_pb.js";

// B: a plain server (rpcz off). It traces the calls that arrive with a trace id, as brpc does.
const b = new Server();
b.addService(EchoService, {
  echo(req, ctx) {
    ctx.annotate(`B got "${req.message}"`);
    console.log(`B: trace_id=${ctx.traceId} span_id=${ctx.spanId} parent_span_id=${ctx.parentSpanId}`);
    return { message: `B(${req.message})` };
  },
});
await b.start("127.0.0.1:0");

// A: rpcz on for this server. Its handler calls B: the call becomes a child of A's span.
const toB = new Channel(b.address).client(EchoService);
const a = new Server({ rpcz: true });
a.addService(EchoService, {
  async echo(req, ctx) {
    ctx.annotate("calling B"); // brpc's TRACEPRINTF
    const r = await toB.echo({ message: req.message });
    console.log(`A: trace_id=${ctx.span?.traceId} span_id=${ctx.span?.spanId}`);
    return { message: `A(${r.message})` };
  },
});
await a.start("127.0.0.1:0");

const client = new Channel(a.address).client(EchoService);
const res = await client.echo({ message: "hi" }, { logId: 42 });
assert.equal(res.message, "A(B(hi))");

// Three spans: A's server span, A's client span to B, B's server span; one trace.
const spans = rpczSpans();
assert.equal(spans.length, 3);
const root = spans.find((s) => s.kind === "server" && s.parentSpanId === 0n)!;
const call = spans.find((s) => s.kind === "client")!;
const atB = spans.find((s) => s.kind === "server" && s !== root)!;
assert.equal(root.logId, 42n);
assert.ok(spans.every((s) => s.traceId === root.traceId));
assert.equal(call.parentSpanId, root.spanId); // made in A's handler
assert.equal(atB.spanId, call.spanId); // B continues the client's span (brpc does the same)
assert.equal(atB.parentSpanId, root.spanId);

// The pages, as curl shows them (?console=1 asks for text from any client).
const list = await (await fetch(`http://${a.address}/rpcz?console=1`)).text();
console.log(`\n$ curl ${a.address}/rpcz\n${list}`);
assert.equal(list.trim().split("\n").length, 3);
const trace = root.traceId.toString(16); // pages show ids in hex, as brpc's
const timeline = await (await fetch(`http://${a.address}/rpcz/${trace}?console=1`)).text();
console.log(`$ curl ${a.address}/rpcz/${trace}\n${timeline}`);
assert.match(timeline, /calling B/);
assert.match(timeline, /^ {4}.*\[Server SPAN#[0-9a-f]+\] B got "hi"$/m); // B's span, nested twice
const slow = await (await fetch(`http://${a.address}/rpcz?min_latency=1000000&console=1`)).text();
assert.equal(slow.trim(), "Fail to find matched spans"); // nothing took a second

await a.stop();
await b.stop();
process.exit(0);
