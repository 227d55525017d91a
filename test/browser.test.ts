/**
 * The builtin web pages in a real browser: Debian's Chromium driven by playwright-core.
 * Every page loads without console errors or failed requests, a live chart renders and
 * redraws, and screenshots of /status and /vars are saved (dist/screenshots/, and
 * `BRPC_TS_SCREENSHOTS=<dir>` copies them there, e.g. docs/images).
 *
 * Skipped (with the reason) when no Chromium is installed: `.ci/run` installs Debian's
 * `chromium` package so CI runs it.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, ConsoleMessage, Page } from "playwright-core";
import { EchoService } from "../examples/gen/peer_pb.js";
import { Channel, Server } from "../src/index.js";

const CHROMIUM = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].find(
  (p): p is string => p !== undefined && p !== "" && existsSync(p),
);
const skip = CHROMIUM === undefined ? "Debian's chromium is not installed (apt-get install chromium)" : false;

const SHOTS = join("dist", "screenshots");

/** The page's `document`, typed just enough for the functions run in the page (no DOM lib here). */
declare const document: {
  getElementById(id: string): { dataset: Record<string, string | undefined> } | null;
};

/** Problems a page reported: console errors, uncaught exceptions, failed requests. */
function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (m: ConsoleMessage) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  return problems;
}

describe("builtin pages in Chromium", { skip }, () => {
  let browser: Browser;
  let server: Server;
  let base: string;
  let channel: Channel;
  let traffic = true;
  let load: Promise<void> = Promise.resolve();

  before(async () => {
    server = new Server();
    server.addService(EchoService, {
      echo: async (req) => {
        await new Promise((r) => setTimeout(r, 1));
        return { message: req.message };
      },
    });
    await server.start("127.0.0.1:0");
    base = `http://127.0.0.1:${server.port}`;
    // Live traffic while the pages are open: the charts have something to draw.
    channel = new Channel(`127.0.0.1:${server.port}`, { timeoutMs: 2000 });
    const echo = channel.client(EchoService);
    load = (async () => {
      while (traffic) {
        await Promise.all(Array.from({ length: 8 }, (_, i) => echo.echo({ message: `m${i}` })));
      }
    })();
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    mkdirSync(SHOTS, { recursive: true });
  });

  after(async () => {
    traffic = false;
    await load.catch(() => {});
    channel?.close();
    await browser?.close();
    await server?.stop();
  });

  async function open(path: string): Promise<{ page: Page; problems: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems = watch(page);
    const res = await page.goto(base + path, { waitUntil: "load" });
    assert.ok(res !== null, `${path}: no response`);
    assert.equal(res.status(), 200, `${path}: HTTP ${res.status()}`);
    assert.match(res.headers()["content-type"] ?? "", /text\/html/, `${path} is HTML for a browser`);
    return { page, problems };
  }

  // (/version, /health and /brpc_metrics are plain text for every client, as in brpc.)
  for (const path of [
    "/",
    "/status",
    "/vars",
    "/connections",
    "/flags",
    "/list",
    "/protobufs",
    "/rpcz",
    "/hotspots",
  ]) {
    it(`${path} loads with no console errors`, async () => {
      const { page, problems } = await open(path);
      // Give the page's scripts a moment (charts poll every second).
      await page.waitForTimeout(300);
      assert.ok((await page.locator("nav#tabs a.tab").count()) > 0, `${path} has the navigation bar`);
      assert.deepEqual(problems, [], `${path}: ${problems.join("; ")}`);
      await page.close();
    });
  }

  it("a variable's chart renders and redraws with new data", async () => {
    const name = `${server.metricsPrefix}_example_echo_service_echo_qps`;
    const { page, problems } = await open(`/vars/${name}?expand`);
    const chart = page.locator(`#chart-${name}`);
    await chart.locator("canvas").first().waitFor({ state: "attached", timeout: 10_000 });
    await page.waitForFunction(
      (id) => Number(document.getElementById(id)?.dataset.updated ?? 0) >= 3,
      `chart-${name}`,
      { timeout: 15_000 },
    );
    const value = await page.locator(`[id="value-${name}"]`).textContent();
    assert.ok(value !== null && Number(value) > 0, `qps shown: ${value}`);
    assert.deepEqual(problems, []);
    await page.close();
  });

  it("clicking a variable on /vars opens its chart", async () => {
    const { page, problems } = await open("/vars");
    const name = `${server.metricsPrefix}_example_echo_service_echo_count`;
    await page.locator(`p.variable[data-var="${name}"]`).click();
    await page.waitForFunction(
      (id) => Number(document.getElementById(id)?.dataset.updated ?? 0) >= 1,
      `chart-${name}`,
      { timeout: 10_000 },
    );
    assert.deepEqual(problems, []);
    await page.close();
  });

  it("a CPU profile shows as a flame graph", async () => {
    const { page, problems } = await open("/hotspots/cpu?seconds=1");
    const svg = page.locator("#flamegraph svg.flamegraph");
    await svg.waitFor({ state: "visible", timeout: 10_000 });
    assert.ok((await svg.locator("rect").count()) > 1, "frames drawn");
    assert.deepEqual(problems, []);
    await page.close();
  });

  it("screenshots of /status and /vars", async () => {
    for (const [path, file] of [
      ["/status?expand", "status.png"],
      [`/vars/${server.metricsPrefix}_example_echo_service_echo_*?expand`, "vars.png"],
    ] as const) {
      const { page, problems } = await open(path);
      // Let the charts draw a few points.
      await page.waitForTimeout(3000);
      const out = join(SHOTS, file);
      await page.screenshot({ path: out, fullPage: false });
      assert.ok(existsSync(out));
      const copy = process.env.BRPC_TS_SCREENSHOTS;
      if (copy) {
        mkdirSync(copy, { recursive: true });
        await page.screenshot({ path: join(copy, file), fullPage: false });
      }
      assert.deepEqual(problems, [], `${path}: ${problems.join("; ")}`);
      await page.close();
    }
  });
});
