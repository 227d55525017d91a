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
    return { message: req.message };
  },
  missing(_req: EchoRequest, ctx: ServerContext) {
    ctx.setFailed(ErrorCode.ENOMETHOD, "not implemented");
    return {};
  },
};

export { EchoService };
