/**
 * The builtin pages (docs/builtin.md): every page answers, text for curl / no User-Agent /
 * ?console=1 and HTML for browsers, /vars filters and series, /status and /brpc_metrics
 * after calls, /flags listing and run-time changes, /connections, /version, /list,
 * /protobufs and the static files of the charts.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { EchoService } from "../examples/gen/peer_pb.js";
import { peerService } from "../examples/interop/peer-service.js";
import { registerFlag } from "../src/builtin/flags.js";
import { Adder, Channel, getLogLevel, Maxer, Server, Status, setLogLevel } from "../src/index.js";
import { BROWSER, CURL, get, postJson } from "./helpers/builtin-http.js";
import { curlMissing } from "./helpers/http-tools.js";

const PAGES = [
  "/",
  "/index",
  "/status",
  "/vars",
  "/flags",
  "/connections",
  "/health",
  "/version",
  "/list",
  "/protobufs",
  "/brpc_metrics",
];

function runCurl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("curl", ["-sS", "--max-time", "10", ...args], (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    ),
  );
}

describe("builtin pages", () => {
  let server: Server;
  let port: number;
  let prefix: string;
  const adder = new Adder();
  const peak = new Maxer();
  const mode = new Status("serving");

  before(async () => {
    server = new Server();
    server.addService(EchoService, peerService);
    server.addRawService("demo.Bytes", { Echo: (req) => req });
    await server.start("127.0.0.1:0");
    port = server.port;
    prefix = server.metricsPrefix;
    assert.ok(adder.expose("builtin_pages_test_adder"));
    assert.ok(peak.expose("builtin_pages_test_peak"));
    assert.ok(mode.expose("builtin_pages_test_mode"));
    adder.add(41);
    // Some calls: 3 successful, 1 failed, over HTTP, and 2 over baidu_std.
    for (let i = 0; i < 3; i++) {
      const r = await postJson(port, "/EchoService/Echo", { message: `m${i}` });
      assert.equal(r.status, 200, r.body);
    }
    const bad = await postJson(port, "/EchoService/Echo", { message: "x", fail_code: 1003 });
    assert.equal(bad.status, 400);
    const ch = new Channel(server.address, { maxRetry: 0 });
    const echo = ch.client(EchoService);
    await echo.echo({ message: "a" });
    await echo.echo({ message: "b" });
    ch.close();
  });

  after(async () => {
    adder.hide();
    peak.hide();
    mode.hide();
    await server.stop();
  });

  it("every page answers 200, as text for curl and as HTML for a browser", async () => {
    for (const p of PAGES) {
      const text = await get(port, p, CURL);
      assert.equal(text.status, 200, `${p}: ${text.body}`);
      assert.ok(text.body.length > 0, p);
      const html = await get(port, p, BROWSER);
      assert.equal(html.status, 200, `${p}: ${html.body}`);
      const htmlPage = ["/health", "/version", "/brpc_metrics"].includes(p) === false;
      if (htmlPage) {
        assert.match(String(html.headers["content-type"]), /^text\/html/, p);
        assert.match(html.body, /^<!DOCTYPE html>/, p);
        assert.match(String(html.headers["content-security-policy"]), /script-src 'self'/, p);
        assert.match(html.body, /<nav id="tabs">/, p);
        if (p !== "/list") assert.match(String(text.headers["content-type"]), /^text\/plain/, p);
        assert.doesNotMatch(text.body, /<html|<p|<table/, p);
      } else {
        assert.match(String(html.headers["content-type"]), /^text\/plain/, p);
      }
      assert.equal(text.headers["x-content-type-options"], "nosniff", p);
    }
  });

  it("follows brpc's text-or-HTML rule: no User-Agent, curl/ or ?console=1 give text", async () => {
    const isHtml = (r: { headers: Record<string, unknown> }) =>
      String(r.headers["content-type"]).startsWith("text/html");
    assert.equal(isHtml(await get(port, "/status")), false, "no User-Agent");
    assert.equal(isHtml(await get(port, "/status", CURL)), false, "curl");
    assert.equal(isHtml(await get(port, "/status", BROWSER)), true, "browser");
    assert.equal(isHtml(await get(port, "/status?console=1", BROWSER)), false, "?console=1");
    assert.equal(isHtml(await get(port, "/status?console", BROWSER)), false, "?console");
    assert.equal(isHtml(await get(port, "/status?console=0", CURL)), true, "?console=0");
  });

  it("the curl binary gets plain text", { skip: curlMissing }, async () => {
    const status = await runCurl([`http://127.0.0.1:${port}/status`]);
    assert.match(status, /^version: /);
    assert.match(status, /\[example\.EchoService\]/);
    const vars = await runCurl([`http://127.0.0.1:${port}/vars/builtin_pages_test_adder`]);
    assert.equal(vars, "builtin_pages_test_adder : 41\r\n");
    const index = await runCurl([`http://127.0.0.1:${port}/`]);
    assert.match(index, /^\/status : Status of services$/m);
  });

  it("/vars lists `name : value`, filters with brpc's wildcards and ';'", async () => {
    const all = (await get(port, "/vars", CURL)).body;
    assert.match(all, /^builtin_pages_test_adder : 41\r$/m);
    assert.match(all, /^builtin_pages_test_mode : "serving"\r$/m);
    assert.match(all, new RegExp(`^${prefix}_example_echo_service_echo_count : 5\\r$`, "m"));
    const one = await get(port, "/vars/builtin_pages_test_adder", CURL);
    assert.equal(one.body, "builtin_pages_test_adder : 41\r\n");
    const some = (await get(port, `/vars/${prefix}*_count;process_uptime`, CURL)).body;
    const names = some
      .trim()
      .split("\r\n")
      .map((l) => l.split(" : ")[0] as string);
    assert.ok(names.includes("process_uptime"), some);
    assert.ok(names.includes(`${prefix}_example_echo_service_echo_count`), some);
    assert.ok(
      names.every((n) => n === "process_uptime" || (n.startsWith(prefix) && n.endsWith("_count"))),
      some,
    );
    // `$` matches one character (`?` would start the query).
    const dollar = (await get(port, "/vars/builtin_pages_test_add$r", CURL)).body;
    assert.equal(dollar, "builtin_pages_test_adder : 41\r\n");
    const none = await get(port, "/vars/no_such_variable_*", CURL);
    assert.equal(none.status, 404);
    assert.match(none.body, /Fail to find any bvar by `no_such_variable_\*'/);
  });

  it("/vars/NAME?series is brpc's trend JSON of 174 points", async () => {
    const r = await get(port, "/vars/builtin_pages_test_adder?series", BROWSER);
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "application/json");
    const j = JSON.parse(r.body) as { label: string; data: [number, number][] };
    assert.equal(j.label, "trend");
    assert.equal(j.data.length, 174);
    assert.deepEqual(
      j.data.map((p) => p[0]),
      Array.from({ length: 174 }, (_, i) => i),
    );
    const pct = JSON.parse(
      (await get(port, `/vars/${prefix}_example_echo_service_echo_latency_percentiles?series`)).body,
    ) as { label: string; data: unknown[] }[];
    assert.deepEqual(
      pct.map((s) => s.label),
      ["80%", "90%", "99%", "99.9%"],
    );
    assert.ok(pct.every((s) => s.data.length === 174));
    const cdf = JSON.parse(
      (await get(port, `/vars/${prefix}_example_echo_service_echo_latency_cdf?series`)).body,
    ) as {
      label: string;
      data: [number, number][];
    };
    assert.equal(cdf.label, "cdf");
    assert.equal(cdf.data.at(-1)?.[0], 101);
    // A string and a bare Maxer keep no series; an unknown name is 404.
    const noSeries = await get(port, "/vars/builtin_pages_test_mode?series");
    assert.equal(noSeries.status, 500);
    assert.match(noSeries.body, /does not have value series/);
    assert.equal((await get(port, "/vars/builtin_pages_test_peak?series")).status, 500);
    assert.equal((await get(port, "/vars/nope_nope?series")).status, 404);
  });

  it("/vars in HTML: clickable variables with chart placeholders, search box, ?dataonly rows", async () => {
    const page = (await get(port, "/vars", BROWSER)).body;
    assert.match(page, /<input id="searchbox"/);
    assert.match(page, /<div id="layer1">/);
    assert.match(
      page,
      /<p class="variable" data-var="builtin_pages_test_adder">builtin_pages_test_adder : <span class="value" id="value-builtin_pages_test_adder">41<\/span><\/p>/,
    );
    assert.match(
      page,
      /<div class="detail" hidden><div class="chart" id="chart-builtin_pages_test_adder" data-var="builtin_pages_test_adder" data-updated="0"><\/div><\/div>/,
    );
    assert.match(page, /<p class="nonplot-variable">builtin_pages_test_mode : <span class="value"/);
    assert.match(page, /<script src="\/js\/uplot\.min\.js" defer><\/script>/);
    assert.match(page, /<script src="\/js\/brpc-charts\.js" defer><\/script>/);
    // One variable by name opens its chart at once.
    const one = (await get(port, "/vars/builtin_pages_test_adder", BROWSER)).body;
    assert.match(one, /class="variable default-expand" data-var="builtin_pages_test_adder"/);
    const rows = await get(port, "/vars/*pages_test*?dataonly", BROWSER);
    assert.equal(rows.status, 200);
    assert.doesNotMatch(rows.body, /<html|<nav/);
    assert.match(rows.body, /data-var="builtin_pages_test_adder"/);
  });

  it("/status shows the methods' counts, errors, latencies and the server's connections", async () => {
    const s = (await get(port, "/status", CURL)).body;
    assert.match(s, /^version: example\.EchoService\+demo\.Bytes$/m);
    assert.match(s, /^non_service_error: 0$/m);
    assert.match(s, /^connection_count: \d+$/m);
    assert.match(s, /^max_concurrency: unlimited$/m);
    const echo = s.slice(s.indexOf("Echo (EchoRequest) returns (EchoResponse)"));
    assert.match(echo, /^count: 5$/m);
    assert.match(echo, /^error: 1$/m);
    for (const k of [
      "qps",
      "eps",
      "latency",
      "latency_80",
      "latency_90",
      "latency_99",
      "latency_999",
      "max_latency",
    ]) {
      assert.match(echo, new RegExp(`^${k}: \\d+$`, "m"), k);
    }
    assert.match(echo, /^concurrency: 0$/m);
    assert.match(s, /^\[demo\.Bytes\]$/m);
    assert.match(s, /^Echo \(bytes\) returns \(bytes\)$/m);
    const html = (await get(port, "/status", BROWSER)).body;
    assert.match(html, /<h3 class="service">example\.EchoService<\/h3>/);
    assert.match(html, /<a href="\/protobufs\/example\.EchoRequest">EchoRequest<\/a>/);
    assert.match(html, new RegExp(`id="chart-${prefix}_example_echo_service_echo_qps"`));
    assert.match(html, new RegExp(`id="chart-${prefix}_example_echo_service_echo_latency"`));
    assert.match(html, new RegExp(`id="chart-${prefix}_example_echo_service_echo_latency_percentiles"`));
  });

  it("/brpc_metrics is Prometheus text with the method's latency summary", async () => {
    const r = await get(port, "/brpc_metrics", BROWSER);
    assert.equal(r.headers["content-type"], "text/plain; version=0.0.4");
    const lines = r.body.split("\n").filter((l) => l !== "");
    const sample =
      /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? (-?[0-9.e+-]+|[+-]Inf|NaN)$/;
    for (const l of lines) {
      if (l.startsWith("# HELP ") || l.startsWith("# TYPE ")) continue;
      assert.match(l, sample, l);
    }
    const m = `${prefix}_example_echo_service_echo`;
    assert.ok(lines.includes(`# TYPE ${m} summary`), r.body);
    assert.ok(lines.some((l) => l.startsWith(`${m}{quantile="0.99"} `)));
    assert.ok(lines.includes(`${m}_count 5`), r.body);
    assert.ok(lines.includes("builtin_pages_test_adder 41"));
    assert.ok(!r.body.includes("builtin_pages_test_mode"), "strings are left out");
  });

  it("/flags lists the options, (R) for reloadable ones, wildcards with $", async () => {
    const t = (await get(port, "/flags", CURL)).body;
    assert.match(t, /^Name \| Value \| Description \| Defined At$/m);
    assert.match(t, /^max_concurrency \(R\) \| 0 \| .* \| ServerOptions\.maxConcurrency$/m);
    assert.match(t, /^max_body_size \| 67108864 \|/m);
    assert.match(t, /^log_level \(R\) \| /m);
    const some = (await get(port, "/flags/max_*;log_level", CURL)).body.trim().split("\n").slice(2);
    assert.deepEqual(
      some.map((l) => l.split(" ")[0]),
      ["log_level", "max_body_size", "max_concurrency"],
    );
    const html = (await get(port, "/flags", BROWSER)).body;
    assert.match(html, /<table class="gridtable" id="flags">/);
    assert.match(html, /<a href="\/flags\/max_concurrency\?setvalue&amp;withform">R<\/a>/);
  });

  it("/flags/NAME?setvalue=V is refused unless the server opted in", async () => {
    const r = await get(port, "/flags/max_concurrency?setvalue=7", CURL);
    assert.equal(r.status, 403);
    assert.match(r.body, /changing flags is disabled \(ServerOptions\.allowFlagChanges is false\)/);
    assert.equal(server.options.maxConcurrency, 0);
    const form = await get(port, "/flags/max_concurrency?setvalue&withform", BROWSER);
    assert.equal(form.status, 403);
  });

  it("/connections lists the server's connections", async () => {
    const t = (await get(port, "/connections", CURL)).body;
    assert.match(t, /^server_connection_count: \d+$/m);
    assert.match(t, /^CreatedTime +\|RemoteSide +\|Local +\|SSL\|Protocol +\|InBytes\/s/m);
    assert.match(t, new RegExp(`\\|127\\.0\\.0\\.1:${port} +\\|No \\|http +\\|`));
    const html = (await get(port, "/connections", BROWSER)).body;
    assert.match(html, /<table class="gridtable" id="server-connections">/);
  });

  it("/version, /list and /protobufs", async () => {
    assert.equal((await get(port, "/version")).body, "example.EchoService+demo.Bytes");
    const list = await get(port, "/list", CURL);
    assert.equal(list.headers["content-type"], "application/json");
    const j = JSON.parse(list.body) as {
      service: { name: string; method: { name: string; input_type?: string }[] }[];
    };
    assert.equal(j.service[0]?.name, "EchoService");
    assert.deepEqual(
      j.service[0]?.method.map((m) => [m.name, m.input_type]),
      [
        ["Echo", ".example.EchoRequest"],
        ["Missing", ".example.EchoRequest"],
      ],
    );
    assert.deepEqual(j.service[1], { name: "Bytes", method: [{ name: "Echo" }] });
    assert.match((await get(port, "/list", BROWSER)).body, /<table class="gridtable" id="services">/);
    const names = (await get(port, "/protobufs")).body;
    assert.equal(names, "example.EchoRequest\nexample.EchoResponse\nexample.EchoService\n");
    const req = (await get(port, "/protobufs/example.EchoRequest")).body;
    assert.equal(
      req,
      "message EchoRequest {\n  required string message = 1;\n  optional int32 sleep_ms = 2;\n" +
        "  optional int32 fail_code = 3;\n  optional bool open_stream = 4;\n}\n",
    );
    const svc = (await get(port, "/protobufs/example.EchoService")).body;
    assert.match(svc, /^ {2}rpc Echo\(\.example\.EchoRequest\) returns \(\.example\.EchoResponse\);$/m);
    assert.equal((await get(port, "/protobufs/example.Nope")).status, 404);
    assert.match(
      (await get(port, "/protobufs/example.EchoRequest", BROWSER)).body,
      /<pre id="proto">message EchoRequest/,
    );
  });

  it("serves the chart files from a whitelist", async () => {
    const uplot = await get(port, "/js/uplot.min.js", BROWSER);
    assert.equal(uplot.status, 200);
    assert.match(String(uplot.headers["content-type"]), /^text\/javascript/);
    assert.match(uplot.body, /uPlot/);
    assert.equal((await get(port, "/js/uplot.min.css")).status, 200);
    const charts = await get(port, "/js/brpc-charts.js");
    assert.match(charts.body, /\?series/);
    assert.match(charts.body, /data-updated/);
    assert.equal((await get(port, "/js/brpc.css")).status, 200);
    assert.equal((await get(port, "/favicon.ico")).status, 200);
    assert.equal((await get(port, "/js/uPlot.iife.min.js")).status, 404);
  });

  it("the index page links every page", async () => {
    const html = (await get(port, "/", BROWSER)).body;
    for (const p of [
      "/status",
      "/vars",
      "/connections",
      "/flags",
      "/protobufs",
      "/list",
      "/brpc_metrics",
      "/version",
      "/health",
    ]) {
      assert.match(html, new RegExp(`<a href="${p.replace("/", "\\/")}">`), p);
    }
    assert.match(html, /<a class="tab current" href="\/">index<\/a>/);
  });

  it("pages answer over h2 too", async () => {
    const { connect } = await import("node:http2");
    const session = connect(`http://127.0.0.1:${port}`);
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const s = session.request({ ":path": "/vars/builtin_pages_test_adder", "user-agent": "curl/8" });
        let out = "";
        s.setEncoding("utf8");
        s.on("data", (d: string) => (out += d));
        s.on("end", () => resolve(out));
        s.on("error", reject);
      });
      assert.equal(body, "builtin_pages_test_adder : 41\r\n");
    } finally {
      session.close();
    }
  });
});

describe("/flags changes with allowFlagChanges", () => {
  let server: Server;
  let port: number;
  const level = getLogLevel();
  let custom = "initial";

  before(async () => {
    registerFlag({
      name: "builtin_pages_test_flag",
      description: "a flag of the test",
      definedAt: "test/builtin-pages.test.ts",
      defaultValue: "initial",
      value: () => custom,
      set(v) {
        if (v.length > 40) throw new RangeError("too long");
        custom = v;
      },
    });
    server = new Server({ allowFlagChanges: true });
    server.addService(EchoService, peerService);
    await server.start("127.0.0.1:0");
    port = server.port;
  });

  after(async () => {
    setLogLevel(level);
    await server.stop();
  });

  it("changes a reloadable flag after validating the value", async () => {
    const ok = await get(port, "/flags/max_concurrency?setvalue=7", CURL);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.body, "Set `max_concurrency' to 7\n");
    assert.equal(server.options.maxConcurrency, 7);
    assert.match(
      (await get(port, "/flags/max_concurrency", CURL)).body,
      /^max_concurrency \(R\) \| 7 \(default:0\) \|/m,
    );
    assert.match((await get(port, "/status", CURL)).body, /^max_concurrency: 7$/m);
    for (const bad of ["abc", "-1", "1.5", ""]) {
      const r = await get(port, `/flags/max_concurrency?setvalue=${encodeURIComponent(bad)}`, CURL);
      assert.equal(r.status, 400, bad);
      assert.match(r.body, /Fail to set `max_concurrency' to /);
    }
    assert.equal(server.options.maxConcurrency, 7);
    assert.equal((await get(port, "/flags/max_concurrency?setvalue=0", CURL)).status, 200);
    assert.equal(server.options.maxConcurrency, 0);
  });

  it("log_level, idle_timeout_sec and a flag registered by another module", async () => {
    assert.equal((await get(port, "/flags/log_level?setvalue=error", CURL)).status, 200);
    assert.equal(getLogLevel(), "error");
    assert.equal((await get(port, "/flags/log_level?setvalue=loud", CURL)).status, 400);
    assert.equal(getLogLevel(), "error");
    assert.equal((await get(port, "/flags/idle_timeout_sec?setvalue=30", CURL)).status, 200);
    assert.equal(server.options.idleTimeoutSec, 30);
    assert.equal((await get(port, "/flags/idle_timeout_sec?setvalue=-1", CURL)).status, 200);
    assert.equal((await get(port, "/flags/builtin_pages_test_flag?setvalue=changed", CURL)).status, 200);
    assert.equal(custom, "changed");
    assert.equal(
      (await get(port, `/flags/builtin_pages_test_flag?setvalue=${"x".repeat(41)}`, CURL)).status,
      400,
    );
  });

  it("refuses unknown and non-reloadable flags, and requests of other sites", async () => {
    const unknown = await get(port, "/flags/no_such_flag?setvalue=1", CURL);
    assert.equal(unknown.status, 404);
    const fixed = await get(port, "/flags/max_body_size?setvalue=1", CURL);
    assert.equal(fixed.status, 403);
    assert.match(fixed.body, /`max_body_size' is not reloadable/);
    const noName = await get(port, "/flags?setvalue=1", CURL);
    assert.equal(noName.status, 404);
    const csrf = await get(port, "/flags/max_concurrency?setvalue=3", {
      ...BROWSER,
      "sec-fetch-site": "cross-site",
    });
    assert.equal(csrf.status, 403);
    assert.equal(server.options.maxConcurrency, 0);
    const sameOrigin = await get(port, "/flags/max_concurrency?setvalue=0", {
      ...BROWSER,
      "sec-fetch-site": "same-origin",
    });
    assert.equal(sameOrigin.status, 200);
    assert.match(sameOrigin.body, /<p id="setvalue-result">Set `max_concurrency&#39; to 0<\/p>/);
  });

  it("shows a form in a browser", async () => {
    const form = await get(port, "/flags/max_concurrency?setvalue&withform", BROWSER);
    assert.equal(form.status, 200);
    assert.match(form.body, /<form action="\/flags\/max_concurrency" method="get" id="setvalue-form">/);
    assert.match(form.body, /<input name="setvalue" value="0">/);
  });
});
