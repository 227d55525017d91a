/**
 * /hotspots/cpu and /hotspots/heap: profiles taken in-process with node:inspector,
 * downloaded as .cpuprofile / .heapprofile, shown as text (curl) or an SVG flame graph
 * (browsers); one profile at a time; and the flame graph helpers on synthetic profiles.
 */
import assert from "node:assert/strict";
import { Session } from "node:inspector/promises";
import { after, before, describe, it } from "node:test";
import {
  type CpuProfile,
  collapsedStacks,
  cpuTree,
  flameGraphSvg,
  functionWeights,
  type HeapProfile,
  heapTree,
} from "../src/builtin/flamegraph.js";
import { Server } from "../src/index.js";
import { BROWSER, CURL, get } from "./helpers/builtin-http.js";

let server: Server;
let port: number;

before(async () => {
  server = new Server();
  await server.start("127.0.0.1:0");
  port = server.port;
});

after(async () => {
  await server.stop(0);
});

/** Keep the CPU busy for a while so that the profile has frames of ours. */
function burn(ms: number): void {
  const end = Date.now() + ms;
  let x = 0;
  while (Date.now() < end) x += Math.sqrt(x + 1);
  if (x < 0) console.log(x);
}

function burning(): NodeJS.Timeout {
  return setInterval(() => burn(20), 25);
}

describe("/hotspots/cpu", () => {
  it("downloads a .cpuprofile that DevTools can load (nodes, samples, times)", async () => {
    const busy = burning();
    const page = await get(port, "/hotspots/cpu?seconds=1&download=1", CURL).finally(() =>
      clearInterval(busy),
    );
    assert.equal(page.status, 200, page.body);
    assert.equal(page.headers["content-type"], "application/json");
    assert.match(
      page.headers["content-disposition"] as string,
      /^attachment; filename="cpu-\d+-\d{8}-\d{6}\.cpuprofile"$/,
    );
    const p = JSON.parse(page.body) as CpuProfile;
    assert.ok(Array.isArray(p.nodes) && p.nodes.length > 1);
    assert.ok(Array.isArray(p.samples) && p.samples.length > 10);
    assert.ok(Array.isArray(p.timeDeltas) && p.timeDeltas.length === p.samples.length);
    assert.ok(p.endTime - p.startTime >= 900_000, "about one second, in µs");
    assert.ok(
      p.nodes.some((n) => n.callFrame.url.endsWith("/hotspots.test.js")),
      "our busy code was sampled",
    );
  });

  it("answers Accept: application/json with the profile too; ?last=1 returns the last one without profiling", async () => {
    const t0 = Date.now();
    const page = await get(port, "/hotspots/cpu?last=1", { ...CURL, accept: "application/json" });
    assert.equal(page.status, 200);
    assert.ok(Date.now() - t0 < 900, "no new profile");
    const p = JSON.parse(page.body) as CpuProfile;
    assert.ok(p.nodes.length > 1);
  });

  it("shows top functions and collapsed stacks as text for curl", async () => {
    const busy = burning();
    const page = await get(port, "/hotspots/cpu?seconds=1", CURL).finally(() => clearInterval(busy));
    assert.equal(page.status, 200);
    assert.match(page.headers["content-type"] as string, /^text\/plain/);
    assert.match(page.body, /^CPU profile of 1s \(pid \d+\): \d+ samples/);
    assert.match(page.body, /Top 30 functions by self time:\nself ms +self% +total ms +total% +function\n/);
    assert.match(page.body, /Top 30 functions by total time:/);
    assert.match(page.body, /Collapsed stacks/);
    assert.match(
      page.body,
      /^.*;[^;]* file:\/\/\/\S*\/hotspots\.test\.js:\d+ \d+$/m,
      "a stack ending in our busy code",
    );
  });

  it("draws an SVG flame graph for browsers", async () => {
    const busy = burning();
    const page = await get(port, "/hotspots/cpu?seconds=1", BROWSER).finally(() => clearInterval(busy));
    assert.equal(page.status, 200);
    assert.match(page.headers["content-type"] as string, /^text\/html/);
    assert.match(
      page.body,
      /<div id="flamegraph"><svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" class="flamegraph"/,
    );
    assert.match(
      page.body,
      /<rect x="[\d.]+" y="\d+" width="[\d.]+" height="16" rx="2" fill="rgb\(\d+,\d+,\d+\)"\/>/,
    );
    assert.match(page.body, /<title>[^<]* file:\/\/\/\S*\/hotspots\.test\.js:\d+ \(/);
    assert.match(page.body, /href="\/hotspots\/cpu\?last=1&amp;download=1"/);
    assert.doesNotMatch(page.body, /style="/, "no inline style (the pages' CSP forbids it)");
  });

  it("refuses a second profile while one runs (503), and bad seconds (400)", async () => {
    const first = get(port, "/hotspots/cpu?seconds=2", CURL);
    await new Promise((r) => setTimeout(r, 200));
    const second = await get(port, "/hotspots/heap?seconds=1", CURL);
    assert.equal(second.status, 503);
    assert.match(second.body, /Another profile \(cpu\) is being taken/);
    const third = await get(port, "/hotspots/cpu?seconds=1", CURL);
    assert.equal(third.status, 503);
    assert.equal((await first).status, 200);
    for (const q of ["seconds=0", "seconds=61", "seconds=abc", "interval=1"]) {
      const r = await get(port, `/hotspots/cpu?${q}`, CURL);
      assert.equal(r.status, 400, q);
    }
    assert.equal((await get(port, "/hotspots/nope", CURL)).status, 404);
  });

  it("works while another inspector session profiles too", async () => {
    const other = new Session();
    other.connect();
    await other.post("Profiler.enable");
    await other.post("Profiler.start");
    try {
      const page = await get(port, "/hotspots/cpu?seconds=1&download=1", CURL);
      // V8 runs several CPU profiles at once: both sessions get theirs.
      assert.equal(page.status, 200, page.body);
      assert.ok((JSON.parse(page.body) as CpuProfile).nodes.length > 0);
      const { profile } = await other.post("Profiler.stop");
      assert.ok(profile.nodes.length > 0, "the other session's profile is intact");
    } finally {
      other.disconnect();
    }
    // And the page still works afterwards.
    assert.equal((await get(port, "/hotspots/cpu?seconds=1", CURL)).status, 200);
  });
});

describe("/hotspots/heap", () => {
  it("downloads a .heapprofile and draws the live allocations", async () => {
    const keep: unknown[] = [];
    const alloc = setInterval(() => {
      for (let i = 0; i < 2000; i++) keep.push({ i, s: `item ${i}` });
    }, 20);
    const page = await get(port, "/hotspots/heap?seconds=1&download=1", CURL).finally(() =>
      clearInterval(alloc),
    );
    assert.equal(page.status, 200, page.body);
    assert.match(
      page.headers["content-disposition"] as string,
      /filename="heap-\d+-\d{8}-\d{6}\.heapprofile"/,
    );
    const p = JSON.parse(page.body) as HeapProfile;
    assert.ok(p.head !== undefined && Array.isArray(p.head.children));
    assert.ok(Array.isArray(p.samples) && p.samples.length > 0);
    const html = await get(port, "/hotspots/heap?last=1", BROWSER);
    assert.equal(html.status, 200);
    assert.match(html.body, /<svg[^>]*class="flamegraph"/);
    assert.match(html.body, /Heap profile \(sampling\) of 1s/);
    const text = await get(port, "/hotspots/heap?last=1", CURL);
    assert.match(text.body, /Top 30 functions by self size:\nself bytes/);
    assert.ok(keep.length > 0);
  });

  it("the index page lists both", async () => {
    const page = await get(port, "/hotspots", CURL);
    assert.match(page.body, /\/hotspots\/cpu\?seconds=10/);
    assert.match(page.body, /\/hotspots\/heap\?seconds=10/);
  });
});

describe("flame graph helpers", () => {
  const frame = (functionName: string, url = "", lineNumber = 0) => ({
    functionName,
    scriptId: "0",
    url,
    lineNumber,
    columnNumber: 0,
  });
  // (root) -> main -> a -> a (recursion), main -> b; (idle) 50 samples.
  const profile: CpuProfile = {
    startTime: 0,
    endTime: 200_000,
    nodes: [
      { id: 1, callFrame: frame("(root)"), hitCount: 0, children: [2, 6] },
      { id: 2, callFrame: frame("main", "file:///app.js", 9), hitCount: 10, children: [3, 5] },
      { id: 3, callFrame: frame("a", "file:///app.js", 19), hitCount: 20, children: [4] },
      { id: 4, callFrame: frame("a", "file:///app.js", 19), hitCount: 30 },
      { id: 5, callFrame: frame("<script>b</script>", "file:///app.js", 29), hitCount: 40 },
      { id: 6, callFrame: frame("(idle)"), hitCount: 50 },
    ],
    samples: new Array(150).fill(2),
  };

  it("aggregate a CPU profile into frames; idle apart; recursion counted once in total", () => {
    const { root, idle, samples } = cpuTree(profile);
    assert.equal(idle, 50);
    assert.equal(samples, 150);
    assert.equal(root.total, 100);
    const w = new Map(functionWeights(root).map((x) => [x.name, x]));
    assert.deepEqual(w.get("a file:///app.js:20"), { name: "a file:///app.js:20", self: 50, total: 50 });
    assert.deepEqual(w.get("main file:///app.js:10"), {
      name: "main file:///app.js:10",
      self: 10,
      total: 100,
    });
    assert.equal(cpuTree(profile, true).root.total, 150);
    assert.equal(
      collapsedStacks(root),
      "main file:///app.js:10 10\n" +
        "main file:///app.js:10;a file:///app.js:20 20\n" +
        "main file:///app.js:10;a file:///app.js:20;a file:///app.js:20 30\n" +
        "main file:///app.js:10;<script>b</script> file:///app.js:30 40\n",
    );
  });

  it("draws one rect per frame wide enough, names escaped", () => {
    const { root } = cpuTree(profile);
    const svg = flameGraphSvg(root, { title: "t<1>", format: String, width: 1000, minWidth: 250 });
    // (root) 1000px, main 1000px, a 500px, b 400px, the inner a 300px.
    assert.equal((svg.match(/<rect /g) ?? []).length, 5);
    const narrow = flameGraphSvg(root, { title: "t", format: String, width: 1000, minWidth: 350 });
    assert.equal((narrow.match(/<rect /g) ?? []).length, 4, "the inner a (300px) is left out");
    assert.doesNotMatch(svg, /<script>/);
    assert.match(svg, /&lt;script&gt;b&lt;\/script&gt;/);
    assert.match(svg, />t&lt;1&gt;<\/text>/);
    const empty = flameGraphSvg(cpuTree({ startTime: 0, endTime: 0, nodes: [] }).root, {
      title: "x",
      format: String,
    });
    assert.match(empty, /^<svg /);
  });

  it("aggregate a heap profile by bytes", () => {
    const heap: HeapProfile = {
      head: {
        id: 1,
        selfSize: 0,
        callFrame: frame("(root)"),
        children: [
          {
            id: 2,
            selfSize: 100,
            callFrame: frame("alloc", "file:///x.js", 0),
            children: [{ id: 3, selfSize: 28, callFrame: frame("inner", "file:///x.js", 4), children: [] }],
          },
        ],
      },
    };
    const root = heapTree(heap);
    assert.equal(root.total, 128);
    assert.equal(
      collapsedStacks(root),
      "alloc file:///x.js:1 100\nalloc file:///x.js:1;inner file:///x.js:5 28\n",
    );
  });
});
