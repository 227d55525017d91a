/** gRPC framing helpers: length-prefixed messages, status mapping, grpc-timeout, grpc-message, metadata. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ErrorCode, RpcError } from "../src/index.js";
import {
  acceptsEncoding,
  compressMessage,
  decodeGrpcMessage,
  decompressMessage,
  encodeGrpcMessage,
  errorCodeOfGrpcStatus,
  formatGrpcTimeout,
  frameMessage,
  type GrpcMessage,
  GrpcStatus,
  grpcStatusOf,
  MessageDecoder,
  parseGrpcTimeout,
} from "../src/protocol/grpc/framing.js";
import { addMetadata, metadataOfHeaders } from "../src/protocol/grpc/metadata.js";

describe("gRPC status mapping (brpc grpc.cpp)", () => {
  it("brpc -> gRPC (ErrorCodeToGrpcStatus)", () => {
    const table: [number, number][] = [
      [0, GrpcStatus.OK],
      [ErrorCode.ENOSERVICE, GrpcStatus.UNIMPLEMENTED],
      [ErrorCode.ENOMETHOD, GrpcStatus.UNIMPLEMENTED],
      [ErrorCode.ERPCAUTH, GrpcStatus.UNAUTHENTICATED],
      [ErrorCode.EREQUEST, GrpcStatus.INVALID_ARGUMENT],
      [ErrorCode.EINVAL, GrpcStatus.INVALID_ARGUMENT],
      [ErrorCode.ELIMIT, GrpcStatus.RESOURCE_EXHAUSTED],
      [ErrorCode.ELOGOFF, GrpcStatus.UNAVAILABLE],
      [ErrorCode.EPERM, GrpcStatus.PERMISSION_DENIED],
      [ErrorCode.ERPCTIMEDOUT, GrpcStatus.DEADLINE_EXCEEDED],
      [ErrorCode.ETIMEDOUT, GrpcStatus.INTERNAL],
      [ErrorCode.ECANCELED, GrpcStatus.CANCELLED],
      [ErrorCode.EINTERNAL, GrpcStatus.INTERNAL],
      [ErrorCode.EEOF, GrpcStatus.INTERNAL],
      [99999, GrpcStatus.INTERNAL],
    ];
    for (const [code, status] of table) assert.equal(grpcStatusOf(code), status, `code ${code}`);
  });

  it("gRPC -> brpc (GrpcStatusToErrorCode)", () => {
    const table: [number, number][] = [
      [GrpcStatus.OK, 0],
      [GrpcStatus.CANCELLED, ErrorCode.ECANCELED],
      [GrpcStatus.INVALID_ARGUMENT, ErrorCode.EINVAL],
      [GrpcStatus.DEADLINE_EXCEEDED, ErrorCode.ERPCTIMEDOUT],
      [GrpcStatus.ALREADY_EXISTS, ErrorCode.EEXIST],
      [GrpcStatus.PERMISSION_DENIED, ErrorCode.EPERM],
      [GrpcStatus.RESOURCE_EXHAUSTED, ErrorCode.ELIMIT],
      [GrpcStatus.UNIMPLEMENTED, ErrorCode.ENOMETHOD],
      [GrpcStatus.UNAUTHENTICATED, ErrorCode.ERPCAUTH],
      [GrpcStatus.UNKNOWN, ErrorCode.EINTERNAL],
      [GrpcStatus.NOT_FOUND, ErrorCode.EINTERNAL],
      [GrpcStatus.UNAVAILABLE, ErrorCode.EINTERNAL],
      [GrpcStatus.INTERNAL, ErrorCode.EINTERNAL],
      [GrpcStatus.DATA_LOSS, ErrorCode.EINTERNAL],
    ];
    for (const [status, code] of table) assert.equal(errorCodeOfGrpcStatus(status), code, `status ${status}`);
  });
});

describe("grpc-timeout", () => {
  it("parses digits + one unit into microseconds, as brpc's ConvertGrpcTimeoutToUS", () => {
    const table: [string, number | undefined][] = [
      ["1H", 3_600_000_000],
      ["2M", 120_000_000],
      ["3S", 3_000_000],
      ["1000m", 1_000_000],
      ["250u", 250],
      ["1500n", 2],
      ["1499n", 1],
      ["1n", 1],
      ["0n", 1],
      ["0m", 0],
      ["99999999S", 99_999_999_000_000],
      ["", undefined],
      ["m", undefined],
      ["10", undefined],
      ["10x", undefined],
      ["1.5S", undefined],
      ["-5m", undefined],
      ["5mm", undefined],
      [" 5m", undefined],
    ];
    for (const [v, us] of table) assert.equal(parseGrpcTimeout(v), us, JSON.stringify(v));
    assert.equal(parseGrpcTimeout(undefined), undefined);
  });

  it("formats milliseconds as brpc does (<ms>m), in coarser units past 8 digits", () => {
    assert.equal(formatGrpcTimeout(1000), "1000m");
    assert.equal(formatGrpcTimeout(0.2), "1m");
    assert.equal(formatGrpcTimeout(99_999_999), "99999999m");
    assert.equal(formatGrpcTimeout(100_000_000), "100000S");
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 45 }), (ms) => {
        const v = formatGrpcTimeout(ms);
        assert.match(v, /^\d{1,8}[HMSm]$/);
        const us = parseGrpcTimeout(v)!;
        assert.ok(us >= ms * 1000, `${v} shorter than ${ms}ms`);
      }),
    );
  });
});

describe("grpc-message percent-encoding", () => {
  it("gRPC style: printable ASCII but '%' kept; brpc style: all but A-Za-z-_.~ escaped", () => {
    assert.equal(encodeGrpcMessage("plain text: ok"), "plain text: ok");
    assert.equal(encodeGrpcMessage("100%"), "100%25");
    assert.equal(encodeGrpcMessage("é\n"), "%c3%a9%0a");
    assert.equal(
      encodeGrpcMessage("[127.0.0.1:8100][E2001]failed on purpose: hello 0", "brpc"),
      "%5b%31%32%37.%30.%30.%31%3a%38%31%30%30%5d%5bE%32%30%30%31%5dfailed%20on%20purpose%3a%20hello%20%30",
    );
  });

  it("decodes any encoder's output, keeps malformed escapes", () => {
    assert.equal(decodeGrpcMessage("a%20b%3A%3a"), "a b::");
    assert.equal(decodeGrpcMessage("100%"), "100%");
    assert.equal(decodeGrpcMessage("%zz%4"), "%zz%4");
    assert.equal(decodeGrpcMessage("%E2%9C%93"), "✓");
  });

  it("round-trips every string in both styles", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (s) => {
        assert.equal(decodeGrpcMessage(encodeGrpcMessage(s)), s);
        assert.equal(decodeGrpcMessage(encodeGrpcMessage(s, "brpc")), s);
        assert.match(encodeGrpcMessage(s), /^[\x20-\x7e]*$/);
      }),
    );
  });
});

describe("length-prefixed messages", () => {
  it("decodes messages split at any chunk boundaries", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ maxLength: 300 })), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
        (msgs, cuts) => {
          const wire = Buffer.concat(msgs.map(([c, p]) => frameMessage(p, c)));
          const d = new MessageDecoder(1000);
          const got: GrpcMessage[] = [];
          let off = 0;
          let i = 0;
          while (off < wire.length) {
            const n = cuts[i++ % cuts.length]!;
            d.push(wire.subarray(off, off + n), {
              onMessage: (m) => got.push({ compressed: m.compressed, data: Buffer.from(m.data) }),
            });
            off += n;
          }
          assert.equal(d.bufferedBytes, 0);
          assert.deepEqual(
            got.map((m) => [m.compressed, [...m.data]]),
            msgs.map(([c, p]) => [c, [...p]]),
          );
        },
      ),
    );
  });

  it("refuses an oversized message on its prefix (ELIMIT) and a bad flag (EINTERNAL)", () => {
    const d = new MessageDecoder(10);
    assert.throws(
      () => d.pushTo(Buffer.from([0, 0, 0, 0, 11]), []),
      (e: unknown) => e instanceof RpcError && e.code === ErrorCode.ELIMIT && /11 vs\. 10/.test(e.text),
    );
    assert.throws(
      () => new MessageDecoder(10).pushTo(Buffer.from([7, 0, 0, 0, 1, 0]), []),
      (e: unknown) => e instanceof RpcError && e.code === ErrorCode.EINTERNAL,
    );
    const partial = new MessageDecoder(10);
    partial.push(Buffer.from([0, 0, 0, 0, 5, 1]), { onMessage: () => assert.fail("incomplete") });
    assert.equal(partial.bufferedBytes, 1);
    assert.equal(partial.describePartial(), "1 of 5 bytes");
  });

  it("gzip/deflate round trip; decompression bounded", async () => {
    const data = Buffer.alloc(5000, 3);
    for (const enc of ["gzip", "deflate"] as const) {
      const z = await compressMessage(enc, data);
      assert.deepEqual(await decompressMessage(enc, z, 5000), data);
      await assert.rejects(
        decompressMessage(enc, z, 4999),
        (e: unknown) => e instanceof RpcError && e.code === ErrorCode.ELIMIT,
      );
      await assert.rejects(
        decompressMessage(enc, Buffer.from("junk"), 10),
        (e: unknown) => e instanceof RpcError && e.code === ErrorCode.EINTERNAL,
      );
    }
    await assert.rejects(
      decompressMessage("identity", data, 10_000),
      (e: unknown) => e instanceof RpcError && e.code === ErrorCode.EINTERNAL,
    );
    assert.equal(acceptsEncoding("identity, deflate ,gzip", "gzip"), true);
    assert.equal(acceptsEncoding("identity", "gzip"), false);
    assert.equal(acceptsEncoding(undefined, "identity"), true);
  });
});

describe("metadata", () => {
  it("request headers: pseudo, grpc-*, transport headers skipped; -bin decoded", () => {
    const md = metadataOfHeaders({
      ":path": "/a/b",
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": "1S",
      "grpc-encoding": "gzip",
      "user-agent": "x",
      "x-a": "1",
      "x-b-bin": Buffer.from([1, 2]).toString("base64"),
      "x-c-bin": `${Buffer.from([1]).toString("base64")},${Buffer.from([2, 3]).toString("base64")}`,
    });
    assert.deepEqual(md, {
      "user-agent": "x",
      "x-a": "1",
      "x-b-bin": Buffer.from([1, 2]),
      "x-c-bin": Buffer.from([1, 2, 3]),
    });
  });

  it("response metadata: reserved and invalid names skipped, bytes base64", () => {
    const out: Record<string, string> = {};
    addMetadata(out, {
      "X-Upper": "v",
      "grpc-status": "0",
      ":status": "500",
      "content-type": "text/plain",
      "bad name": "x",
      "k-bin": new Uint8Array([0xff, 0]),
      "t-bin": "hé",
    });
    assert.deepEqual(out, {
      "x-upper": "v",
      "k-bin": Buffer.from([0xff, 0]).toString("base64"),
      "t-bin": Buffer.from("hé").toString("base64"),
    });
  });
});
