/**
 * brpc's `/protobufs` (src/brpc/builtin/protobufs_service.cpp): the protobuf services of
 * the server and every message (and enum) their methods use, directly or through fields;
 * `/protobufs/<full name>` prints one as .proto text (what protobuf's `DebugString()`
 * gives brpc), rebuilt here from the descriptors.
 */
import type { DescEnum, DescField, DescMessage, DescService } from "@bufbuild/protobuf";
import { ErrorCode } from "../errors/errno.js";
import type { ServerContext } from "../server/context.js";
import type { Server } from "../server/server.js";
import { escapeHtml, sendPage, sendText, unresolvedPath, useHtml } from "./html.js";

/** FieldDescriptorProto.Type -> .proto keyword (messages, enums and groups use their type name). */
const SCALAR_NAMES: Record<number, string> = {
  1: "double",
  2: "float",
  3: "int64",
  4: "uint64",
  5: "int32",
  6: "fixed64",
  7: "fixed32",
  8: "bool",
  9: "string",
  12: "bytes",
  13: "uint32",
  15: "sfixed32",
  16: "sfixed64",
  17: "sint32",
  18: "sint64",
};

const TYPE_STRING = 9;
const TYPE_BYTES = 12;

function syntaxOf(d: DescMessage | DescEnum | DescService): string {
  const s = d.file.proto.syntax;
  return s === "" ? "proto2" : s;
}

function typeOf(f: DescField): string {
  const p = f.proto;
  const scalar = SCALAR_NAMES[p.type];
  if (scalar !== undefined) return scalar;
  return p.typeName.startsWith(".") ? p.typeName : `.${p.typeName}`;
}

function quoteDefault(f: DescField): string {
  const v = f.proto.defaultValue;
  if (f.proto.type === TYPE_STRING || f.proto.type === TYPE_BYTES) return JSON.stringify(v);
  return v;
}

function mapValueType(f: DescField & { fieldKind: "map" }): string {
  switch (f.mapKind) {
    case "scalar":
      return SCALAR_NAMES[f.scalar] ?? "?";
    case "enum":
      return `.${f.enum.typeName}`;
    case "message":
      return `.${f.message.typeName}`;
  }
}

function fieldLine(f: DescField, syntax: string, indent: string, inOneof: boolean): string {
  let decl: string;
  if (f.fieldKind === "map") {
    decl = `map<${SCALAR_NAMES[f.mapKey] ?? "?"}, ${mapValueType(f)}> ${f.name} = ${f.number}`;
  } else {
    let label = "";
    if (!inOneof) {
      if (f.proto.label === 3) label = "repeated ";
      else if (syntax === "proto2") label = f.proto.label === 2 ? "required " : "optional ";
      else if (f.proto.proto3Optional) label = "optional ";
    }
    decl = `${label}${typeOf(f)} ${f.name} = ${f.number}`;
  }
  const opts: string[] = [];
  if (f.proto.defaultValue !== undefined && f.proto.defaultValue !== "" && f.fieldKind !== "map") {
    opts.push(`default = ${quoteDefault(f)}`);
  }
  if (f.proto.label === 3 && f.proto.options?.packed !== undefined) {
    opts.push(`packed = ${f.proto.options.packed}`);
  }
  if (f.deprecated) opts.push("deprecated = true");
  return `${indent}${decl}${opts.length > 0 ? ` [${opts.join(", ")}]` : ""};\n`;
}

function enumText(e: DescEnum, indent: string): string {
  let s = `${indent}enum ${e.name} {\n`;
  for (const v of e.values) s += `${indent}  ${v.name} = ${v.number};\n`;
  return `${s}${indent}}\n`;
}

function messageText(m: DescMessage, indent = ""): string {
  const syntax = syntaxOf(m);
  let s = `${indent}message ${m.name} {\n`;
  const inner = `${indent}  `;
  for (const n of m.nestedMessages) s += messageText(n, inner);
  for (const e of m.nestedEnums) s += enumText(e, inner);
  const printedOneofs = new Set<unknown>();
  for (const f of m.fields) {
    const o = f.oneof;
    if (o === undefined) {
      s += fieldLine(f, syntax, inner, false);
      continue;
    }
    if (printedOneofs.has(o)) continue;
    printedOneofs.add(o);
    s += `${inner}oneof ${o.name} {\n`;
    for (const of of o.fields) s += fieldLine(of, syntax, `${inner}  `, true);
    s += `${inner}}\n`;
  }
  for (const r of m.proto.extensionRange) s += `${inner}extensions ${r.start} to ${r.end - 1};\n`;
  return `${s}${indent}}\n`;
}

function serviceText(svc: DescService): string {
  let s = `service ${svc.name} {\n`;
  for (const m of svc.methods) {
    const cs = m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming" ? "stream " : "";
    const ss = m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming" ? "stream " : "";
    s += `  rpc ${m.name}(${cs}.${m.input.typeName}) returns (${ss}.${m.output.typeName});\n`;
  }
  return `${s}}\n`;
}

/** Full name -> .proto text of the services of `server` and the types they use. */
export function protobufTexts(server: Server): Map<string, string> {
  const map = new Map<string, string>();
  const stack: DescMessage[] = [];
  for (const svc of server.registry.services()) {
    const d = svc.desc;
    if (d === undefined) continue;
    map.set(d.typeName, serviceText(d));
    for (const m of d.methods) stack.push(m.input, m.output);
  }
  while (stack.length > 0) {
    const m = stack.pop() as DescMessage;
    if (map.has(m.typeName)) continue;
    map.set(m.typeName, messageText(m));
    for (const f of m.fields) {
      if (f.message !== undefined && !map.has(f.message.typeName)) stack.push(f.message);
      const e = f.enum;
      if (e !== undefined && !map.has(e.typeName)) map.set(e.typeName, enumText(e, ""));
    }
  }
  return new Map([...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** `/protobufs` (the names) and `/protobufs/<full name>` (one of them as .proto text). */
export function protobufsService(ctx: ServerContext, server: Server): void {
  const texts = protobufTexts(server);
  const name = unresolvedPath(ctx);
  const html = useHtml(ctx);
  if (name === "") {
    if (!html) {
      sendText(ctx, [...texts.keys()].map((k) => `${k}\n`).join(""));
      return;
    }
    let body = '<ul id="protobufs">\n';
    for (const k of texts.keys()) {
      body += `<li><a href="/protobufs/${escapeHtml(encodeURIComponent(k))}">${escapeHtml(k)}</a></li>\n`;
    }
    sendPage(ctx, server, { tab: "protobufs", title: "protobufs", body: `${body}</ul>\n` });
    return;
  }
  const text = texts.get(name);
  if (text === undefined) {
    ctx.setFailed(ErrorCode.ENOMETHOD, `Fail to find any protobuf message by \`${name}'`);
    return;
  }
  if (!html) {
    sendText(ctx, text);
    return;
  }
  sendPage(ctx, server, {
    tab: "protobufs",
    title: name,
    body: `<h3>${escapeHtml(name)}</h3>\n<pre id="proto">${escapeHtml(text)}</pre>\n`,
  });
}
