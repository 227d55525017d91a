/**
 * Streaming RPC: a client opens a stream with a call, sends messages with flow control,
 * and reads the server's echoes by async iteration; the server accepts the stream in its
 * handler and answers through a handler.
 *
 *   npm run build && node dist/examples/streaming/demo.js
 */
import { Channel, Server, Stream } from "../../src/index.js";
import { EchoService } from "../gen/peer_pb.js";

const server = new Server();
server.addService(EchoService, {
  echo(req, ctx) {
    if (req.openStream) {
      // brpc StreamAccept: the stream is connected once this response is sent.
      ctx.acceptStream({
        handler: {
          async onReceivedMessages(stream, messages) {
            for (const m of messages) await stream.write(`echo:${m.toString()}`);
          },
          onClosed: (stream) => console.log(`server: stream ${stream.id} closed`),
        },
      });
    }
    return { message: req.message };
  },
});
await server.start("127.0.0.1:0");
const channel = new Channel(server.address);

// brpc StreamCreate: the stream travels with the call that creates it.
const stream = new Stream({ maxBufSize: 64 * 1024 });
const res = await channel.client(EchoService).echo({ message: "open", openStream: true }, { stream });
console.log(`client: call answered "${res.message}", stream ${stream.id} is ${stream.state}`);

const reading = (async () => {
  let n = 0;
  for await (const m of stream) {
    if (n++ < 3) console.log(`client: received ${m.toString()}`);
  }
  console.log(`client: ${n} echoes received, stream ${stream.state}`);
})();

for (let i = 0; i < 1000; i++) await stream.write(`message ${i}`); // waits when the window is full
console.log(`client: 1000 messages written, ${stream.unconsumedBytes} bytes not yet consumed by the server`);
await new Promise((r) => setTimeout(r, 100));
stream.close();
await reading;
await stream.closed;
channel.close();
await server.stop();
