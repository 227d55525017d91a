/**
 * brpc's `/list` (src/brpc/builtin/list_service.cpp): the services of the server as
 * `ServiceDescriptorProto`s, `{"service":[...]}` in JSON with proto field names (what
 * brpc's tools such as rpc_view read). A browser gets a table of services and methods.
 */
import { toJson } from "@bufbuild/protobuf";
import { ServiceDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ServerContext } from "../server/context.js";
import type { Server } from "../server/server.js";
import type { ServiceEntry } from "../server/service-registry.js";
import { escapeHtml, sendPage, sendText, useHtml } from "./html.js";

function serviceJson(svc: ServiceEntry): unknown {
  if (svc.desc !== undefined) {
    return toJson(ServiceDescriptorProtoSchema, svc.desc.proto, { useProtoFieldName: true });
  }
  // A raw service has no descriptor: its name and methods only.
  return { name: svc.shortName, method: [...svc.methods.keys()].map((name) => ({ name })) };
}

function typeLink(typeName: string | undefined): string {
  if (typeName === undefined) return "bytes";
  return `<a href="/protobufs/${escapeHtml(encodeURIComponent(typeName))}">${escapeHtml(typeName)}</a>`;
}

/** `/list`. */
export function listService(ctx: ServerContext, server: Server): void {
  const services = server.registry.services();
  if (!useHtml(ctx)) {
    sendText(ctx, JSON.stringify({ service: services.map(serviceJson) }), "application/json");
    return;
  }
  let rows = "";
  for (const svc of services) {
    for (const m of svc.methods.values()) {
      const kind = m.desc?.methodKind ?? "raw";
      rows +=
        `<tr><td>${escapeHtml(svc.fullName)}</td><td>${escapeHtml(m.name)}</td>` +
        `<td>${typeLink(m.input?.typeName)}</td><td>${typeLink(m.output?.typeName)}</td>` +
        `<td>${escapeHtml(kind)}</td></tr>\n`;
    }
  }
  sendPage(ctx, server, {
    tab: "list",
    title: "list",
    body:
      '<table class="gridtable" id="services"><tr><th>Service</th><th>Method</th><th>Request</th>' +
      `<th>Response</th><th>Kind</th></tr>\n${rows}</table>\n` +
      '<p class="muted">As JSON (ServiceDescriptorProto, brpc\'s format): <a href="/list?console=1">/list?console=1</a></p>\n',
  });
}
