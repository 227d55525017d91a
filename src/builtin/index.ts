/**
 * brpc's builtin services, served over HTTP on the same port (brpc server.cpp
 * `AddBuiltinServices`), or only on `ServerOptions.internalPort` when set: found by the
 * first URL path component ("/vars", "/vars/..."), after the user's services. They skip
 * the concurrency limits and answer while the server is overloaded, but not while it is
 * stopping (ELOGOFF). See docs/builtin.md.
 *
 * A builtin writes its answer into the context like an HTTP service does:
 * `ctx.responseAttachment` is the body; `ctx.http` carries the request (method, path,
 * query, headers), response status and headers; `ctx.unresolvedPath` is the rest of
 * the path; `ctx.setFailed()` answers with brpc's error mapping. Pages are plain text for
 * curl and HTML for browsers (html.ts).
 *
 * Other modules add pages with `registerBuiltin(name, service, info)` (registry.ts).
 */
import { faviconService, jsService } from "./assets.js";
import { connectionsService } from "./connections.js";
import { flagsService } from "./flags.js";
import { healthService } from "./health.js";
import { hotspotsInfo, hotspotsService } from "./hotspots.js";
import { indexService } from "./index-page.js";
import { listService } from "./list.js";
import { prometheusService } from "./prometheus.js";
import { protobufsService } from "./protobufs.js";
import { registerBuiltin } from "./registry.js";
import { rpczInfo, rpczService } from "./rpcz.js";
import { statusService } from "./status.js";
import { varsService } from "./vars.js";
import { versionService } from "./version.js";

export {
  type BuiltinEntry,
  type BuiltinInfo,
  type BuiltinService,
  builtinAllowed,
  builtinServices,
  hasBuiltin,
  type IndexLine,
  listBuiltins,
  registerBuiltin,
} from "./registry.js";

registerBuiltin("index", indexService, { tab: "index", order: 0, index: [] });
registerBuiltin("status", statusService, {
  tab: "status",
  order: 10,
  index: [{ path: "/status", text: "Status of services" }],
});
registerBuiltin("vars", varsService, {
  tab: "vars",
  order: 20,
  index: [
    { path: "/vars", text: "List all exposed variables" },
    { path: "/vars/NAME", text: "List the variable", indent: true, link: false },
    {
      path: "/vars/rpc_server*;process_*",
      text: "List variables matching glob patterns (use $ instead of ? to match one character)",
      indent: true,
    },
    {
      path: "/vars/NAME?series",
      text: "Trend of the variable as JSON (what the charts draw)",
      indent: true,
      link: false,
    },
  ],
});
registerBuiltin("connections", connectionsService, {
  tab: "connections",
  order: 30,
  index: [{ path: "/connections", text: "List all connections" }],
});
registerBuiltin("flags", flagsService, {
  tab: "flags",
  order: 40,
  index: [
    { path: "/flags", text: "List all flags (run-time options)" },
    { path: "/flags/log_level", text: "List the flag", indent: true },
    { path: "/flags/max_*;log_level", text: "List flags matching glob patterns", indent: true },
    {
      path: "/flags/NAME?setvalue=VALUE",
      text: "Change a reloadable flag (R), validated; only with ServerOptions.allowFlagChanges",
      indent: true,
      link: false,
    },
  ],
});
registerBuiltin("protobufs", protobufsService, {
  tab: "protobufs",
  order: 70,
  index: [{ path: "/protobufs", text: "List all protobuf services and messages" }],
});
registerBuiltin("list", listService, {
  order: 75,
  index: [{ path: "/list", text: "Services and methods as ServiceDescriptorProto JSON" }],
});
registerBuiltin("brpc_metrics", prometheusService, {
  order: 80,
  index: [{ path: "/brpc_metrics", text: "All variables in the Prometheus text format" }],
});
registerBuiltin("version", versionService, {
  order: 90,
  index: [{ path: "/version", text: "Version of this server (ServerOptions.version)" }],
});
registerBuiltin("health", healthService, {
  order: 91,
  index: [{ path: "/health", text: "Test healthy" }],
});
registerBuiltin("js", jsService, { index: [] });
registerBuiltin("favicon.ico", faviconService, { index: [] });
registerBuiltin("rpcz", rpczService, rpczInfo);
registerBuiltin("hotspots", hotspotsService, hotspotsInfo);
