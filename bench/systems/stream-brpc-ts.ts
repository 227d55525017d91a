/**
 * Stream throughput of brpc-ts: the client (reader) creates ONE stream with one
 * `example.EchoService/Echo` call (`openStream: true`, the request's message says the
 * message size and the writer API), the server accepts it in its handler and writes messages
 * on it until the client closes it. One `Channel` (connection type "single"), one connection,
 * default stream options on both sides (2 MiB window), unless `BENCH_STREAM_WINDOW` (bytes,
 * inherited by both children) sets `maxBufSize` on both sides.
 *
 * Variants (`ctx.variant`, "<writer>+<reader>"):
 * - writer `write`: `await stream.write(msg)` per message;
 * - writer `tryWrite`: `stream.tryWrite(msg)`, and on EAGAIN / EOVERCROWDED `await stream.wait()`;
 * - reader `handler`: `handler.onReceivedMessages(stream, msgs)`;
 * - reader `iter`: `for await (const msg of stream)`.
 */
import { EchoService } from "../../examples/gen/peer_pb.js";
import { Channel, ErrorCode, RpcError, Server, Stream, type StreamOptions } from "../../src/index.js";
import { makeMessage, type StreamReadContext } from "../lib/stream.js";

type WriterMode = "write" | "tryWrite";

/** `maxBufSize` of both ends: default unless BENCH_STREAM_WINDOW is set. */
function streamOptions(): StreamOptions {
  const w = process.env.BENCH_STREAM_WINDOW;
  return w === undefined || w === "" ? {} : { maxBufSize: Number(w) };
}

/** Write messages of `size` bytes on `stream` until it closes. */
async function writeLoop(stream: Stream, size: number, mode: WriterMode): Promise<void> {
  let seq = 0;
  try {
    if (mode === "write") {
      for (;;) {
        await stream.write(makeMessage(size, seq));
        seq = (seq + 1) >>> 0;
      }
    } else {
      for (;;) {
        const msg = makeMessage(size, seq);
        for (;;) {
          const rc = stream.tryWrite(msg);
          if (rc === 0) break;
          if (rc !== ErrorCode.EAGAIN && rc !== ErrorCode.EOVERCROWDED)
            throw new RpcError(rc, `tryWrite returned ${rc}`);
          await stream.wait();
        }
        seq = (seq + 1) >>> 0;
      }
    }
  } catch (err) {
    // The reader closing the stream ends the run; anything else is a failure worth seeing.
    if (stream.state === "open" || stream.state === "connecting") {
      console.error(`[stream brpc-ts] writer failed after ${seq} messages:`, err);
    }
  }
}

/** Start the server; each stream-creating Echo call starts a writer on its stream. */
export async function serve(): Promise<number> {
  const server = new Server();
  server.addService(EchoService, {
    echo(req, ctx) {
      if (!req.openStream) return { message: req.message };
      const [sizeText, mode] = req.message.split(" ");
      const size = Number(sizeText);
      if (!Number.isInteger(size) || size < 8 || (mode !== "write" && mode !== "tryWrite")) {
        throw new RpcError(ErrorCode.EREQUEST, `bad stream request "${req.message}"`);
      }
      const stream = ctx.acceptStream(streamOptions());
      // Writes made before the handler returns are sent right after the response.
      void writeLoop(stream, size, mode);
      return { message: req.message };
    },
  });
  await server.start("127.0.0.1:0");
  return server.port;
}

/** Open the stream, read and verify messages until the window closed, then close. */
export async function read(port: number, ctx: StreamReadContext): Promise<void> {
  const [writer, reader] = ctx.variant.split("+");
  const channel = new Channel(`127.0.0.1:${port}`, { timeoutMs: 5000, maxRetry: 0 });
  const onFailed = (_s: Stream, code: number, text: string): void => {
    ctx.fail(new Error(`stream failed: [${code}] ${text}`));
  };
  const stream =
    reader === "iter"
      ? new Stream({ ...streamOptions(), handler: { onFailed } })
      : new Stream({
          ...streamOptions(),
          handler: {
            onReceivedMessages(_s, msgs) {
              for (const m of msgs) ctx.message(m);
            },
            onFailed,
          },
        });
  const request = `${ctx.size} ${writer}`;
  const res = await channel.client(EchoService).echo({ message: request, openStream: true }, { stream });
  if (res.message !== request) throw new Error(`brpc-ts: echoed "${res.message}"`);
  let iterating: Promise<void> = Promise.resolve();
  if (reader === "iter") {
    iterating = (async () => {
      try {
        for await (const m of stream) ctx.message(m);
      } catch (err) {
        ctx.fail(err);
      }
    })();
  }
  await ctx.stopped;
  stream.close();
  await Promise.all([stream.closed, iterating]);
  channel.close();
}
