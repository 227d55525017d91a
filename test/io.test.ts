/** Unit tests of the I/O building blocks: IdMap, TimerQueue, Writer marks. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { IdMap } from "../src/io/id-map.js";
import { now, TimerEntry, TimerQueue } from "../src/io/timers.js";
import { Writer } from "../src/io/writer.js";

describe("IdMap", () => {
  it("behaves like Map under random inserts and deletes", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), id: fc.integer({ min: 1, max: 300 }), v: fc.integer() }),
      fc.record({ kind: fc.constant("delete" as const), id: fc.integer({ min: 1, max: 300 }) }),
      fc.record({ kind: fc.constant("big" as const), id: fc.integer({ min: 2 ** 40, max: 2 ** 52 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 600 }), (ops) => {
        const ours = new IdMap<number>(4);
        const ref = new Map<number, number>();
        for (const o of ops) {
          if (o.kind === "set") {
            ours.set(o.id, o.v);
            ref.set(o.id, o.v);
          } else if (o.kind === "big") {
            ours.set(o.id, 1);
            ref.set(o.id, 1);
          } else {
            assert.equal(ours.delete(o.id), ref.delete(o.id));
          }
          assert.equal(ours.size, ref.size);
        }
        for (const [k, v] of ref) assert.equal(ours.get(k), v);
        for (let k = 1; k <= 300; k++) assert.equal(ours.get(k), ref.get(k));
        assert.deepEqual(ours.values().sort(), [...ref.values()].sort());
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});

class Probe extends TimerEntry {
  fired = 0;
  onTimer(): void {
    this.fired++;
  }
}

describe("TimerQueue", () => {
  it("fires in deadline order across durations, never fires cancelled timers, leaves nothing behind", async () => {
    const q = new TimerQueue();
    const order: number[] = [];
    const t = now();
    q.add(t + 30, () => order.push(30), undefined, 30);
    q.add(t + 10, () => order.push(10), undefined, 10);
    const cancelled = q.add(t + 20, () => order.push(20), undefined, 10);
    q.add(t + 15, () => order.push(15), undefined, 10); // out of order within one duration
    const p = new Probe();
    q.schedule(p, t + 5, 5);
    q.cancel(cancelled);
    q.cancel(cancelled);
    assert.equal(q.size, 4);
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(order, [10, 15, 30]);
    assert.equal(p.fired, 1);
    assert.equal(p.scheduled, false);
    assert.equal(q.size, 0);
  });

  it("a throwing callback does not stop the others", async () => {
    const q = new TimerQueue();
    let ran = false;
    const warn = process.emitWarning;
    process.emitWarning = () => {};
    try {
      q.after(1, () => {
        throw new Error("boom");
      });
      q.after(1, () => {
        ran = true;
      });
      await new Promise((r) => setTimeout(r, 30));
    } finally {
      process.emitWarning = warn;
    }
    assert.equal(ran, true);
  });
});

describe("Writer", () => {
  it("marks survive buffer growth", () => {
    const w = new Writer(16);
    w.raw(Buffer.from("abcd"));
    w.take();
    const mark = w.mark();
    w.u32be(0);
    w.raw(Buffer.alloc(100, 1)); // forces a new buffer; pending bytes move
    w.u32beAt(mark, 0xdeadbeef);
    const out = w.take();
    assert.equal(out.length, 104);
    assert.equal(out.readUInt32BE(0), 0xdeadbeef);
  });

  it("writes non-ASCII strings correctly at the very end of a buffer", () => {
    for (const text of ["é", "€", "\u0080é€😀"]) {
      for (let fill = 16; fill < 40; fill++) {
        const w = new Writer(32);
        // Two steps, so the first buffer (32 bytes) is nearly full when the string comes.
        w.raw(Buffer.alloc(16, 7));
        w.raw(Buffer.alloc(fill - 16, 7));
        w.string(text);
        const out = w.take();
        assert.equal(out[fill], Buffer.byteLength(text), `${text} after ${fill} bytes`);
        assert.equal(out.toString("utf8", fill + 1), text, `${text} after ${fill} bytes`);
      }
    }
  });

  it("encodes varints like protobuf", () => {
    const w = new Writer();
    w.uvarint(300);
    w.int32(-1);
    w.varint64(-2n);
    w.uvarint(2 ** 40);
    assert.equal(
      w.take().toString("hex"),
      `ac02${"ffffffffffffffffff01"}${"feffffffffffffffff01"}${"8080808080" + "20"}`,
    );
  });
});
