/**
 * Field report 2: streaming to a peer that vanished never hangs. A peer that stops
 * reading (SIGSTOP) or whose packets are dropped (a network namespace behind iptables
 * DROP) is detected by the write-progress watchdog on client and server connections,
 * and every stream, write and call on the connection fails promptly with ETIMEDOUT; a
 * write waiting for window room gives up at its deadline, which is finite by default.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { EchoService } from "../examples/gen/peer_pb.js";
import { Channel, ErrorCode, RpcError, Server, type ServerContext, Stream } from "../src/index.js";
import { timers } from "../src/io/timers.js";
import type { Connection } from "../src/transport/connection.js";
import { eventually, settle } from "./helpers/servers.js";
import { killPeer, type StreamPeer, startStreamPeer } from "./helpers/stream-procs.js";
import { guardEventLoop } from "./helpers/stream-stall-guard.js";
import { pump, recordingHandler, within } from "./helpers/stream-watch.js";

guardEventLoop("stream-dead-peer.test");

const STALL_MS = 500;
/** Generous bound for "promptly": the watchdog needs STALL_MS once the buffers are full. */
const PROMPT_MS = 20_000;
const BIG = Buffer.alloc(256 * 1024, 0x61);

async function rejection(p: Promise<unknown>): Promise<RpcError> {
  const r = await settle(p);
  assert.equal(r.ok, false, "expected a rejection");
  const e = (r as { error: unknown }).error;
  assert.ok(e instanceof RpcError, `RpcError expected, got ${String(e)}`);
  return e;
}

/** Start a stream peer server child and return it with its port. */
async function startPeerServer(wrapper: string[] = [], host = "127.0.0.1"): Promise<[StreamPeer, number]> {
  const peer = startStreamPeer(["server", "--host", host], wrapper);
  try {
    const m = await peer.waitFor(/listening on \S*:(\d+)/);
    return [peer, Number(m[1])];
  } catch (err) {
    await killPeer(peer.child);
    throw err;
  }
}

/**
 * Open a writer stream (unlimited window) and an idle stream on `ch`, start a call that
 * the peer will not answer in time, then run `blackhole()` and write until the watchdog
 * fails the connection. Asserts that everything on the connection failed with ETIMEDOUT.
 */
async function expectWatchdogFailsEverything(ch: Channel, blackhole: () => void): Promise<void> {
  const echo = ch.client(EchoService);
  const w = recordingHandler();
  const idle = recordingHandler();
  const writer = new Stream({ maxBufSize: 0, handler: w.handler });
  const quiet = new Stream({ handler: idle.handler });
  await echo.echo({ message: "writer", openStream: true }, { stream: writer });
  await echo.echo({ message: "idle", openStream: true }, { stream: quiet });
  const conn = ch.source.ready() as Connection;
  assert.ok(conn !== undefined && !conn.failed);
  assert.equal(conn.streams?.size, 2);
  assert.equal(writer.state, "open");

  blackhole();
  // A call whose answer would come long after the watchdog's verdict.
  const call = echo.echo({ message: "pending", sleepMs: 60_000 }, { timeoutMs: 60_000 });
  const pumping = pump(writer, BIG);
  // More writers waiting on the same full connection.
  assert.ok(await eventually(() => conn.overcrowded || conn.failed, PROMPT_MS), "the backlog never filled");
  const waiting = [writer.write(BIG), writer.write(BIG), writer.wait()];

  const callErr = await within(PROMPT_MS, rejection(call), "failure of the pending call");
  assert.equal(callErr.code, ErrorCode.ETIMEDOUT, callErr.text);
  assert.match(callErr.text, /No write progress for 500ms/);
  assert.ok(conn.failed);
  assert.equal(conn.errorCode, ErrorCode.ETIMEDOUT);

  const stopped = await within(PROMPT_MS, pumping, "the writer's last write() to reject");
  assert.ok(stopped.error instanceof RpcError, String(stopped.error));
  assert.equal(stopped.error.code, ErrorCode.ECONNRESET, stopped.error.text);
  assert.match(stopped.error.text, /No write progress/);
  for (const p of waiting) {
    const e = await within(PROMPT_MS, rejection(p), "a pending write()/wait() to reject");
    assert.equal(e.code, ErrorCode.ECONNRESET, e.text);
  }
  await within(PROMPT_MS, Promise.all([writer.closed, quiet.closed]), "both streams to close");
  for (const [s, log] of [
    [writer, w.log],
    [quiet, idle.log],
  ] as const) {
    assert.deepEqual(log.events, [`failed:${ErrorCode.ETIMEDOUT}`, "closed"]);
    assert.equal(s.state, "failed");
    assert.equal(s.errorCode, ErrorCode.ETIMEDOUT);
    assert.match(log.failedText, /the peer stopped reading or is unreachable/);
  }
  // Later writes fail at once, without waiting.
  assert.equal((await rejection(writer.write("late"))).code, ErrorCode.ECONNRESET);
  assert.equal(conn.streams?.size ?? 0, 0, "no stream left on the failed connection");
  assert.equal(conn.pending.size, 0, "no call left on the failed connection");
  assert.ok(conn.socket.destroyed, "the failed connection's socket is destroyed");
  assert.equal(ch.source.ready(), undefined, "the dead connection is dropped");
  assert.equal(timers.size, 0, "no timer left");
}

describe("a peer that stops reading (SIGSTOP)", () => {
  it("client, unlimited window: the watchdog fails the connection; streams, writes and calls fail with ETIMEDOUT", async () => {
    const [peer, port] = await startPeerServer();
    const ch = new Channel(`127.0.0.1:${port}`, {
      maxRetry: 0,
      timeoutMs: 5000,
      writeStallTimeoutMs: STALL_MS,
      maxUnwrittenBytes: 4 * 1024 * 1024,
    });
    try {
      await expectWatchdogFailsEverything(ch, () => peer.child.kill("SIGSTOP"));
    } finally {
      ch.close();
      await killPeer(peer.child);
    }
  });

  it("client, default window: write() and wait() reject at their deadline (finite by default); the stream survives", async () => {
    const [peer, port] = await startPeerServer();
    // Default watchdog (30 s): the window, not the connection, is what blocks here.
    const ch = new Channel(`127.0.0.1:${port}`, { maxRetry: 0, timeoutMs: 5000 });
    const rec = recordingHandler();
    const stream = new Stream({ handler: rec.handler });
    try {
      assert.equal(stream.options.writeTimeoutMs, 10_000, "the default deadline of write()/wait()");
      assert.equal(stream.options.maxBufSize, 2 * 1024 * 1024, "the default window");
      await ch.client(EchoService).echo({ message: "open", openStream: true }, { stream });
      peer.child.kill("SIGSTOP");
      const chunk = Buffer.alloc(64 * 1024, 0x62);
      let n = 0;
      while (stream.tryWrite(chunk) === 0) n++;
      assert.equal(n * chunk.length, 2 * 1024 * 1024, "tryWrite fills exactly the window");
      assert.equal(stream.tryWrite(chunk), ErrorCode.EAGAIN);

      const ac = new AbortController();
      const byDefault = settle(stream.write(chunk)); // the stream's writeTimeoutMs: 10 s
      const shortWrite = rejection(stream.write(chunk, { timeoutMs: 300 }));
      const shortWait = rejection(stream.wait({ timeoutMs: 300 }));
      const aborted = rejection(stream.wait({ signal: ac.signal }));
      const e1 = await within(PROMPT_MS, shortWrite, "write({timeoutMs: 300}) to reject");
      assert.equal(e1.code, ErrorCode.ETIMEDOUT, e1.text);
      assert.match(e1.text, /was not writable within 300ms/);
      const e2 = await within(PROMPT_MS, shortWait, "wait({timeoutMs: 300}) to reject");
      assert.equal(e2.code, ErrorCode.ETIMEDOUT, e2.text);
      ac.abort();
      assert.equal(
        (await within(PROMPT_MS, aborted, "an aborted wait() to reject")).code,
        ErrorCode.ECANCELED,
      );
      const r = await within(PROMPT_MS, byDefault, "write() with the default deadline to reject");
      assert.equal(r.ok, false, "write() without options must not wait forever");
      const e3 = (r as { error: unknown }).error as RpcError;
      assert.equal(e3.code, ErrorCode.ETIMEDOUT, e3.text);
      assert.match(e3.text, /was not writable within 10000ms/);

      // Timed-out waits do not break the stream: once the peer reads again, writes flow.
      assert.equal(stream.state, "open");
      assert.deepEqual(rec.log.events, []);
      peer.child.kill("SIGCONT");
      await within(PROMPT_MS, stream.write(chunk, { timeoutMs: 15_000 }), "a write after the peer resumed");
      stream.close();
      await within(PROMPT_MS, stream.closed, "the stream to close");
      assert.deepEqual(rec.log.events, ["closed"]);
      assert.equal(timers.size, 0, "no timer left");
    } finally {
      stream.reset();
      ch.close();
      await killPeer(peer.child);
    }
  });

  it("server: streaming to a client that stops reading fails with ETIMEDOUT, and so does its pending request", async () => {
    let accepted:
      | ((s: { stream: Stream; log: ReturnType<typeof recordingHandler>["log"] }) => void)
      | undefined;
    const acceptedP = new Promise<{ stream: Stream; log: ReturnType<typeof recordingHandler>["log"] }>(
      (r) => {
        accepted = r;
      },
    );
    let hangCtx: ServerContext | undefined;
    const server = new Server({ writeStallTimeoutMs: STALL_MS, maxUnwrittenBytes: 4 * 1024 * 1024 });
    server.addService(EchoService, {
      async echo(req, ctx) {
        if (req.message === "stream-to-me") {
          const rec = recordingHandler();
          const stream = ctx.acceptStream({ maxBufSize: 0, handler: rec.handler });
          accepted?.({ stream, log: rec.log });
        } else if (req.message === "hang") {
          hangCtx = ctx;
          const signal = ctx.signal;
          await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
        }
        return { message: req.message };
      },
    });
    await server.start("127.0.0.1:0");
    const peer = startStreamPeer(["client", "--address", server.address]);
    try {
      await peer.waitFor(/hang sent/);
      const { stream, log } = await acceptedP;
      assert.ok(await eventually(() => server.concurrency === 1 && hangCtx !== undefined));
      const conn = [...server.connections][0] as Connection;
      assert.equal(server.connections.size, 1);
      peer.child.kill("SIGSTOP");

      const pumping = pump(stream, BIG);
      assert.ok(
        await eventually(() => conn.overcrowded || conn.failed, PROMPT_MS),
        "the backlog never filled",
      );
      const waiting = [stream.write(BIG), stream.wait()];
      const stopped = await within(PROMPT_MS, pumping, "the server's last write() to reject");
      assert.ok(stopped.error instanceof RpcError, String(stopped.error));
      assert.equal(stopped.error.code, ErrorCode.ECONNRESET, stopped.error.text);
      for (const p of waiting) {
        const e = await within(PROMPT_MS, rejection(p), "a pending write()/wait() to reject");
        assert.equal(e.code, ErrorCode.ECONNRESET, e.text);
      }
      assert.ok(conn.failed);
      assert.equal(conn.errorCode, ErrorCode.ETIMEDOUT, conn.errorText);
      await within(PROMPT_MS, stream.closed, "the server stream to close");
      assert.deepEqual(log.events, [`failed:${ErrorCode.ETIMEDOUT}`, "closed"]);
      assert.equal(stream.errorCode, ErrorCode.ETIMEDOUT);

      // The request still running on that connection learns it through ctx.signal.
      const reason = (hangCtx as ServerContext).signal.reason as unknown;
      assert.ok(reason instanceof RpcError, String(reason));
      assert.equal(reason.code, ErrorCode.ETIMEDOUT);
      assert.ok(await eventually(() => server.concurrency === 0), "the hung request ended");
      assert.equal(server.connections.size, 0, "the dead connection is dropped");
      assert.equal(conn.streams?.size ?? 0, 0);
      assert.ok(conn.socket.destroyed);
      assert.equal(timers.size, 0, "no timer left");
    } finally {
      await killPeer(peer.child);
      await server.stop(0);
    }
  });
});

// ---- a peer whose packets are dropped -------------------------------------------------

const NS = "brpcts-deadpeer";
const VETH_HOST = "brpcts-dp0";
const VETH_NS = "brpcts-dp1";
const HOST_IP = "10.250.77.1";
const NS_IP = "10.250.77.2";

function sh(cmd: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd[0] as string, cmd.slice(1), { encoding: "utf8", timeout: 10_000 });
  return {
    ok: r.status === 0,
    out: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}`.trim(),
  };
}

function must(cmd: string[]): void {
  const r = sh(cmd);
  if (!r.ok) throw new Error(`${cmd.join(" ")} failed: ${r.out}`);
}

/** Remove what a previous (possibly crashed) run left behind. */
function cleanupNetns(): void {
  sh(["ip", "netns", "del", NS]);
  sh(["ip", "link", "del", VETH_HOST]);
}

/** Why the namespace test cannot run here, or false. */
function netnsSkipReason(): string | false {
  if (process.platform !== "linux") return "network namespaces need Linux";
  if (process.getuid?.() !== 0) return "needs root (ip netns, iptables)";
  if (!sh(["ip", "-V"]).ok) return "`ip` is missing (Debian package iproute2)";
  if (!sh(["iptables", "--version"]).ok) return "`iptables` is missing (Debian package iptables)";
  cleanupNetns();
  const add = sh(["ip", "netns", "add", NS]);
  if (!add.ok) return `cannot create a network namespace: ${add.out}`;
  const ipt = sh(["ip", "netns", "exec", NS, "iptables", "-L", "-n"]);
  cleanupNetns();
  if (!ipt.ok) return `iptables does not work in a network namespace: ${ipt.out}`;
  return false;
}

const skipNetns = netnsSkipReason();

describe("a peer whose packets are dropped (network namespace + iptables DROP)", () => {
  before(() => {
    if (skipNetns !== false) return;
    cleanupNetns();
    must(["ip", "netns", "add", NS]);
    must(["ip", "link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS]);
    must(["ip", "link", "set", VETH_NS, "netns", NS]);
    must(["ip", "addr", "add", `${HOST_IP}/30`, "dev", VETH_HOST]);
    must(["ip", "link", "set", VETH_HOST, "up"]);
    must(["ip", "-n", NS, "addr", "add", `${NS_IP}/30`, "dev", VETH_NS]);
    must(["ip", "-n", NS, "link", "set", VETH_NS, "up"]);
    must(["ip", "-n", NS, "link", "set", "lo", "up"]);
  });
  after(() => {
    if (skipNetns === false) cleanupNetns();
  });

  it("the client's watchdog fails the connection with ETIMEDOUT; every stream and call on it fails", {
    skip: skipNetns,
  }, async () => {
    const [peer, port] = await startPeerServer(["ip", "netns", "exec", NS], NS_IP);
    const ch = new Channel(`${NS_IP}:${port}`, {
      maxRetry: 0,
      timeoutMs: 5000,
      connectTimeoutMs: 5000,
      writeStallTimeoutMs: STALL_MS,
      maxUnwrittenBytes: 4 * 1024 * 1024,
    });
    try {
      await expectWatchdogFailsEverything(ch, () =>
        must(["ip", "netns", "exec", NS, "iptables", "-A", "INPUT", "-j", "DROP"]),
      );
    } finally {
      ch.close();
      await killPeer(peer.child);
    }
  });
});
