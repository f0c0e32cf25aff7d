/**
 * The live status page a node serves at `/status` (`OpsServer`): one HTML document with its CSS
 * and JS inline, no build step, no CDN, nothing fetched but `/status.json` from the same node, so
 * it works offline and behind any proxy. Every second it fetches `/status.json` and draws:
 * the members in view order (role, replica and config status, last executed viewstamp, lag
 * behind the primary, or "unreachable"), who is primary, the view history as a timeline, and two
 * sparklines kept in the page (the last `sparkPoints` looks): throughput (requests the primary
 * executed per second, from its last executed seqno) and the primary's mean client-path latency
 * (from its `NodeStatus.clientPath`).
 *
 * The script uses no template literals, so the page can live in this TypeScript string as it
 * is. Elements the browser test reads carry ids and data attributes: `#primary`, `#ready`,
 * `#members tr[data-node][data-role][data-reachable]`.
 */
export const statusPageHtml = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>synod status</title>
<style>
  :root { --bg:#f7f7f5; --fg:#1d1d1b; --muted:#77776f; --card:#fff; --line:#e2e1dc; --primary:#2a6fdb; --ok:#1f9d55; --bad:#c9372c; --warn:#c98a1c; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--fg); }
  header { display:flex; gap:16px; align-items:baseline; padding:14px 20px; background:var(--card); border-bottom:1px solid var(--line); }
  header h1 { font-size:18px; margin:0; }
  .muted { color:var(--muted); }
  main { display:grid; grid-template-columns: 1fr 1fr; gap:16px; padding:16px 20px; align-items:start; }
  section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size:13px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); margin:0 0 8px; }
  table { width:100%; border-collapse:collapse; }
  th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); font-variant-numeric: tabular-nums; }
  th { font-weight:600; color:var(--muted); font-size:12px; }
  tr[data-role="primary"] td:first-child { font-weight:700; color:var(--primary); }
  tr[data-reachable="false"] td { color:var(--bad); }
  .badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; color:#fff; }
  .b-primary { background:var(--primary); } .b-backup { background:#6b7a90; } .b-syncing, .b-joining, .b-starting { background:var(--warn); }
  .b-down { background:var(--bad); } .b-ready { background:var(--ok); } .b-notready { background:var(--bad); }
  #primary { font-size:22px; font-weight:700; color:var(--primary); }
  .spark { width:100%; height:60px; }
  .spark polyline { fill:none; stroke:var(--primary); stroke-width:1.5; }
  .big { font-size:20px; font-weight:600; }
  #timeline svg { width:100%; height:auto; }
  #error { color:var(--bad); }
</style>
</head>
<body>
<header>
  <h1>synod</h1>
  <span class="muted">served by <b id="self">…</b></span>
  <span id="ready" class="badge b-notready">…</span>
  <span class="muted" id="reason"></span>
  <span id="error"></span>
</header>
<main>
  <section>
    <h2>Primary</h2>
    <div id="primary">…</div>
    <div class="muted">view <span id="vid">…</span></div>
  </section>
  <section>
    <h2>Throughput and latency</h2>
    <div><span class="big" id="tput">–</span> <span class="muted">requests/s executed by the primary</span></div>
    <svg class="spark" id="tput-spark" viewBox="0 0 240 60" preserveAspectRatio="none"><polyline points=""/></svg>
    <div><span class="big" id="lat">–</span> <span class="muted">ms mean client-path latency at the primary</span></div>
    <svg class="spark" id="lat-spark" viewBox="0 0 240 60" preserveAspectRatio="none"><polyline points=""/></svg>
  </section>
  <section class="wide">
    <h2>Members</h2>
    <table>
      <thead><tr><th>node</th><th>role</th><th>replica</th><th>config</th><th>view</th><th>last executed</th><th>lag</th><th>in flight</th></tr></thead>
      <tbody id="members"></tbody>
    </table>
  </section>
  <section class="wide">
    <h2>View history</h2>
    <div id="timeline"></div>
  </section>
</main>
<script>
"use strict";
// Looks kept for the sparklines: two minutes at one look a second.
var sparkPoints = 120;
var sparkFillPoints = 30;
// A look that takes longer than this is abandoned and shown as an error (the next one retries).
var fetchTimeoutMs = 3000;
var refreshMs = 1000;
var tput = [], lat = [];
var prev = null;

function el(id) { return document.getElementById(id); }
function text(id, s) { el(id).textContent = s; }
function vs(v) { return v ? v.vid + "." + v.seqno : "–"; }
function cell(tr, s) { var td = document.createElement("td"); td.textContent = s; tr.appendChild(td); return td; }

function push(arr, v) { arr.push(v); if (arr.length > sparkPoints) arr.shift(); }

function spark(id, arr) {
  var line = el(id).querySelector("polyline");
  var max = 0;
  for (var i = 0; i < arr.length; i++) if (arr[i] !== null && arr[i] > max) max = arr[i];
  var pts = [];
  // A short history grows from the left across the first sparkFillPoints looks, then spans the width.
  var span = Math.max(arr.length, sparkFillPoints) - 1;
  for (var j = 0; j < arr.length; j++) {
    if (arr[j] === null) continue;
    var x = j * 240 / span;
    var y = 58 - (max > 0 ? arr[j] / max : 0) * 54;
    pts.push(x.toFixed(1) + "," + y.toFixed(1));
  }
  line.setAttribute("points", pts.join(" "));
}

function primaryStatus(r) {
  for (var i = 0; i < r.members.length; i++) {
    var m = r.members[i];
    if (m.reachable && m.node === r.primary) return m.status;
  }
  return null;
}
function primaryExecuted(r) { var p = primaryStatus(r); return p ? p.lastExecuted : null; }

function lagOf(m, top) {
  if (!m.reachable || !top) return "–";
  var le = m.status.lastExecuted;
  if (!le) return "no state";
  if (le.vid === top.vid) return String(Math.max(0, top.seqno - le.seqno));
  if (le.vid < top.vid) return "view " + le.vid + " (behind)";
  return "0";
}

function drawMembers(r) {
  var body = el("members");
  var top = primaryExecuted(r);
  body.textContent = "";
  for (var i = 0; i < r.members.length; i++) {
    var m = r.members[i];
    var tr = document.createElement("tr");
    tr.setAttribute("data-node", m.node);
    tr.setAttribute("data-reachable", String(m.reachable));
    tr.setAttribute("data-role", m.reachable ? m.role : "unreachable");
    cell(tr, m.node + (m.node === r.self ? " (this node)" : ""));
    var roleTd = cell(tr, "");
    var b = document.createElement("span");
    b.className = "badge b-" + (m.reachable ? m.role : "down");
    b.textContent = m.reachable ? m.role : "unreachable";
    roleTd.appendChild(b);
    if (m.reachable) {
      var s = m.status;
      cell(tr, s.replicaStatus || "–");
      cell(tr, s.configStatus);
      cell(tr, String(s.vid));
      cell(tr, vs(s.lastExecuted));
      cell(tr, lagOf(m, top));
      cell(tr, String(s.inFlight));
    } else {
      var td = cell(tr, m.error);
      td.colSpan = 6;
    }
    body.appendChild(tr);
  }
}

function drawTimeline(r) {
  var views = r.views;
  var box = el("timeline");
  if (views.length === 0) { box.textContent = "no view yet"; return; }
  var ns = "http://www.w3.org/2000/svg";
  var width = 960, rowH = 22, height = 34 + rowH;
  var svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  // Views seen before this process watched have no time: they share the left fifth evenly.
  var timed = [], untimed = 0;
  for (var i = 0; i < views.length; i++) if (views[i].seenAtMs === null) untimed++; else timed.push(views[i].seenAtMs);
  var t0 = timed.length > 0 ? timed[0] : r.atMs, t1 = r.atMs;
  var leftW = untimed > 0 ? (timed.length > 0 ? width * 0.2 : width) : 0;
  var span = Math.max(1, t1 - t0);
  function xOf(k) {
    var v = views[k];
    if (v.seenAtMs === null) return k * leftW / Math.max(1, untimed);
    return leftW + (v.seenAtMs - t0) / span * (width - leftW);
  }
  for (var k = 0; k < views.length; k++) {
    var v = views[k];
    var x0 = xOf(k), x1 = k + 1 < views.length ? xOf(k + 1) : width;
    var g = document.createElementNS(ns, "g");
    var rect = document.createElementNS(ns, "rect");
    rect.setAttribute("x", x0.toFixed(1)); rect.setAttribute("y", "4");
    rect.setAttribute("width", Math.max(2, x1 - x0 - 2).toFixed(1)); rect.setAttribute("height", String(rowH));
    rect.setAttribute("rx", "3");
    rect.setAttribute("fill", k === views.length - 1 ? "#2a6fdb" : (k % 2 ? "#9fb4d3" : "#b9c8de"));
    var title = document.createElementNS(ns, "title");
    title.textContent = "view " + v.vid + ": " + v.members.join(", ") + (v.primary ? " · primary " + v.primary : "") +
      (v.seenAtMs ? " · since " + new Date(v.seenAtMs).toLocaleTimeString() : "");
    rect.appendChild(title);
    g.appendChild(rect);
    var label = document.createElementNS(ns, "text");
    label.setAttribute("x", (x0 + 4).toFixed(1)); label.setAttribute("y", "20");
    label.setAttribute("font-size", "12"); label.setAttribute("fill", k === views.length - 1 ? "#fff" : "#1d1d1b");
    label.textContent = "v" + v.vid + " (" + v.members.length + ")";
    g.appendChild(label);
    svg.appendChild(g);
  }
  var cap = document.createElementNS(ns, "text");
  cap.setAttribute("x", "0"); cap.setAttribute("y", String(height - 2)); cap.setAttribute("font-size", "11"); cap.setAttribute("fill", "#77776f");
  var last = views[views.length - 1];
  cap.textContent = "current: view " + last.vid + " [" + last.members.join(", ") + "]" + (last.primary ? ", primary " + last.primary : "");
  svg.appendChild(cap);
  box.textContent = "";
  box.appendChild(svg);
}

function drawRates(r) {
  var top = primaryExecuted(r);
  var p = primaryStatus(r);
  var now = { atMs: r.atMs, top: top, primary: r.primary, path: p ? p.clientPath : null };
  if (prev !== null && now.atMs > prev.atMs) {
    var dt = (now.atMs - prev.atMs) / 1000;
    var rate = null;
    if (top && prev.top && top.vid === prev.top.vid) rate = Math.max(0, top.seqno - prev.top.seqno) / dt;
    push(tput, rate);
    // The primary's own totals, between two looks at the same primary.
    var n = now.path && prev.path && now.primary === prev.primary ? now.path.answers - prev.path.answers : 0;
    push(lat, n > 0 ? (now.path.seconds - prev.path.seconds) / n * 1000 : null);
    text("tput", rate === null ? "–" : rate.toFixed(0));
    var l = lat[lat.length - 1];
    text("lat", l === null || l === undefined ? "–" : l.toFixed(2));
  }
  prev = now;
  spark("tput-spark", tput);
  spark("lat-spark", lat);
}

function draw(r) {
  text("self", r.self);
  var ready = el("ready");
  ready.textContent = r.ready ? "ready" : "not ready";
  ready.className = "badge " + (r.ready ? "b-ready" : "b-notready");
  text("reason", r.reason);
  text("primary", r.primary || "none");
  el("primary").setAttribute("data-primary", r.primary || "");
  text("vid", String(r.vid));
  drawMembers(r);
  drawTimeline(r);
  drawRates(r);
}

function refresh() {
  var ctl = new AbortController();
  var t = setTimeout(function () { ctl.abort(); }, fetchTimeoutMs);
  fetch("status.json", { cache: "no-store", signal: ctl.signal })
    .then(function (res) { if (!res.ok) throw new Error("HTTP " + res.status); return res.json(); })
    .then(function (r) { text("error", ""); draw(r); })
    .catch(function (e) { text("error", "cannot reach the node: " + e.message); })
    .finally(function () { clearTimeout(t); setTimeout(refresh, refreshMs); });
}
refresh();
</script>
</body>
</html>
`;
