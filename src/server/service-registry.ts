/**
 * Services and methods a server exposes, found by full or short service name as
 * brpc's `Server::FindServicePropertyByName` / `FindMethodPropertyByFullName` do.
 */
import type { DescMessage, DescMethod, DescService } from "@bufbuild/protobuf";
import { codecOf, type MessageCodec } from "../codec/index.js";
import type { ServerContext } from "./context.js";
import type { MethodStatus } from "./method-status.js";

/** A typed handler: request message in, response (message or init object) out. */
export type MethodHandler = (req: unknown, ctx: ServerContext) => unknown;
/** An untyped handler: request bytes in, response bytes out. */
export type RawMethodHandler = (
  req: Buffer,
  ctx: ServerContext,
) => Uint8Array | string | undefined | Promise<Uint8Array | string | undefined>;

/** One method of a registered service. */
export class MethodEntry {
  /** e.g. "example.EchoService.Echo". */
  readonly fullName: string;
  readonly name: string;
  readonly service: ServiceEntry;
  /** Descriptor, absent for raw services. */
  readonly desc: DescMethod | undefined;
  readonly input: DescMessage | undefined;
  readonly output: DescMessage | undefined;
  readonly inputCodec: MessageCodec | undefined;
  readonly outputCodec: MessageCodec | undefined;
  /** The user's handler; undefined = not implemented. */
  readonly handler: MethodHandler | RawMethodHandler | undefined;
  /** Max concurrent calls of this method, 0 = unlimited. */
  maxConcurrency = 0;
  /** Calls of this method currently running. */
  concurrency = 0;
  /** Statistics of the method (brpc's `MethodStatus`); undefined when the server's metrics are off. */
  status: MethodStatus | undefined = undefined;

  constructor(
    service: ServiceEntry,
    name: string,
    desc: DescMethod | undefined,
    handler: MethodHandler | RawMethodHandler | undefined,
  ) {
    this.service = service;
    this.name = name;
    this.fullName = `${service.fullName}.${name}`;
    this.desc = desc;
    this.input = desc?.input;
    this.output = desc?.output;
    this.inputCodec = desc ? codecOf(desc.input) : undefined;
    this.outputCodec = desc ? codecOf(desc.output) : undefined;
    this.handler = handler;
  }

  /** True for bytes-in/bytes-out methods. */
  get raw(): boolean {
    return this.desc === undefined;
  }
}

/** A registered service. */
export class ServiceEntry {
  readonly fullName: string;
  readonly shortName: string;
  readonly desc: DescService | undefined;
  readonly methods = new Map<string, MethodEntry>();

  constructor(fullName: string, desc: DescService | undefined) {
    this.fullName = fullName;
    const dot = fullName.lastIndexOf(".");
    this.shortName = dot < 0 ? fullName : fullName.slice(dot + 1);
    this.desc = desc;
  }
}

/** Lookup tables of a server's services. */
export class ServiceRegistry {
  readonly #byFullName = new Map<string, ServiceEntry>();
  readonly #byShortName = new Map<string, ServiceEntry>();

  /** Add a typed service from its descriptor. */
  addTyped(desc: DescService, impl: Record<string, unknown>): ServiceEntry {
    const svc = new ServiceEntry(desc.typeName, desc);
    for (const m of desc.methods) {
      const h = impl[m.localName] ?? impl[m.name];
      if (h !== undefined && typeof h !== "function") {
        throw new TypeError(`handler for ${desc.typeName}.${m.name} must be a function`);
      }
      svc.methods.set(m.name, new MethodEntry(svc, m.name, m, h as MethodHandler | undefined));
    }
    for (const k of Object.keys(impl)) {
      if (!desc.methods.some((m) => m.localName === k || m.name === k)) {
        throw new TypeError(`${desc.typeName} has no method "${k}"`);
      }
    }
    this.#add(svc);
    return svc;
  }

  /** Add an untyped service. */
  addRaw(fullName: string, handlers: Record<string, RawMethodHandler>): ServiceEntry {
    const svc = new ServiceEntry(fullName, undefined);
    for (const [name, h] of Object.entries(handlers)) {
      if (typeof h !== "function") throw new TypeError(`handler for ${fullName}.${name} must be a function`);
      svc.methods.set(name, new MethodEntry(svc, name, undefined, h));
    }
    this.#add(svc);
    return svc;
  }

  #add(svc: ServiceEntry): void {
    if (this.#byFullName.has(svc.fullName)) throw new Error(`service ${svc.fullName} is already added`);
    this.#byFullName.set(svc.fullName, svc);
    // brpc keeps the first service of a short name; later ones are reachable by full name only.
    if (!this.#byShortName.has(svc.shortName)) this.#byShortName.set(svc.shortName, svc);
  }

  /** Service by full name ("example.EchoService"). */
  byFullName(name: string): ServiceEntry | undefined {
    return this.#byFullName.get(name);
  }

  /** Service by short name ("EchoService"). */
  byShortName(name: string): ServiceEntry | undefined {
    return this.#byShortName.get(name);
  }

  /** Method by full method name ("example.EchoService.Echo"). */
  method(fullMethodName: string): MethodEntry | undefined {
    const dot = fullMethodName.lastIndexOf(".");
    if (dot < 0) return undefined;
    return this.#byFullName.get(fullMethodName.slice(0, dot))?.methods.get(fullMethodName.slice(dot + 1));
  }

  /** All services, in registration order. */
  services(): ServiceEntry[] {
    return [...this.#byFullName.values()];
  }
}
