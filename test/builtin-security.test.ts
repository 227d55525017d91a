/**
 * Safety of the builtin pages (docs/builtin.md#security): confinement to the internal port,
 * builtinServices: false, escaping of everything a page shows (names, values, query
 * parameters), no inline script, and no way to read a file outside the whitelist.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { EchoService } from "../examples/gen/peer_pb.js";
import { peerService } from "../examples/interop/peer-service.js";
import { registerFlag } from "../src/builtin/flags.js";
import { Channel, Server, Status } from "../src/index.js";
import { BROWSER, CURL, get, postJson } from "./helpers/builtin-http.js";

const XSS = "<script>alert(1)</script>";
const XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;";
const IMG = `"'><img src=x onerror=alert(1)>`;

/** The tags of `html` with their attribute names (quoted values skipped, as a browser does). */
function tagsOf(html: string): { name: string; attributes: string[] }[] {
  const tags: { name: string; attributes: string[] }[] = [];
  const tag = /<([a-zA-Z][a-zA-Z0-9-]*)/g;
  for (let m = tag.exec(html); m !== null; m = tag.exec(html)) {
    const attributes: string[] = [];
    let i = m.index + m[0].length;
    const attr = /\s*([^\s"'>/=]+)(\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?|\s*\/?>/y;
    for (;;) {
      attr.lastIndex = i;
      const a = attr.exec(html);
      if (a === null || a[1] === undefined) break;
      attributes.push(a[1].toLowerCase());
      i = attr.lastIndex;
    }
    tags.push({ name: (m[1] as string).toLowerCase(), attributes });
  }
  return tags;
}

/** No script of the page is inline, no element has an event handler or style attribute, nothing raw of `XSS`/`IMG`. */
function assertSafeHtml(html: string, what: string): void {
  assert.ok(!html.includes(XSS), `${what}: raw <script> in\n${html}`);
  assert.ok(!html.includes("<img"), `${what}: raw <img> in\n${html}`);
  for (const tag of html.match(/<script\b[^>]*>/g) ?? []) {
    assert.match(tag, /^<script src="\/js\/[a-z.-]+\.js" defer>$/, `${what}: ${tag}`);
  }
  const tags = tagsOf(html);
  assert.ok(tags.length > 5, what);
  for (const t of tags) {
    assert.ok(!["img", "iframe", "object", "embed", "svg"].includes(t.name), `${what}: <${t.name}>`);
    for (const a of t.attributes) {
      assert.ok(!a.startsWith("on") && a !== "style" && a !== "srcdoc", `${what}: <${t.name} ${a}=...>`);
    }
  }
}

describe("builtin pages on the internal port only", () => {
  let server: Server;

  before(async () => {
    server = new Server({ internalPort: "127.0.0.1:0" });
    server.addService(EchoService, peerService);
    await server.start("127.0.0.1:0");
  });

  after(async () => {
    await server.stop();
  });

  it("the main port answers builtin pages 403 EPERM and still serves RPCs", async () => {
    for (const p of [
      "/",
      "/status",
      "/vars",
      "/flags",
      "/health",
      "/brpc_metrics",
      "/js/uplot.min.js",
      "/index",
    ]) {
      const r = await get(server.port, p, CURL);
      assert.equal(r.status, 403, p);
      assert.match(r.body, /Not allowed to access builtin services/, p);
    }
    const rpc = await postJson(server.port, "/EchoService/Echo", { message: "hi" });
    assert.equal(rpc.status, 200);
    assert.equal(JSON.parse(rpc.body).message, "hi");
    const ch = new Channel(server.address, { maxRetry: 0 });
    assert.equal((await ch.client(EchoService).echo({ message: "x" })).message, "x");
    ch.close();
  });

  it("the internal port serves the pages (and RPCs too, as brpc's)", async () => {
    const addr = server.internalAddress;
    assert.ok(addr !== undefined);
    const internalPort = Number(addr.slice(addr.lastIndexOf(":") + 1));
    assert.notEqual(internalPort, server.port);
    for (const p of ["/", "/status", "/vars", "/flags", "/health", "/brpc_metrics", "/js/uplot.min.js"]) {
      assert.equal((await get(internalPort, p, CURL)).status, 200, p);
    }
    const rpc = await postJson(internalPort, "/EchoService/Echo", { message: "inside" });
    assert.equal(rpc.status, 200);
    // Connections of both ports are listed.
    const conns = (await get(internalPort, "/connections", CURL)).body;
    assert.match(conns, new RegExp(`\\|127\\.0\\.0\\.1:${internalPort} +\\|`));
  });

  it("error texts leave the address out (brpc's security mode)", async () => {
    assert.equal(server.options.hideAddressInErrors, true);
    const r = await get(server.port, "/EchoService/Nope", CURL);
    assert.equal(r.status, 404);
    assert.ok(!r.body.includes("127.0.0.1"), r.body);
  });

  it("stop() closes the internal port and a restart opens it again", async () => {
    const s = new Server({ internalPort: "127.0.0.1:0" });
    await s.start("127.0.0.1:0");
    const first = String(s.internalAddress);
    await s.stop();
    assert.equal(s.internalAddress, undefined);
    await assert.rejects(get(Number(first.split(":")[1]), "/health"));
    await s.start("127.0.0.1:0");
    const p = Number(String(s.internalAddress).split(":")[1]);
    assert.equal((await get(p, "/health")).body, "OK");
    await s.stop();
  });

  it("a bad internal port fails start() and leaves the server stopped", async () => {
    const s = new Server({ internalPort: server.port });
    await assert.rejects(s.start(`127.0.0.1:${server.port}`), /EADDRINUSE|same as the server port/);
    assert.equal(s.running, false);
    const t = new Server({ internalPort: 70000 });
    await assert.rejects(t.start("127.0.0.1:0"), /internalPort must be a port number/);
    assert.equal(t.running, false);
    assert.throws(() => new Server({ internalPort: 9999, builtinServices: false }), /needs builtinServices/);
  });
});

describe("builtinServices: false", () => {
  it("has no builtin page on any path; services work", async () => {
    const server = new Server({ builtinServices: false });
    server.addService(EchoService, peerService);
    await server.start("127.0.0.1:0");
    try {
      for (const p of ["/", "/status", "/vars", "/health", "/brpc_metrics", "/js/brpc.css"]) {
        const r = await get(server.port, p, CURL);
        assert.equal(r.status, 404, p);
      }
      assert.equal((await postJson(server.port, "/EchoService/Echo", { message: "a" })).status, 200);
    } finally {
      await server.stop();
    }
  });
});

describe("escaping", () => {
  let server: Server;
  let port: number;
  const evilValue = new Status(`${XSS}${IMG}`);
  let flagValue = "plain";

  before(async () => {
    registerFlag({
      name: "builtin_security_test_flag",
      description: `a flag whose text has ${XSS}`,
      definedAt: IMG,
      defaultValue: XSS,
      value: () => flagValue,
      set(v) {
        flagValue = v;
      },
    });
    assert.ok(evilValue.expose("builtin_security_test_evil"));
    server = new Server({ version: `v1 ${XSS}${IMG}`, allowFlagChanges: true });
    server.addService(EchoService, peerService);
    server.addRawService(`evil${XSS}.Svc${IMG}`, { [`m${XSS}`]: (req) => req, [IMG]: (req) => req });
    await server.start("127.0.0.1:0");
    port = server.port;
  });

  after(async () => {
    evilValue.hide();
    await server.stop();
  });

  it("names of services and methods, values of variables and the version are escaped", async () => {
    for (const p of [
      "/",
      "/status",
      "/vars",
      "/vars/builtin_security_test_evil",
      "/list",
      "/flags",
      "/connections",
    ]) {
      const r = await get(port, p, BROWSER);
      assert.equal(r.status, 200, p);
      assert.match(String(r.headers["content-type"]), /^text\/html/, p);
      assertSafeHtml(r.body, p);
    }
    const status = (await get(port, "/status", BROWSER)).body;
    assert.ok(
      status.includes(
        `<h3 class="service">evil${XSS_ESCAPED}.Svc&quot;&#39;&gt;&lt;img src=x onerror=alert(1)&gt;</h3>`,
      ),
    );
    assert.ok(status.includes(`version: v1 ${XSS_ESCAPED}`));
    const vars = (await get(port, "/vars/builtin_security_test_evil", BROWSER)).body;
    assert.ok(vars.includes(`&quot;${XSS_ESCAPED}&quot;&#39;&gt;&lt;img`), vars);
    const flags = (await get(port, "/flags/builtin_security_test_flag", BROWSER)).body;
    assert.ok(flags.includes(`a flag whose text has ${XSS_ESCAPED}`));
  });

  it("query parameters and paths reflected in a page are escaped", async () => {
    const set = await get(
      port,
      `/flags/builtin_security_test_flag?setvalue=${encodeURIComponent(XSS + IMG)}`,
      BROWSER,
    );
    assert.equal(set.status, 200);
    assertSafeHtml(set.body, "setvalue");
    assert.equal(flagValue, XSS + IMG);
    const form = await get(port, "/flags/builtin_security_test_flag?setvalue&withform", BROWSER);
    assert.equal(form.status, 200);
    assertSafeHtml(form.body, "withform");
    assert.ok(form.body.includes(`value="${XSS_ESCAPED}&quot;&#39;&gt;&lt;img src=x onerror=alert(1)&gt;"`));
    const table = (await get(port, "/flags", BROWSER)).body;
    assertSafeHtml(table, "flags after set");
    const search = await get(port, `/vars/${encodeURIComponent(`*${XSS}*`)}`, BROWSER);
    assert.equal(search.status, 404);
    // Errors are text/plain (never rendered as HTML) and say so.
    for (const p of [
      `/vars/${encodeURIComponent(XSS)}?series`,
      `/protobufs/${encodeURIComponent(XSS)}`,
      `/flags/x${encodeURIComponent(XSS)}?setvalue=1`,
    ]) {
      const r = await get(port, p, BROWSER);
      assert.ok(r.status >= 400, p);
      assert.match(String(r.headers["content-type"]), /^text\/plain/, p);
      assert.equal(r.headers["x-content-type-options"], "nosniff", p);
    }
    const vars = await get(
      port,
      `/vars?q=${encodeURIComponent(XSS)}&expand=${encodeURIComponent(IMG)}`,
      BROWSER,
    );
    assertSafeHtml(vars.body, "/vars?q");
  });

  it("HTML pages carry a strict Content-Security-Policy", async () => {
    const r = await get(port, "/status", BROWSER);
    const csp = String(r.headers["content-security-policy"]);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(r.headers["x-frame-options"], "DENY");
  });
});

describe("no page reads files outside its whitelist", () => {
  let server: Server;

  before(async () => {
    server = new Server();
    server.addService(EchoService, peerService);
    await server.start("127.0.0.1:0");
  });

  after(async () => {
    await server.stop();
  });

  it("path traversal in /js, /protobufs, /vars and /flags finds nothing", async () => {
    const paths = [
      "/js/../../package.json",
      "/js/..%2F..%2Fpackage.json",
      "/js/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
      "/js/../../../../../../etc/passwd",
      "/js//etc/passwd",
      "/js/uplot.min.js/../../../../etc/passwd",
      "/js/uPlot.iife.min.js",
      "/js/",
      "/js",
      "/protobufs/../../../../etc/passwd",
      "/vars/../../../../etc/passwd",
      "/flags/..%2f..%2f..%2fetc%2fpasswd",
      "/status/../../../../etc/passwd",
      "/../../../../etc/passwd",
      "/favicon.ico/../../package.json",
    ];
    for (const p of paths) {
      for (const headers of [CURL, BROWSER]) {
        const r = await get(server.port, p, headers);
        assert.ok(!r.body.includes("root:x:0:0"), `${p}: ${r.body.slice(0, 200)}`);
        assert.ok(!r.body.includes('"name": "brpc-ts"'), `${p}: ${r.body.slice(0, 200)}`);
        if (p.startsWith("/js")) assert.equal(r.status, 404, p);
      }
    }
  });
});
