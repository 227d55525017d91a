/** What a channel needs to know to call one method, computed once per method. */
import type { DescMethod } from "@bufbuild/protobuf";
import { codecOf } from "../codec/index.js";
import { encodeMethodPrefix } from "../protocol/baidu-std/meta.js";
import type { BodyType } from "../protocol/baidu-std/payload.js";

/** A method as seen by a client. */
export class ClientMethod {
  /** Full service name, e.g. "example.EchoService". */
  readonly serviceName: string;
  /** Method name, e.g. "Echo". */
  readonly name: string;
  /** "example.EchoService.Echo". */
  readonly fullName: string;
  readonly desc: DescMethod | undefined;
  readonly input: BodyType;
  readonly output: BodyType;
  /** Pre-encoded RpcRequestMeta service_name + method_name. */
  readonly methodPrefix: Uint8Array;

  constructor(serviceName: string, name: string, desc: DescMethod | undefined) {
    this.serviceName = serviceName;
    this.name = name;
    this.fullName = `${serviceName}.${name}`;
    this.desc = desc;
    this.input = { desc: desc?.input, codec: desc ? codecOf(desc.input) : undefined };
    this.output = { desc: desc?.output, codec: desc ? codecOf(desc.output) : undefined };
    this.methodPrefix = encodeMethodPrefix(serviceName, name);
  }
}

const typed = new WeakMap<DescMethod, ClientMethod>();
const raw = new Map<string, ClientMethod>();

/** The ClientMethod of a descriptor (cached). */
export function clientMethodOf(desc: DescMethod): ClientMethod {
  let m = typed.get(desc);
  if (m === undefined) {
    m = new ClientMethod(desc.parent.typeName, desc.name, desc);
    typed.set(desc, m);
  }
  return m;
}

/** The ClientMethod of an untyped (bytes) call (cached). */
export function rawMethodOf(serviceName: string, methodName: string): ClientMethod {
  const key = `${serviceName}\n${methodName}`;
  let m = raw.get(key);
  if (m === undefined) {
    m = new ClientMethod(serviceName, methodName, undefined);
    raw.set(key, m);
  }
  return m;
}
