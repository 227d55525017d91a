/**
 * Field report 2, bounded buffers: whatever the reader does, memory stays bounded. With a
 * window, a slow reader holds the writer to the window plus one message (on the stream,
 * in the connection's backlog and in the reader's queue) and the process's memory does
 * not grow with the bytes streamed. Without a window, the receiver's maxQueuedBytes fails
 * the stream with EOVERCROWDED instead of letting the queue grow.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { EchoService } from "../examples/gen/peer_pb.js";
import { Channel, ErrorCode, RpcError, Server, Stream, type StreamOptions } from "../src/index.js";
import { timers } from "../src/io/timers.js";
import type { Connection } from "../src/transport/connection.js";
import { eventually } from "./helpers/servers.js";
import { guardEventLoop } from "./helpers/stream-stall-guard.js";
import { pump, recordingHandler, within } from "./helpers/stream-watch.js";

guardEventLoop("stream-memory.test");

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const KiB = 1024;
const MiB = 1024 * 1024;
const HANG_MS = 60_000;

/**
 * Memory we hold: JS heap plus Buffers (external), after full collections. V8 frees the
 * backing stores of dead ArrayBuffers after the collection, so collect, let that finish,
 * and collect again before reading the numbers.
 */
async function heldBytes(): Promise<number> {
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** Running maxima of sampled values. */
class Max {
  readonly values = new Map<string, number>();
  samples = 0;
  sample(name: string, v: number): void {
    this.samples++;
    if (v > (this.values.get(name) ?? Number.NEGATIVE_INFINITY)) this.values.set(name, v);
  }
  get(name: string): number {
    return this.values.get(name) ?? 0;
  }
}

/** The one connection a server has (the test makes exactly one). */
function onlyConnection(server: Server): Connection {
  assert.equal(server.connections.size, 1);
  return [...server.connections][0] as Connection;
}

describe("a slow reader bounds the writer's memory to the window plus one message", () => {
  let server: Server;
  let ch: Channel;
  /** How the next accepted stream is set up, and where it goes. */
  let acceptOptions: StreamOptions = {};
  let onAccepted: (s: Stream) => void = () => {};
  before(async () => {
    server = new Server();
    server.addService(EchoService, {
      echo(req, ctx) {
        if (req.openStream) onAccepted(ctx.acceptStream(acceptOptions));
        return { message: req.message };
      },
    });
    await server.start("127.0.0.1:0");
    ch = new Channel(server.address, { maxRetry: 0, timeoutMs: 5000 });
  });
  after(async () => {
    ch.close();
    await server.stop(0);
  });

  it("client writes 64 MiB through a 1 MiB window to a reader that pulls one message every 2 ms", async () => {
    const WINDOW = 1 * MiB;
    const MSG = 64 * KiB;
    const TOTAL = 64 * MiB;
    const max = new Max();
    let reader: Stream | undefined;
    acceptOptions = {}; // no handler: read by async iteration
    onAccepted = (s) => {
      reader = s;
    };
    const base = await heldBytes();
    const baseRss = process.memoryUsage().rss;
    const writer = new Stream({ maxBufSize: WINDOW });
    await ch.client(EchoService).echo({ message: "open", openStream: true }, { stream: writer });
    assert.ok(reader !== undefined);
    const r = reader;
    const wconn = ch.source.ready() as Connection;
    const rconn = onlyConnection(server);
    const sample = () => {
      max.sample("writer.unconsumedBytes", writer.unconsumedBytes);
      max.sample("writer conn.unwrittenBytes", wconn.unwrittenBytes);
      max.sample("reader.queuedBytes", r.queuedBytes);
      max.sample("reader conn.unwrittenBytes", rconn.unwrittenBytes);
    };
    const sampler = setInterval(sample, 1);

    let received = 0;
    const reading = (async () => {
      for await (const m of r) {
        sample();
        received += m.length;
        await sleep(2);
      }
    })();
    const chunk = Buffer.alloc(MSG, 0x41);
    let written = 0;
    let held16 = 0;
    let held64 = 0;
    const writing = (async () => {
      while (written < TOTAL) {
        await writer.write(chunk);
        written += MSG;
        sample();
        if (written % (8 * MiB) === 0) {
          const growth = (await heldBytes()) - base;
          max.sample("held growth", growth);
          if (written === 16 * MiB) held16 = growth;
          if (written === TOTAL) held64 = growth;
        }
      }
      writer.close();
    })();
    try {
      await within(HANG_MS, Promise.all([writing, reading]), "64 MiB to go through");
    } finally {
      clearInterval(sampler);
    }
    await within(HANG_MS, Promise.all([writer.closed, r.closed]), "both streams to close");
    assert.equal(received, TOTAL);
    assert.ok(max.samples > 1000, `only ${max.samples} samples`);

    assert.ok(max.get("writer.unconsumedBytes") <= WINDOW + MSG, `${[...max.values]}`);
    // What the writer's connection holds is part of what the window admits (+ frame headers).
    assert.ok(max.get("writer conn.unwrittenBytes") <= WINDOW + MSG + 64 * KiB, `${[...max.values]}`);
    assert.ok(max.get("reader.queuedBytes") <= WINDOW + MSG, `${[...max.values]}`);
    assert.ok(max.get("reader conn.unwrittenBytes") <= 64 * KiB, `${[...max.values]}`);
    // Memory does not follow the bytes streamed (generous margins: 64 MiB went through,
    // the window is 1 MiB): bounded overall, and flat once streaming is under way.
    assert.ok(max.get("held growth") < 16 * MiB, `heap+external grew by ${max.get("held growth")} bytes`);
    assert.ok(
      held64 - held16 < 8 * MiB,
      `heap+external grew by ${held64 - held16} bytes between 16 and 64 MiB streamed (consumed messages are retained)`,
    );
    const rssGrowth = process.memoryUsage().rss - baseRss;
    assert.ok(rssGrowth < 48 * MiB, `RSS grew by ${rssGrowth} bytes`);
    assert.equal(timers.size, 0);
  });

  it("server writes (starting before the stream is connected) to a handler whose promise resolves later", async () => {
    const WINDOW = 512 * KiB;
    const MSG = 32 * KiB;
    const TOTAL = 32 * MiB;
    const max = new Max();
    const chunk = Buffer.alloc(MSG, 0x42);
    const base = await heldBytes();
    let held8 = 0;
    let held32 = 0;
    let writer: Stream | undefined;
    let writing: Promise<void> | undefined;
    let stateAtFirstWrite = "";
    acceptOptions = { maxBufSize: WINDOW };
    onAccepted = (s) => {
      writer = s;
      // Write from the handler, before the response (and so before the stream connects).
      writing = (async () => {
        stateAtFirstWrite = s.state;
        for (let written = MSG; written <= TOTAL; written += MSG) {
          await s.write(chunk);
          max.sample("writer.unconsumedBytes", s.unconsumedBytes);
          if (written % (8 * MiB) === 0) {
            const growth = (await heldBytes()) - base;
            max.sample("held growth", growth);
            if (written === 8 * MiB) held8 = growth;
            if (written === TOTAL) held32 = growth;
          }
        }
        s.close();
      })();
    };
    let received = 0;
    let reader: Stream | undefined;
    const rec = recordingHandler({
      async onReceivedMessages(s, messages) {
        max.sample("reader.queuedBytes", s.queuedBytes);
        for (const m of messages) received += m.length;
        await sleep(1);
      },
    });
    reader = new Stream({ messagesInBatch: 2, handler: rec.handler });
    await ch.client(EchoService).echo({ message: "open", openStream: true }, { stream: reader });
    assert.equal(stateAtFirstWrite, "connecting");
    const w = writer as Stream;
    const wconn = onlyConnection(server);
    const rconn = ch.source.ready() as Connection;
    const sampler = setInterval(() => {
      max.sample("writer.unconsumedBytes", w.unconsumedBytes);
      max.sample("writer conn.unwrittenBytes", wconn.unwrittenBytes);
      max.sample("reader.queuedBytes", (reader as Stream).queuedBytes);
      max.sample("reader conn.unwrittenBytes", rconn.unwrittenBytes);
    }, 1);
    try {
      await within(HANG_MS, writing as Promise<void>, "32 MiB to be written");
      await within(HANG_MS, Promise.all([w.closed, reader.closed]), "both streams to close");
    } finally {
      clearInterval(sampler);
    }
    assert.equal(received, TOTAL);
    assert.deepEqual(rec.log.events, ["closed"]);
    assert.ok(max.get("writer.unconsumedBytes") <= WINDOW + MSG, `${[...max.values]}`);
    assert.ok(max.get("writer conn.unwrittenBytes") <= WINDOW + MSG + 64 * KiB, `${[...max.values]}`);
    assert.ok(max.get("reader.queuedBytes") <= WINDOW + MSG, `${[...max.values]}`);
    assert.ok(max.get("reader conn.unwrittenBytes") <= 64 * KiB, `${[...max.values]}`);
    assert.ok(max.get("held growth") < 16 * MiB, `heap+external grew by ${max.get("held growth")} bytes`);
    assert.ok(
      held32 - held8 < 8 * MiB,
      `heap+external grew by ${held32 - held8} bytes between 8 and 32 MiB streamed (consumed messages are retained)`,
    );
    reader = undefined;
    assert.equal(timers.size, 0);
  });
});

describe("without a window, maxQueuedBytes protects the receiver", () => {
  for (const reading of ["nobody iterates", "a handler that takes 50 ms per message"] as const) {
    it(`${reading}: the stream fails with EOVERCROWDED instead of queueing more`, async () => {
      const LIMIT = 1 * MiB;
      const MSG = 64 * KiB;
      let accepted: Stream | undefined;
      const rec = recordingHandler(
        reading === "nobody iterates"
          ? {}
          : {
              async onReceivedMessages() {
                await sleep(50);
              },
            },
      );
      const server = new Server();
      server.addService(EchoService, {
        echo(req, ctx) {
          if (req.openStream) accepted = ctx.acceptStream({ maxQueuedBytes: LIMIT, handler: rec.handler });
          return { message: req.message };
        },
      });
      await server.start("127.0.0.1:0");
      const ch = new Channel(server.address, { maxRetry: 0, timeoutMs: 5000 });
      try {
        const crec = recordingHandler();
        const writer = new Stream({ maxBufSize: 0, handler: crec.handler });
        await ch.client(EchoService).echo({ message: "open", openStream: true }, { stream: writer });
        const r = accepted as Stream;
        let maxQueued = 0;
        const sampler = setInterval(() => {
          maxQueued = Math.max(maxQueued, r.queuedBytes);
        }, 1);
        const base = await heldBytes();
        // The writer is unlimited: only the receiver's limit stops it (RST → ECONNRESET).
        const result = await within(
          HANG_MS,
          pump(writer, Buffer.alloc(MSG, 0x43)),
          "the writer to be stopped",
        );
        clearInterval(sampler);
        maxQueued = Math.max(maxQueued, r.queuedBytes);
        assert.ok(result.error instanceof RpcError, String(result.error));
        assert.equal(result.error.code, ErrorCode.ECONNRESET, result.error.text);
        // The receiver failed: a late reader gets at most what was queued, then the error.
        assert.equal(r.errorCode, ErrorCode.EOVERCROWDED, r.errorText);
        assert.match(r.errorText, /maxQueuedBytes=1048576/);
        if (reading === "nobody iterates") {
          let got = 0;
          const drained = (async () => {
            try {
              for await (const m of r) got += m.length;
              return undefined;
            } catch (err) {
              return err;
            }
          })();
          const err = await within(HANG_MS, drained, "the late reader to get the error");
          assert.ok(err instanceof RpcError, String(err));
          assert.equal(err.code, ErrorCode.EOVERCROWDED);
          assert.ok(got <= LIMIT + MSG, `the late reader got ${got} bytes`);
        }
        await within(HANG_MS, Promise.all([r.closed, writer.closed]), "both streams to close");
        assert.deepEqual(rec.log.events, [`failed:${ErrorCode.EOVERCROWDED}`, "closed"]);
        assert.deepEqual(crec.log.events, [`failed:${ErrorCode.ECONNRESET}`, "closed"]);
        assert.ok(maxQueued <= LIMIT + MSG, `the receiver queued ${maxQueued} bytes`);
        assert.ok((await heldBytes()) - base < 16 * MiB, "memory did not follow the bytes sent");
        // Both connections survive the stream's failure, with nothing left on them.
        assert.ok(await eventually(() => onlyConnection(server).streams?.size === 0));
        const conn = ch.source.ready() as Connection;
        assert.equal(conn.failed, false);
        assert.equal(conn.streams?.size ?? 0, 0);
        assert.equal(
          (await ch.client(EchoService).echo({ message: "still works" })).message,
          "still works",
          "the connection still serves calls",
        );
        assert.equal(timers.size, 0);
      } finally {
        ch.close();
        await server.stop(0);
      }
    });
  }
});
