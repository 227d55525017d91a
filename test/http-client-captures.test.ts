/**
 * brpc's client captures over HTTP/1.1 (http_pb_echo, http_pb_error) and h2c + gRPC
 * (h2_grpc_echo, h2_grpc_error): a test server answers with the responses brpc's server
 * sent (HTTP/1.1: the recorded bytes; h2: the recorded headers, DATA and trailers, since
 * stream ids and HPACK state are per connection), checks that our client's requests say
 * what brpc's client said, and the interop client prints the capture's observed_result.
 */
import assert from "node:assert/strict";
import { createServer as createH2Server, type Http2Server, type OutgoingHttpHeaders } from "node:http2";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadCapture } from "./helpers/captures.js";
import { DIST, runNode } from "./helpers/child.js";
import { h2Exchanges, http1Exchanges, splitHttp1 } from "./helpers/client-captures.js";

const CLIENT = join(DIST, "examples", "interop", "client.js");

/** Latencies and addresses differ between runs (as in interop-cli.test.ts). */
function normalizeLine(line: string): string {
  return line.replace(/latency_us=\d+/, "latency_us=L").replace(/\d+\.\d+\.\d+\.\d+:\d+/g, "ADDR");
}

function listen(server: Server | Http2Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
  );
}

/** Headers of an HTTP/1.1 message as a comparable map (names lower-cased). */
function headerMap(h: [string, string][], skip: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of h) if (!skip.includes(k.toLowerCase())) out[k.toLowerCase()] = v;
  return out;
}

const cases = [
  { capture: "http_pb_echo", protocol: "http", scenario: "echo" },
  { capture: "http_pb_error", protocol: "http", scenario: "fail" },
  { capture: "h2_grpc_echo", protocol: "h2:grpc", scenario: "echo" },
  { capture: "h2_grpc_error", protocol: "h2:grpc", scenario: "fail" },
] as const;

describe("brpc client captures: our interop client against brpc's recorded answers", () => {
  const closers: (() => void)[] = [];
  after(() => {
    for (const c of closers) c();
  });

  for (const c of cases) {
    it(`--protocol ${c.protocol} --scenario ${c.scenario} prints ${c.capture}'s observed_result`, async () => {
      const cap = loadCapture(c.capture);
      const n = cap.observed_result.length;
      let port: number;
      const problems: string[] = [];
      if (c.protocol === "http") {
        // Replay brpc's response bytes, one per request, after checking the request.
        const { requests, responses } = http1Exchanges(cap);
        let next = 0;
        const sockets = new Set<Socket>();
        const server = createServer((sock) => {
          sockets.add(sock);
          let buf = Buffer.alloc(0);
          sock.on("data", (d: Buffer) => {
            buf = Buffer.concat([buf, d]);
            const end = buf.indexOf("\r\n\r\n");
            if (end < 0) return;
            const cl = /content-length:\s*(\d+)/i.exec(buf.toString("latin1", 0, end));
            if (buf.length < end + 4 + Number(cl?.[1] ?? 0)) return;
            const [got] = splitHttp1(buf);
            buf = Buffer.alloc(0);
            const want = requests[next];
            const res = responses[next];
            next++;
            if (got === undefined || want === undefined || res === undefined) {
              problems.push("more requests than in the capture");
              sock.destroy();
              return;
            }
            if (got.startLine !== want.startLine) problems.push(`request line ${got.startLine}`);
            const skip = ["host", "connection"];
            try {
              assert.deepEqual(headerMap(got.headers, skip), headerMap(want.headers, skip));
              assert.deepEqual(got.body, want.body);
            } catch (err) {
              problems.push(String(err));
            }
            sock.write(res.raw);
          });
          sock.on("close", () => sockets.delete(sock));
          sock.on("error", () => {});
        });
        port = await listen(server);
        closers.push(() => {
          for (const s of sockets) s.destroy();
          server.close();
        });
      } else {
        // Answer stream k with brpc's k-th response: headers, DATA, trailers.
        const exchanges = h2Exchanges(cap);
        let next = 0;
        const server = createH2Server();
        server.on("session", (s) => s.on("error", () => {}));
        server.on("stream", (st, headers) => {
          const chunks: Buffer[] = [];
          st.on("data", (d: Buffer) => chunks.push(d));
          st.on("error", () => {});
          st.on("end", () => {
            const ex = exchanges[next++];
            if (ex === undefined) {
              problems.push("more requests than in the capture");
              st.close();
              return;
            }
            try {
              const want: Record<string, string> = {};
              for (const [k, v] of ex.requestHeaders) if (k !== ":authority" && k !== ":scheme") want[k] = v;
              const got: Record<string, string> = {};
              for (const k of Object.keys(want)) got[k] = String(headers[k]);
              // brpc sends the call's timeout (1000m); we send what is left of the deadline,
              // which is less when the machine is slow.
              const left = /^(\d+)m$/.exec(got["grpc-timeout"] ?? "");
              assert.ok(left !== null && Number(left[1]) > 0 && Number(left[1]) <= 1000, got["grpc-timeout"]);
              got["grpc-timeout"] = want["grpc-timeout"] as string;
              assert.deepEqual(got, want);
              assert.deepEqual(Buffer.concat(chunks), ex.requestData);
            } catch (err) {
              problems.push(String(err));
            }
            const resHeaders: OutgoingHttpHeaders = {};
            for (const [k, v] of ex.responseHeaders) resHeaders[k] = v;
            st.respond(resHeaders, { waitForTrailers: true });
            st.on("wantTrailers", () => {
              const t: OutgoingHttpHeaders = {};
              for (const [k, v] of ex.responseTrailers) t[k] = v;
              st.sendTrailers(t);
            });
            st.end(ex.responseData);
          });
        });
        port = await listen(server);
        closers.push(() => server.close());
      }
      const r = await runNode([
        CLIENT,
        "--server",
        `127.0.0.1:${port}`,
        "--protocol",
        c.protocol,
        "--scenario",
        c.scenario,
        "--n",
        String(n),
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(problems, []);
      const got = r.stdout.trim().split("\n").map(normalizeLine);
      assert.deepEqual(got, cap.observed_result.map(normalizeLine));
    });
  }

  it("the h2 captures decode: brpc's requests and grpc-status trailers", () => {
    const [ex] = h2Exchanges(loadCapture("h2_grpc_error"));
    const h = Object.fromEntries(ex?.requestHeaders ?? []);
    assert.equal(h[":path"], "/example.EchoService/Echo");
    assert.equal(h.te, "trailers");
    assert.equal(h["grpc-timeout"], "1000m");
    assert.equal(Object.fromEntries(ex?.responseTrailers ?? [])["grpc-status"], "13");
  });
});
