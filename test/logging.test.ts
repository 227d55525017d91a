/** A bad peer is logged once, at the point its connection fails, and never crashes anything. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type LogLevel, type Server, setLogSink } from "../src/index.js";
import { RawClient } from "./helpers/net.js";
import { eventually, startEchoServer } from "./helpers/servers.js";

describe("logging of bad peers", () => {
  const lines: { level: LogLevel; message: string }[] = [];
  let server: Server;
  before(async () => {
    setLogSink((level, message) => lines.push({ level, message }));
    server = await startEchoServer({ maxBodySize: 1024 });
  });
  after(async () => {
    setLogSink(undefined);
    await server.stop(0);
  });

  for (const [name, bytes] of [
    ["garbage", Buffer.from("NOT A PROTOCOL AT ALL, REPEATED ".repeat(100))],
    ["an oversized frame", Buffer.from("PRPC\x7f\xff\xff\xff\x00\x00\x00\x01", "latin1")],
  ] as const) {
    it(`${name} is logged exactly once`, async () => {
      lines.length = 0;
      const c = await RawClient.connect(server.port);
      // Several writes: the connection must be failed (and logged) once only.
      for (let i = 0; i < 5; i++) c.write(bytes);
      assert.ok(await c.waitClosed());
      await eventually(() => server.connections.size === 0);
      const mine = lines.filter((l) => l.level === "warn" || l.level === "error");
      assert.equal(mine.length, 1, JSON.stringify(lines));
      assert.match(mine[0]!.message, /^Close 127\.0\.0\.1:\d+/);
    });
  }
});
