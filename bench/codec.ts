/**
 * Micro-benchmark of the compiled protobuf codec (src/codec) against @bufbuild's
 * `toBinary`/`fromBinary` and, when installed, protobufjs.
 *
 * Run: `npx tsc -p . && node dist/bench/codec.js` (BENCH_CODEC_MS sets the time per case).
 */

import { fileURLToPath } from "node:url";
import { create, type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { EchoRequestSchema } from "../examples/gen/peer_pb.js";
import { codecOf } from "../src/codec/index.js";
import { Writer } from "../src/io/writer.js";
import { CompositeSchema, ScalarsSchema } from "../test/gen/codec_p3_pb.js";
import { nsPerOp as microNsPerOp } from "./lib/micro.js";

const MS = Number(process.env.BENCH_CODEC_MS ?? 400);

let sink: unknown;

function nsPerOp(fn: () => void): number {
  return microNsPerOp(fn, MS, 5_000);
}

interface PbjsType {
  encode(m: unknown): { finish(): Uint8Array };
  decode(b: Uint8Array): unknown;
}

/** protobufjs types from the same .proto files, if protobufjs is installed. */
async function loadProtobufjs(): Promise<((name: string) => PbjsType) | undefined> {
  try {
    const name = "protobufjs";
    const pb = (await import(name)).default as {
      Root: new () => {
        loadSync(files: string[], opts: { keepCase: boolean }): { lookupType(n: string): PbjsType };
      };
    };
    const root = new pb.Root().loadSync(
      [
        fileURLToPath(new URL("../../proto/peer.proto", import.meta.url)),
        fileURLToPath(new URL("../../test/fixtures/proto/codec_p3.proto", import.meta.url)),
      ],
      { keepCase: false },
    );
    return (n) => root.lookupType(n);
  } catch {
    return undefined;
  }
}

interface Row {
  name: string;
  bytes: number;
  /** Encode of the plain init object (no create()). */
  oursInit: number;
  ours: [number, number];
  bufbuild: [number, number];
  pbjs: [number, number] | undefined;
}

function bench<D extends DescMessage>(
  name: string,
  schema: D,
  init: Parameters<typeof create<D>>[1],
  pbjs: ((name: string) => PbjsType) | undefined,
): Row {
  const codec = codecOf<MessageShape<D>>(schema);
  const msg = create(schema, init);
  const bytes = toBinary(schema, msg);
  const w = new Writer();
  const buf = Buffer.from(bytes);
  const ours: [number, number] = [
    nsPerOp(() => {
      const at = w.mark();
      codec.encode(msg, w);
      w.rewind(at);
    }),
    nsPerOp(() => {
      sink = codec.decode(buf, 0, buf.length);
    }),
  ];
  // Measured second: the encoder has then seen two object shapes (as a server may).
  const oursInit = nsPerOp(() => {
    const at = w.mark();
    codec.encode(init, w);
    w.rewind(at);
  });
  const bufbuild: [number, number] = [
    nsPerOp(() => {
      sink = toBinary(schema, msg);
    }),
    nsPerOp(() => {
      sink = fromBinary(schema, bytes);
    }),
  ];
  let pb: [number, number] | undefined;
  const type = pbjs?.(schema.typeName);
  if (type !== undefined) {
    const pmsg = type.decode(bytes);
    pb = [
      nsPerOp(() => {
        sink = type.encode(pmsg).finish();
      }),
      nsPerOp(() => {
        sink = type.decode(bytes);
      }),
    ];
  }
  return { name, bytes: bytes.length, oursInit, ours, bufbuild, pbjs: pb };
}

const pbjs = await loadProtobufjs();
const text = "The quick brown fox jumps over the lazy dog. ".repeat(30);
const rows = [
  bench("EchoRequest", EchoRequestSchema, { message: "hello world 0123" }, pbjs),
  bench(
    "EchoRequest 1 KiB text",
    EchoRequestSchema,
    { message: text.slice(0, 1024).padEnd(1024, "x") },
    pbjs,
  ),
  bench(
    "Composite (nested, map, oneof)",
    CompositeSchema,
    {
      inner: {
        name: "inner",
        id: 7,
        children: [
          { name: "a", id: 1 },
          { name: "b", id: 2 },
        ],
      },
      inners: [
        { name: "x", id: 1 },
        { name: "y", id: 2 },
        { name: "z", id: 3 },
      ],
      mStr: { alpha: "one", beta: "two", gamma: "three" },
      mMsg: { 1: { name: "m1" }, 2: { name: "m2" } },
      choice: { case: "cString", value: "selected" },
    },
    pbjs,
  ),
  bench(
    "Scalars (16 singular + 3 packed)",
    ScalarsSchema,
    {
      fDouble: 1.5,
      fFloat: 2.5,
      fInt64: 1234567890123n,
      fUint64: 42n,
      fInt32: -5,
      fFixed64: 9n,
      fFixed32: 10,
      fBool: true,
      fString: "scalar string",
      fBytes: new Uint8Array([1, 2, 3, 4]),
      fUint32: 300,
      fEnum: 2,
      fSfixed32: -7,
      fSfixed64: -8n,
      fSint32: -9,
      fSint64: -10n,
      rInt32: [1, 2, 3, 300, -1],
      rDouble: [0.5, 1.5],
      rString: ["a", "bc"],
    },
    pbjs,
  ),
];

const fmt = (n: number | undefined): string => (n === undefined ? "-" : n.toFixed(0)).padStart(8);
console.log(`node ${process.version}, ${MS} ms per case, best of 3; ns/op`);
console.log("encode input: the create()d message (ours also: the plain init object); decode input: a Buffer");
console.log(
  `${"message".padEnd(32)}${"bytes".padStart(6)} | ${"ours enc".padStart(8)} ${"(init)".padStart(8)} ${"dec".padStart(8)} | ${"@bufbuild".padStart(8)} ${"dec".padStart(8)} | ${"pbjs enc".padStart(8)} ${"dec".padStart(8)}`,
);
for (const r of rows) {
  console.log(
    `${r.name.padEnd(32)}${String(r.bytes).padStart(6)} | ${fmt(r.ours[0])} ${fmt(r.oursInit)} ${fmt(r.ours[1])} | ${fmt(r.bufbuild[0])} ${fmt(r.bufbuild[1])} | ${fmt(r.pbjs?.[0])} ${fmt(r.pbjs?.[1])}`,
  );
}
void sink;
