/**
 * The browser side of the builtin pages, served as `/js/brpc-charts.js` and `/js/brpc.css`
 * (no inline script or style: the pages' Content-Security-Policy forbids them).
 *
 * The script makes every `p.variable[data-var]` clickable: a click shows the chart below it
 * and polls `/vars/<name>?series` (brpc's trend JSON: 174 points, 30 days to the last
 * second; an array of trends for vectors; the CDF for `*_latency_cdf`) once a second,
 * redrawing with uPlot and refreshing the value; another click stops it. It also runs the
 * search box of `/vars`. The markup it relies on is described at the top of html.ts.
 */

/** `/js/brpc-charts.js`. Plain ES2020 for browsers; values only ever reach the page as text. */
export const CHARTS_JS = `"use strict";
(function () {
  var COLORS = ["#e0803a", "#3a7be0", "#3aa55a", "#b04ad0", "#d04a5a", "#808080"];
  var TREND_SPLITS = [0, 29, 53, 113, 173];
  var CDF_SPLITS = [10, 20, 30, 40, 50, 60, 70, 80, 90, 101];
  var states = new Map();
  var expandAll = new URLSearchParams(window.location.search).has("expand");

  function trendLabel(x) {
    if (x >= 173) return "now";
    if (x > 113) return (x - 173) + "s";
    if (x > 53) return (x - 114) + "min";
    if (x > 29) return (x - 54) + "h";
    return (x - 30) + "d";
  }
  function cdfLabel(x) {
    if (x <= 99) return x + "%";
    if (x === 100) return "99.9%";
    if (x === 101) return "99.99%";
    return String(x);
  }

  // Axis labels: 1.5M rather than 1,500,000 (which would not fit).
  function compact(v) {
    var a = Math.abs(v);
    if (a >= 1e9) return +(v / 1e9).toFixed(2) + "G";
    if (a >= 1e6) return +(v / 1e6).toFixed(2) + "M";
    if (a >= 1e4) return +(v / 1e3).toFixed(1) + "k";
    return String(+v.toFixed(4));
  }

  function parse(json) {
    // -> { kind, labels, xs, ys[] }
    if (Array.isArray(json)) {
      var first = json[0] && Array.isArray(json[0].data) ? json[0].data : [];
      return {
        kind: "vector",
        labels: json.map(function (s) { return String(s.label); }),
        xs: first.map(function (p) { return p[0]; }),
        ys: json.map(function (s) { return (s.data || []).map(function (p) { return p[1]; }); })
      };
    }
    var data = Array.isArray(json.data) ? json.data : [];
    return {
      kind: json.label === "cdf" ? "cdf" : "trend",
      labels: [json.label === "cdf" ? "latency" : "value"],
      xs: data.map(function (p) { return p[0]; }),
      ys: [data.map(function (p) { return p[1]; })]
    };
  }

  function options(parsed, width) {
    var cdf = parsed.kind === "cdf";
    var xLabel = cdf ? cdfLabel : trendLabel;
    var series = [{ label: cdf ? "percentile" : "time", value: function (u, v) { return v == null ? "-" : xLabel(v); } }];
    parsed.labels.forEach(function (label, i) {
      var color = COLORS[i % COLORS.length];
      series.push({ label: label, stroke: color, width: 1.5, fill: cdf ? "rgba(224,128,58,0.2)" : undefined, points: { show: false } });
    });
    return {
      width: width,
      height: 200,
      scales: { x: { time: false } },
      series: series,
      axes: [
        {
          splits: function () { return cdf ? CDF_SPLITS : TREND_SPLITS; },
          values: function (u, splits) { return splits.map(xLabel); }
        },
        { size: 60, values: function (u, splits) { return splits.map(compact); } }
      ]
    };
  }

  function showValue(state, parsed) {
    if (!state.value) return;
    var last = function (ys) { return ys.length ? ys[ys.length - 1] : ""; };
    var text = parsed.kind === "vector" ? "[" + parsed.ys.map(last).join(",") + "]" : String(last(parsed.ys[0]));
    state.value.textContent = text;
  }

  function draw(state, json) {
    var parsed = parse(json);
    var data = [parsed.xs].concat(parsed.ys);
    var shape = parsed.kind + ":" + parsed.labels.join(",");
    if (typeof window.uPlot === "function") {
      if (state.plot && state.shape === shape) {
        state.plot.setData(data);
      } else {
        if (state.plot) state.plot.destroy();
        var width = Math.max(300, Math.min(state.el.clientWidth || 800, 1000));
        state.plot = new window.uPlot(options(parsed, width), data, state.el);
        state.shape = shape;
      }
    }
    showValue(state, parsed);
    state.el.setAttribute("data-updated", String(Number(state.el.getAttribute("data-updated") || 0) + 1));
  }

  function poll(state) {
    if (!state.enabled) return;
    var url = "/vars/" + encodeURIComponent(state.name) + "?series";
    fetch(url, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (json) { if (json && state.enabled) draw(state, json); })
      .catch(function () {})
      .then(function () {
        if (state.enabled) state.timer = setTimeout(function () { poll(state); }, 1000);
      });
  }

  function toggle(p) {
    var detail = p.nextElementSibling;
    if (!detail || !detail.classList.contains("detail")) return;
    var el = detail.querySelector(".chart");
    if (!el) return;
    var state = states.get(el);
    if (!state) {
      state = { name: p.getAttribute("data-var"), el: el, value: p.querySelector(".value"), enabled: false, timer: 0, plot: null, shape: "" };
      states.set(el, state);
    }
    if (state.enabled) {
      state.enabled = false;
      clearTimeout(state.timer);
      detail.hidden = true;
    } else {
      state.enabled = true;
      detail.hidden = false;
      poll(state);
    }
  }

  function setup(root) {
    var rows = root.querySelectorAll("p.variable[data-var]");
    for (var i = 0; i < rows.length; i++) {
      (function (p) {
        p.addEventListener("click", function () { toggle(p); });
        if (expandAll || p.classList.contains("default-expand")) toggle(p);
      })(rows[i]);
    }
  }

  function stopAll() {
    states.forEach(function (state) {
      state.enabled = false;
      clearTimeout(state.timer);
      if (state.plot) state.plot.destroy();
    });
    states.clear();
  }

  // The search box of /vars: "a b" lists /vars/*a*;*b* without reloading the page.
  function toURL(text) {
    var words = text.replace(/(;|,|\\s|\\*)+/g, " ").trim();
    if (words === "") return "/vars";
    return "/vars/*" + words.split(" ").map(encodeURIComponent).join("*;*") + "*";
  }
  function setupSearch() {
    var box = document.getElementById("searchbox");
    var layer = document.getElementById("layer1");
    if (!box || !layer) return;
    var timer = 0;
    var seq = 0;
    box.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var url = toURL(box.value);
        var mine = ++seq;
        fetch(url + "?dataonly", { cache: "no-store" })
          .then(function (r) { return r.text().then(function (body) { return { ok: r.ok, body: body }; }); })
          .then(function (res) {
            if (mine !== seq) return;
            stopAll();
            if (res.ok) {
              layer.innerHTML = res.body; // this server's own HTML, every value escaped
            } else {
              layer.textContent = res.body;
            }
            setup(layer);
            window.history.replaceState(null, "", url);
          })
          .catch(function () {});
      }, 200);
    });
  }

  function start() {
    setup(document);
    setupSearch();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
`;

/** `/js/brpc.css`: the style of every builtin page. */
export const BRPC_CSS = `body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; font-size: 14px; margin: 0; color: #111; background: #fff; }
nav#tabs { display: flex; flex-wrap: wrap; gap: 2px; padding: 6px 8px 0; background: #f0f0f0; border-bottom: 1px solid #ccc; }
nav#tabs a.tab { padding: 5px 12px; color: #333; text-decoration: none; border: 1px solid #ccc; border-bottom: none; border-radius: 4px 4px 0 0; background: #e4e4e4; }
nav#tabs a.tab.current { background: #fff; font-weight: 600; position: relative; top: 1px; }
main#content { padding: 8px 16px; }
pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; }
h3 { margin: 16px 0 4px; font-size: 16px; }
h4 { margin: 10px 0 2px; font-size: 14px; font-weight: 600; }
p { padding: 2px 0; margin: 0; }
.variable { cursor: pointer; }
.variable:hover { background: #f4f4ff; }
.value { font-family: ui-monospace, Menlo, Consolas, monospace; }
.detail { width: min(1000px, 100%); background: #fafafa; margin: 2px 0 6px; }
.detail[hidden] { display: none; }
.chart { min-height: 200px; }
table.gridtable { border-collapse: collapse; margin: 6px 0; font-size: 13px; }
table.gridtable th, table.gridtable td { border: 1px solid #bbb; padding: 3px 8px; text-align: left; vertical-align: top; }
table.gridtable th { background: #eee; }
.changed { color: #c00; }
.muted { color: #777; }
.indent { padding-left: 2em; }
#searchbox { width: 320px; padding: 3px 6px; margin: 6px 0; }
`;

/** `/favicon.ico` (SVG, which browsers accept there). */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#3a7be0"/><path d="M3 12 L6 7 L9 9 L13 3" stroke="#fff" stroke-width="1.6" fill="none"/></svg>`;
