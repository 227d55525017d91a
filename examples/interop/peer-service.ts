/**
 * The interop service of ../shared/wire/peer.proto (example.EchoService), behaving
 * like the brpc peer the wire captures were recorded with.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { ErrorCode, type ServerContext, type ServiceImpl } from "../../src/index.js";
import type { EchoRequest } from "../gen/peer_pb.js";
import { EchoService } from "../gen/peer_pb.js";

/** Handlers of example.EchoService. */
export const peerService: ServiceImpl<typeof EchoService> = {
  async echo(req: EchoRequest, ctx: ServerContext) {
    if (req.sleepMs > 0) await sleep(req.sleepMs);
    // Echo the attachment, compressed like the request.
    ctx.responseAttachment = ctx.requestAttachment;
    ctx.responseCompressType = ctx.requestCompressType;
    if (req.failCode !== 0) {
      ctx.setFailed(req.failCode, `failed on purpose: ${req.message}`);
      return {};
    }
    if (req.openStream && ctx.hasRemoteStream) {
      // Echo every message back as "echo:<message>"; close on "close".
      ctx.acceptStream({
        handler: {
          onReceivedMessages(stream, messages) {
            for (const m of messages) {
              const text = m.toString("utf8");
              if (text === "close") {
                stream.close();
                return;
              }
              const rc = stream.tryWrite(`echo:${text}`);
              if (rc !== 0 && rc !== ErrorCode.EBADF)
                console.error(`stream ${stream.id}: write failed rc=${rc}`);
            }
          },
        },
      });
    }
    return { message: req.message };
  },
  missing(_req: EchoRequest, ctx: ServerContext) {
    ctx.setFailed(ErrorCode.ENOMETHOD, "not implemented");
    return {};
  },
};

export { EchoService };
