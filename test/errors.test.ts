/** The error table matches brpc's errno.proto and the Linux errno values brpc puts on the wire. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeError, ErrorCode, errorName, RETRYABLE_BY_DEFAULT, RpcError } from "../src/index.js";

describe("error codes", () => {
  it("has brpc's numbers", () => {
    const expected: Record<string, number> = {
      ENOSERVICE: 1001,
      ENOMETHOD: 1002,
      EREQUEST: 1003,
      ERPCAUTH: 1004,
      ETOOMANYFAILS: 1005,
      EPCHANFINISH: 1006,
      EBACKUPREQUEST: 1007,
      ERPCTIMEDOUT: 1008,
      EFAILEDSOCKET: 1009,
      EHTTP: 1010,
      EOVERCROWDED: 1011,
      ERTMPPUBLISHABLE: 1012,
      ERTMPCREATESTREAM: 1013,
      EEOF: 1014,
      EUNUSED: 1015,
      ESSL: 1016,
      EH2RUNOUTSTREAMS: 1017,
      EREJECT: 1018,
      EPROGREADTIMEOUT: 1019,
      EINTERNAL: 2001,
      ERESPONSE: 2002,
      ELOGOFF: 2003,
      ELIMIT: 2004,
      ECLOSE: 2005,
      EITP: 2006,
      ESHUTDOWNWRITE: 2007,
      ERDMA: 3001,
      ERDMAMEM: 3002,
      // Linux values, whatever the platform.
      EPERM: 1,
      ENOENT: 2,
      EBADF: 9,
      EAGAIN: 11,
      EINVAL: 22,
      EPIPE: 32,
      ECONNRESET: 104,
      ETIMEDOUT: 110,
      ECONNREFUSED: 111,
      EHOSTDOWN: 112,
      ECANCELED: 125,
    };
    for (const [name, code] of Object.entries(expected)) {
      assert.equal((ErrorCode as Record<string, number>)[name], code, name);
      assert.equal(errorName(code), name);
    }
  });

  it("every code has a name and a description", () => {
    for (const [name, code] of Object.entries(ErrorCode)) {
      assert.equal(errorName(code), name);
      assert.doesNotMatch(describeError(code), /^Unknown error/, name);
    }
    assert.equal(errorName(4242), "E4242");
  });

  it("retries brpc's default set only", () => {
    const want = [1009, 1014, 112, 2003, 110, 2004, 2, 32, 111, 104, 61, 1011, 1017].sort();
    assert.deepEqual([...RETRYABLE_BY_DEFAULT].sort(), want);
    assert.equal(RETRYABLE_BY_DEFAULT.has(ErrorCode.ERPCTIMEDOUT), false);
    assert.equal(RETRYABLE_BY_DEFAULT.has(ErrorCode.ECANCELED), false);
  });

  it("RpcError carries code, name and text and survives duplicate installs", () => {
    const e = new RpcError(ErrorCode.ELIMIT, "[E2004]busy");
    assert.equal(e.code, 2004);
    assert.equal(e.codeName, "ELIMIT");
    assert.equal(e.text, "[E2004]busy");
    assert.equal(e.message, "[E2004]busy");
    assert.equal(e.name, "RpcError");
    assert.ok(e instanceof Error);
    const foreign = Object.assign(Object.create(Object.getPrototypeOf(e)), { code: 1 });
    assert.ok(foreign instanceof RpcError);
    assert.equal(RpcError.from(new Error("x")).code, ErrorCode.EINTERNAL);
    assert.equal(RpcError.from(e), e);
  });
});
