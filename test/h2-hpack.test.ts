/** HPACK (RFC 7541): Appendix C vectors, Huffman, round trips, decoding errors. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Writer } from "../src/io/writer.js";
import { H2Error, H2ErrorCode } from "../src/protocol/h2/frame.js";
import { HpackDecoder, HpackEncoder, STATIC_COUNT, writeInt } from "../src/protocol/h2/hpack.js";
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, huffmanDecode, huffmanEncode } from "../src/protocol/h2/huffman.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");

function decodeAll(d: HpackDecoder, block: Buffer): string[] {
  const out: string[] = [];
  d.decode(block, 0, block.length, out);
  return out;
}

function encode(e: HpackEncoder, headers: string[]): Buffer {
  const w = new Writer(256);
  e.encode(headers, w);
  return Buffer.from(w.take());
}

function isCompressionError(e: unknown): boolean {
  return e instanceof H2Error && e.code === H2ErrorCode.COMPRESSION_ERROR && e.streamId === 0;
}

/** [block hex, headers, table after (newest first), table size] */
type Step = [string, string[], string[], number];

const REQ1 = [":method", "GET", ":scheme", "http", ":path", "/", ":authority", "www.example.com"];
const REQ2 = [...REQ1, "cache-control", "no-cache"];
const REQ3 = [
  ":method",
  "GET",
  ":scheme",
  "https",
  ":path",
  "/index.html",
  ":authority",
  "www.example.com",
  "custom-key",
  "custom-value",
];
const T1 = [":authority", "www.example.com"];
const T2 = ["cache-control", "no-cache", ...T1];
const T3 = ["custom-key", "custom-value", ...T2];

const RES1 = [
  ":status",
  "302",
  "cache-control",
  "private",
  "date",
  "Mon, 21 Oct 2013 20:13:21 GMT",
  "location",
  "https://www.example.com",
];
const RES2 = [":status", "307", ...RES1.slice(2)];
const RES3 = [
  ":status",
  "200",
  "cache-control",
  "private",
  "date",
  "Mon, 21 Oct 2013 20:13:22 GMT",
  "location",
  "https://www.example.com",
  "content-encoding",
  "gzip",
  "set-cookie",
  "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
];
const RT1 = [
  "location",
  "https://www.example.com",
  "date",
  "Mon, 21 Oct 2013 20:13:21 GMT",
  "cache-control",
  "private",
  ":status",
  "302",
];
const RT2 = [":status", "307", ...RT1.slice(0, 6)];
const RT3 = [
  "set-cookie",
  "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
  "content-encoding",
  "gzip",
  "date",
  "Mon, 21 Oct 2013 20:13:22 GMT",
];

function runSteps(d: HpackDecoder, steps: Step[]): void {
  for (const [block, headers, table, size] of steps) {
    assert.deepEqual(decodeAll(d, hex(block)), headers);
    assert.deepEqual(d.table.entries(), table);
    assert.equal(d.table.size, size);
  }
}

describe("HPACK decoder: RFC 7541 Appendix C", () => {
  it("C.2.1 literal with indexing", () => {
    runSteps(new HpackDecoder(), [
      [
        "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
        ["custom-key", "custom-header"],
        ["custom-key", "custom-header"],
        55,
      ],
    ]);
  });
  it("C.2.2 literal without indexing", () => {
    runSteps(new HpackDecoder(), [["040c 2f73 616d 706c 652f 7061 7468", [":path", "/sample/path"], [], 0]]);
  });
  it("C.2.3 literal never indexed", () => {
    runSteps(new HpackDecoder(), [
      ["1008 7061 7373 776f 7264 0673 6563 7265 74", ["password", "secret"], [], 0],
    ]);
  });
  it("C.2.4 indexed field", () => {
    runSteps(new HpackDecoder(), [["82", [":method", "GET"], [], 0]]);
  });
  it("C.3 requests without Huffman", () => {
    runSteps(new HpackDecoder(), [
      ["8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", REQ1, T1, 57],
      ["8286 84be 5808 6e6f 2d63 6163 6865", REQ2, T2, 110],
      ["8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65", REQ3, T3, 164],
    ]);
  });
  it("C.4 requests with Huffman", () => {
    runSteps(new HpackDecoder(), [
      ["8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", REQ1, T1, 57],
      ["8286 84be 5886 a8eb 1064 9cbf", REQ2, T2, 110],
      ["8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf", REQ3, T3, 164],
    ]);
  });
  it("C.5 responses without Huffman (table size 256, evictions)", () => {
    const d = new HpackDecoder({ maxTableSize: 256 });
    d.table.setMaxSize(256);
    runSteps(d, [
      [
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        RES1,
        RT1,
        222,
      ],
      ["4803 3330 37c1 c0bf", RES2, RT2, 222],
      [
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
        RES3,
        RT3,
        215,
      ],
    ]);
  });
  it("C.6 responses with Huffman (table size 256, evictions)", () => {
    const d = new HpackDecoder({ maxTableSize: 256 });
    d.table.setMaxSize(256);
    runSteps(d, [
      [
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        RES1,
        RT1,
        222,
      ],
      ["4883 640e ffc1 c0bf", RES2, RT2, 222],
      [
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        RES3,
        RT3,
        215,
      ],
    ]);
  });
});

describe("HPACK encoder reproduces Appendix C", () => {
  const indexAll = [":authority", "cache-control", "custom-key", ":status", "date", "location"];
  it("C.3 (no Huffman) and C.4 (Huffman) request blocks", () => {
    for (const [huffman, blocks] of [
      [
        false,
        [
          "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
          "8286 84be 5808 6e6f 2d63 6163 6865",
          "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        ],
      ],
      [
        true,
        [
          "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
          "8286 84be 5886 a8eb 1064 9cbf",
          "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        ],
      ],
    ] as const) {
      const e = new HpackEncoder({ indexed: indexAll, huffman });
      assert.equal(encode(e, REQ1).toString("hex"), hex(blocks[0]).toString("hex"));
      assert.equal(encode(e, REQ2).toString("hex"), hex(blocks[1]).toString("hex"));
      assert.equal(encode(e, REQ3).toString("hex"), hex(blocks[2]).toString("hex"));
      assert.deepEqual(e.table.entries(), T3);
    }
  });
  it("C.6 response blocks with a 256-byte table", () => {
    const e = new HpackEncoder({
      indexed: [...indexAll, "content-encoding", "set-cookie"],
      huffman: true,
      maxTableSize: 256,
    });
    const first = encode(e, RES1);
    // The first block announces the size change to 256.
    assert.equal(
      first.toString("hex"),
      `3fe101${hex("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3").toString("hex")}`,
    );
    assert.equal(encode(e, RES2).toString("hex"), "4883640effc1c0bf");
    assert.deepEqual(e.table.entries(), RT2);
  });
});

describe("Huffman code", () => {
  it("is the RFC 7541 Appendix B code (spot checks)", () => {
    const spot: [number, number, number][] = [
      [0, 0x1ff8, 13],
      [32, 0x14, 6],
      [48, 0x0, 5],
      [97, 0x3, 5],
      [127, 0xffffffc, 28],
      [255, 0x3ffffee, 26],
      [256, 0x3fffffff, 30],
      [10, 0x3ffffffc, 30],
    ];
    for (const [sym, code, len] of spot) {
      assert.equal(HUFFMAN_CODES[sym], code, `code of ${sym}`);
      assert.equal(HUFFMAN_LENGTHS[sym], len, `length of ${sym}`);
    }
  });
  it("round-trips every octet and random strings", () => {
    let all = "";
    for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
    const enc = huffmanEncode(all);
    assert.equal(huffmanDecode(enc, 0, enc.length), all);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const s = Buffer.from(bytes).toString("latin1");
        const e = huffmanEncode(s);
        return huffmanDecode(e, 0, e.length) === s;
      }),
    );
  });
  it("rejects EOS, long padding and non-EOS padding", () => {
    // EOS (30 ones) inside the string.
    assert.throws(() => huffmanDecode(hex("ffffffff"), 0, 4), isCompressionError);
    // 'a' (00011) then 8+3 bits of ones: padding longer than 7 bits.
    assert.throws(() => huffmanDecode(hex("1fff"), 0, 2), isCompressionError);
    // '0' (00000) padded with zeros instead of ones.
    assert.throws(() => huffmanDecode(hex("00"), 0, 1), isCompressionError);
    // Valid: '0' padded with 111.
    assert.equal(huffmanDecode(hex("07"), 0, 1), "0");
  });
});

describe("HPACK decoding errors (COMPRESSION_ERROR)", () => {
  const bad: [string, string][] = [
    ["index 0", "80"],
    ["static index out of range (62 with an empty table)", "be"],
    ["name index out of range", "7f00 0161"],
    ["integer overflow", "ff ff ff ff ff ff 7f"],
    ["truncated integer", "ff 80"],
    ["string longer than the block", "40 0a 6162"],
    ["Huffman string with bad padding", "40 81 00 81 07"],
    ["Huffman EOS", "40 84 ffffffff 81 07"],
    ["size update over the limit", "3f e2 1f"],
    ["size update after a header", "82 20"],
  ];
  for (const [what, block] of bad) {
    it(what, () => {
      assert.throws(() => decodeAll(new HpackDecoder(), hex(block)), isCompressionError);
    });
  }
  it("size updates within the limit evict", () => {
    const d = new HpackDecoder();
    decodeAll(d, hex("400a637573746f6d2d6b65790d637573746f6d2d686561646572"));
    assert.equal(d.table.length, 1);
    assert.deepEqual(decodeAll(d, hex("20 3f e1 1f 82")), [":method", "GET"]);
    assert.equal(d.table.length, 0);
    assert.equal(d.table.maxSize, 4096);
  });
  it("header list size limit: block decoded, headers dropped, flag set", () => {
    const d = new HpackDecoder({ maxHeaderListSize: 100 });
    const e = new HpackEncoder({ indexed: ["x-big"] });
    const big = encode(e, ["x-big", "v".repeat(200), "x-small", "1"]);
    const out: string[] = [];
    const size = d.decode(big, 0, big.length, out);
    assert.equal(d.oversized, true);
    assert.ok(size > 100);
    assert.equal(d.table.length, 1, "indexed entry still inserted");
    const ok = encode(e, ["x-small", "1"]);
    assert.deepEqual(decodeAll(d, ok), ["x-small", "1"]);
    assert.equal(d.oversized, false);
  });
});

describe("HPACK encoder", () => {
  it("uses static exact matches, never-indexed for sensitive headers", () => {
    const e = new HpackEncoder();
    const b = encode(e, [":method", "POST", ":scheme", "http", "authorization", "Bearer x"]);
    assert.equal(b[0], 0x83);
    assert.equal(b[1], 0x86);
    assert.equal(b[2]! & 0xf0, 0x10, "never indexed");
    assert.equal(b[2]! & 0x0f, 0x0f, "static name index 23 on 4 bits");
    assert.equal(e.table.length, 0);
  });
  it("second identical gRPC request is a handful of bytes", () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const req = [
      ":method",
      "POST",
      ":scheme",
      "http",
      ":path",
      "/example.EchoService/Echo",
      ":authority",
      "127.0.0.1:8000",
      "content-type",
      "application/grpc",
      "te",
      "trailers",
      "grpc-timeout",
      "1000m",
      "user-agent",
      "grpc-node-js/1.14.7",
    ];
    const a = encode(e, req);
    const b = encode(e, req);
    // Everything but grpc-timeout (a literal, its value varies) is one byte.
    assert.ok(b.length <= 23, `second block ${b.length} bytes`);
    assert.deepEqual(decodeAll(d, a), req);
    assert.deepEqual(decodeAll(d, b), req);
  });
  it("honours the peer's table size (size update, evictions)", () => {
    const e = new HpackEncoder({ indexed: ["x-a"] });
    const d = new HpackDecoder();
    assert.deepEqual(decodeAll(d, encode(e, ["x-a", "1"])), ["x-a", "1"]);
    e.setPeerTableSize(0);
    const b = encode(e, ["x-a", "1"]);
    assert.equal(b[0], 0x20, "size update to 0 first");
    assert.deepEqual(decodeAll(d, b), ["x-a", "1"]);
    assert.equal(d.table.length, 0);
    e.setPeerTableSize(100);
    e.setPeerTableSize(50);
    const c = encode(e, ["x-a", "2", "x-a", "2"]);
    assert.deepEqual(decodeAll(d, c), ["x-a", "2", "x-a", "2"]);
    assert.equal(d.table.maxSize, 50);
    assert.equal(d.table.length, 1);
  });
  it("writeInt: RFC 7541 C.1 examples", () => {
    const w = new Writer(16);
    writeInt(w, 0, 5, 10);
    writeInt(w, 0, 5, 1337);
    writeInt(w, 0, 8, 42);
    assert.equal(Buffer.from(w.take()).toString("hex"), "0a1f9a0a2a");
  });
  it("round trips random header lists through one encoder/decoder pair (fast-check)", () => {
    const name = fc.oneof(
      fc.constantFrom(
        ":path",
        ":authority",
        "content-type",
        "te",
        "grpc-status",
        "x-custom",
        "authorization",
        "cookie",
        "accept-encoding",
        ":method",
      ),
      fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
    );
    const value = fc.oneof(
      fc.constantFrom("", "GET", "POST", "application/grpc", "trailers", "0", "gzip, deflate"),
      fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b).toString("latin1")),
    );
    const list = fc.array(fc.tuple(name, value), { maxLength: 20 }).map((l) => l.flat());
    fc.assert(
      fc.property(
        fc.array(list, { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 4096 }),
        (lists, huffman, tableSize) => {
          const e = new HpackEncoder({
            huffman,
            indexed: [":path", ":authority", "x-custom", "content-type", "te"],
          });
          const d = new HpackDecoder();
          e.setPeerTableSize(tableSize);
          for (const l of lists) {
            const got = decodeAll(d, encode(e, l));
            assert.deepEqual(got, l);
            assert.deepEqual(d.table.entries(), e.table.entries());
          }
        },
      ),
      { numRuns: 300 },
    );
  });
  it("static table has 61 entries", () => {
    assert.equal(STATIC_COUNT, 61);
  });
});
