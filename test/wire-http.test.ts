/**
 * Every HTTP/1.1 capture of real brpc traffic (curl or brpc's http client -> brpc server):
 * replaying its request bytes into our server yields responses semantically equal to
 * brpc's (status line, x-bd-error-code, content-type, body).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Server } from "../src/index.js";
import { captureNames, loadCapture } from "./helpers/captures.js";
import { parseResponses } from "./helpers/http-tools.js";
import { RawClient } from "./helpers/net.js";
import { startEchoServer } from "./helpers/servers.js";

/** "[127.0.0.1:8100][E2001]x" -> "[ADDR][E2001]x" */
function normalizeText(t: string): string {
  return t.replace(/\[(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]):\d+\]/g, "[ADDR]");
}

const names = captureNames("http_");

describe("HTTP captures of real brpc", () => {
  let server: Server;
  before(async () => {
    server = await startEchoServer();
  });
  after(() => server.stop(0));

  it("has the expected scenarios", () => {
    for (const n of [
      "http_health",
      "http_json_bad_json",
      "http_json_echo",
      "http_json_no_method",
      "http_pb_echo",
    ]) {
      assert.ok(names.includes(n), `missing ${n} in ${names.join(",")}`);
    }
  });

  for (const name of names) {
    it(`${name}: same responses as brpc`, async () => {
      const cap = loadCapture(name);
      for (const conn of cap.connections) {
        const c = await RawClient.connect(server.port);
        let expectedBytes = Buffer.alloc(0);
        let want = 0;
        // Send each request chunk once brpc's answers to the previous ones have arrived.
        for (const ch of conn.chunks) {
          if (ch.dir === "c2s") {
            assert.ok(await c.waitFor(() => parseResponses(c.received).length >= want), `${name}: no answer`);
            c.write(Buffer.from(ch.hex, "hex"));
          } else {
            expectedBytes = Buffer.concat([expectedBytes, Buffer.from(ch.hex, "hex")]);
            want = parseResponses(expectedBytes).length;
          }
        }
        const expected = parseResponses(expectedBytes);
        assert.ok(expected.length > 0);
        assert.ok(
          await c.waitFor(() => parseResponses(c.received).length >= expected.length),
          `${name}: got ${c.received.toString()}`,
        );
        const got = parseResponses(c.received);
        c.close();
        assert.equal(got.length, expected.length);
        for (const [i, e] of expected.entries()) {
          const g = got[i]!;
          assert.equal(g.statusLine, e.statusLine, `${name} #${i} status`);
          assert.equal(
            g.headers["x-bd-error-code"],
            e.headers["x-bd-error-code"],
            `${name} #${i} x-bd-error-code`,
          );
          assert.equal(g.headers["content-type"], e.headers["content-type"], `${name} #${i} content-type`);
          const eb = normalizeText(e.body.toString("utf8"));
          const gb = normalizeText(g.body.toString("utf8"));
          if (name === "http_json_bad_json") {
            // The parser's own reason differs (rapidjson vs JSON.parse); brpc's text up to the type is the same.
            const cut = (s: string) =>
              s.slice(0, s.indexOf("as example.EchoRequest") + "as example.EchoRequest".length);
            assert.ok(eb.includes("as example.EchoRequest"));
            assert.equal(cut(gb), cut(eb), `${name} #${i} body`);
          } else {
            assert.equal(gb, eb, `${name} #${i} body`);
          }
        }
      }
    });
  }
});
