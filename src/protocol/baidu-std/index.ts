/** baidu_std ("PRPC"), brpc's default protocol: parse, server side and client side. */
import type { Protocol } from "../protocol.js";
import { packRequest, processResponse, processStreamedResponse } from "./client-side.js";
import { parseFrame } from "./frame.js";
import { processRequest } from "./server-side.js";

/** The baidu_std protocol plug-in. */
export const baiduStdProtocol: Protocol = {
  name: "baidu_std",
  parse: parseFrame,
  processRequest,
  processResponse,
  packRequest,
  processStreamedResponse,
  companions: ["streaming_rpc"],
};
