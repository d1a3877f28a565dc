// The demo page: draws the shared state the server streams (Server-Sent
// Events) and sends the buttons' POSTs. Plain JavaScript and hand-drawn SVG:
// no network beyond this server, no build step, no chart library (three
// line charts and a graph are a few dozen lines of SVG each).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const ROUTE_COLOURS = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000"];
const SHAPES = { closed: "●", open: "■", "half-open": "▲", off: "◆", unknown: "?" };
const KEEP = 60; // seconds of chart

// changedAt / pressedAt: performance.now() of each edge's last change on screen and each button's last press,
// which the browser tests read to measure the delay from one to the other.
const dashboard = { info: null, state: null, points: [], changedAt: {}, changedSnapshot: {}, pressedAt: {}, edgeState: {},
  lastMessage: 0 };
window.dashboard = dashboard; // for the browser tests, and for a curious presenter's console

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function say(text, error = false) {
  const m = document.getElementById("message");
  m.textContent = text;
  m.className = error ? "error" : "";
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Chaos-Demo": "1" },
    body: JSON.stringify(body || {}),
  });
  let answer = {};
  try { answer = await response.json(); } catch (e) { answer = { error: `HTTP ${response.status}` }; }
  if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  return answer;
}

async function press(button, path, body) {
  button.disabled = true;
  say(`${button.textContent.replace(/^■ /, "")}…`);
  try {
    const answer = await post(path, body);
    say(answer.done || "done");
  } catch (e) {
    say(e.message, true);
  } finally {
    button.disabled = false;
  }
}

// -- topology ---------------------------------------------------------------

function layout(info) {
  // Columns by distance from the entrypoint; the load generator on the left.
  const depth = { [info.entrypoint]: 0 };
  let changed = true;
  while (changed) {
    changed = false;
    for (const e of info.edges) {
      if (depth[e.source] !== undefined && (depth[e.target] === undefined || depth[e.target] < depth[e.source] + 1)
          && depth[e.source] + 1 < info.services.length) {
        depth[e.target] = depth[e.source] + 1; changed = true;
      }
    }
  }
  for (const s of info.services) if (depth[s] === undefined) depth[s] = 1;
  const columns = {};
  for (const s of info.services) (columns[depth[s]] = columns[depth[s]] || []).push(s);
  // About as wide as its panel, so that SVG text keeps the page's type size.
  const width = 800, height = 480, ncol = Math.max(...Object.keys(columns).map(Number)) + 1;
  const pos = {};
  for (const [d, names] of Object.entries(columns)) {
    names.forEach((name, i) => {
      pos[name] = { x: 92 + Number(d) * (width - 160) / Math.max(1, ncol - 1), y: (i + 0.5) * height / names.length };
    });
  }
  return { pos, width, height };
}

function drawTopology() {
  const info = dashboard.info, svg = document.getElementById("topology");
  const { pos, width, height } = layout(info);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren();
  const entry = pos[info.entrypoint];
  svg.append(el("line", { x1: entry.x, y1: entry.y + 90, x2: entry.x, y2: entry.y + 36, stroke: "#999", "stroke-width": 5 }));
  svg.append(el("text", { class: "edge-sub load-label", x: entry.x, y: entry.y + 112, "text-anchor": "middle" }, "load"));
  for (const e of info.edges) {
    const a = pos[e.source], b = pos[e.target];
    const g = el("g", { class: "edge unknown", "data-edge": e.name, "data-state": "unknown" });
    // The badge sits nearer the callee's height, so two edges leaving one caller keep apart.
    const x1 = a.x + 65, x2 = b.x - 65, mx = (x1 + x2) / 2, my = a.y + (b.y - a.y) * 0.62;
    g.append(el("path", { class: "edge-line", d: `M ${x1} ${a.y} C ${mx} ${a.y}, ${mx} ${b.y}, ${x2} ${b.y}` }));
    const badge = el("g", { transform: `translate(${mx},${my})` });
    badge.append(el("rect", { class: "badge-bg", x: -92, y: -50, width: 184, height: 124, rx: 8, fill: "#fff", stroke: "#bbb" }));
    badge.append(el("path", { class: "badge", d: "" }));
    badge.append(el("text", { class: "edge-label", x: -52, y: 0 }, "?"));
    badge.append(el("text", { class: "edge-sub edge-time", x: -84, y: 24 }, ""));
    badge.append(el("text", { class: "edge-sub edge-counts", x: -84, y: 44 }, ""));
    badge.append(el("text", { class: "edge-sub edge-name", x: -84, y: -28 }, e.name));
    badge.append(el("text", { class: "edge-toxic", x: -84, y: 66 }, ""));
    g.append(badge);
    g.append(el("title", {}, `${e.name} via Toxiproxy proxy ${e.proxy}`));
    svg.append(g);
  }
  for (const name of info.services) {
    const p = pos[name];
    const g = el("g", { class: "node", "data-unit": name, transform: `translate(${p.x},${p.y})` });
    g.append(el("rect", { x: -65, y: -34, width: 130, height: 68, rx: 10 }));
    g.append(el("text", { y: -4 }, name));
    g.append(el("text", { class: "status", y: 22 }, "…"));
    svg.append(g);
  }
}

function badgeShape(state) {
  // A shape per state, so no one has to tell red from green.
  const x = -84, y = -6;
  if (state === "closed") return `M ${x + 14} ${y} m -14 0 a 14 14 0 1 0 28 0 a 14 14 0 1 0 -28 0`;
  if (state === "open") return `M ${x} ${y - 14} h 28 v 28 h -28 z`;
  if (state === "half-open") return `M ${x + 14} ${y - 15} L ${x + 29} ${y + 13} L ${x - 1} ${y + 13} z`;
  return `M ${x + 14} ${y - 15} L ${x + 29} ${y} L ${x + 14} ${y + 15} L ${x - 1} ${y} z`;
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return "";
  return seconds < 60 ? `${seconds.toFixed(1)} s` : `${Math.floor(seconds / 60)} min ${Math.floor(seconds % 60)} s`;
}

function renderTopology(state) {
  for (const e of state.edges) {
    const g = document.querySelector(`[data-edge="${CSS.escape(e.name)}"]`);
    if (!g) continue;
    if (g.dataset.state !== e.state) {
      g.dataset.state = e.state;
      g.setAttribute("class", `edge ${e.state}`);
      g.querySelector(".badge").setAttribute("d", badgeShape(e.state));
      g.querySelector(".edge-label").textContent = e.state.toUpperCase();
      dashboard.changedAt[e.name] = performance.now();
      dashboard.changedSnapshot[e.name] = state.now;  // when the server computed it: tells its part of a delay from the page's
    }
    dashboard.edgeState[e.name] = e.state;
    g.querySelector(".edge-time").textContent = e.since ? `for ${ago(state.now - e.since)}` : "";
    const c = e.calls;
    g.querySelector(".edge-counts").textContent = c
      ? `✔${c.successful} ✘${c.failed} ⊘${c.not_permitted}` : "counters: no answer";
    g.querySelector(".edge-toxic").textContent = e.toxics.length ? `☠ ${e.toxics.join(", ")}` : "";
  }
  for (const [name, status] of Object.entries(state.units)) {
    const g = document.querySelector(`[data-unit="${CSS.escape(name)}"]`);
    if (!g) continue;
    g.setAttribute("class", `node ${status}`);
    g.dataset.status = status;
    g.querySelector(".status").textContent = status === "running" ? "running" : `⚠ ${status.toUpperCase()}`;
  }
  const load = document.querySelector(".load-label");
  if (load) load.textContent = `load ${state.total.rate}/s`;
}

// -- charts -----------------------------------------------------------------

function mergePoints(points) {
  const last = dashboard.points.length ? dashboard.points[dashboard.points.length - 1].t : -Infinity;
  for (const p of points) if (p.t > last) dashboard.points.push(p);
  const newest = dashboard.points.length ? dashboard.points[dashboard.points.length - 1].t : 0;
  while (dashboard.points.length && dashboard.points[0].t < newest - KEEP) dashboard.points.shift();
}

function chartFrame(svg, width, height, yTicks, yLabel, rightTicks) {
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren();
  const pad = { l: 62, r: rightTicks ? 56 : 12, t: 10, b: 26 };
  for (const [y, label] of yTicks) {
    svg.append(el("line", { class: "grid", x1: pad.l, x2: width - pad.r, y1: y, y2: y }));
    svg.append(el("text", { class: "tick", x: pad.l - 6, y: y + 4, "text-anchor": "end" }, label));
  }
  for (const [y, label] of rightTicks || []) {
    svg.append(el("text", { class: "tick", x: width - pad.r + 6, y: y + 4 }, label));
  }
  svg.append(el("line", { class: "axis", x1: pad.l, x2: pad.l, y1: pad.t, y2: height - pad.b }));
  svg.append(el("line", { class: "axis", x1: pad.l, x2: width - pad.r, y1: height - pad.b, y2: height - pad.b }));
  for (let s = 0; s <= KEEP; s += 10) {
    const x = pad.l + (width - pad.l - pad.r) * (1 - s / KEEP);
    svg.append(el("text", { class: "tick", x, y: height - 6, "text-anchor": "middle" }, s ? `-${s}s` : "now"));
  }
  return pad;
}

function line(svg, points, x, y, attrs) {
  const parts = [];
  let pen = "M";
  for (const p of points) {
    const v = y(p);
    if (v === null || v === undefined || Number.isNaN(v)) { pen = "M"; continue; }
    parts.push(`${pen} ${x(p).toFixed(1)} ${v.toFixed(1)}`);
    pen = "L";
  }
  svg.append(el("path", { class: "series", d: parts.join(" "), ...attrs }));
}

function renderCharts() {
  const pts = dashboard.points;
  if (!pts.length || !dashboard.info) return;
  const newest = pts[pts.length - 1].t;
  // Latency: log scale, 1 ms .. 10 s.
  const lat = document.getElementById("chart-latency");
  const W = 900, H = 240, lo = Math.log10(1), hi = Math.log10(10000);
  const yOf = (ms, pad) => (ms === null ? null : pad.t + (H - pad.t - pad.b) * (1 - (Math.log10(Math.max(ms, 1)) - lo) / (hi - lo)));
  const ticks = [1, 10, 100, 1000, 10000].map((ms) => [yOf(ms, { t: 10, b: 26 }), ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`]);
  const pad = chartFrame(lat, W, H, ticks);
  const xOf = (p) => pad.l + (W - pad.l - pad.r) * (1 - (newest - p.t) / KEEP);
  Object.keys(dashboard.info.routes).forEach((route, i) => {
    const colour = ROUTE_COLOURS[i % ROUTE_COLOURS.length];
    line(lat, pts, xOf, (p) => yOf(p.routes[route] ? p.routes[route][1] : null, pad), { stroke: colour, "stroke-width": 4, "data-route": route, "data-q": "p99" });
    line(lat, pts, xOf, (p) => yOf(p.routes[route] ? p.routes[route][0] : null, pad), { stroke: colour, "stroke-width": 1.5, "data-route": route, "data-q": "p50" });
  });
  // Answers: shares 0..100 %, and the rate on its own right-hand scale.
  const ans = document.getElementById("chart-answers");
  const H2 = 170, top = 10, bottom = 26;
  const share = (v) => (v === null ? null : top + (H2 - top - bottom) * (1 - v));
  const maxRate = Math.max(10, ...pts.map((p) => p.rate)) * 1.15;
  const rateY = (v) => top + (H2 - top - bottom) * (1 - v / maxRate);
  const pad2 = chartFrame(ans, W, H2, [[share(0), "0%"], [share(0.5), "50%"], [share(1), "100%"]], "",
    [[rateY(0), "0"], [rateY(maxRate / 1.15), `${Math.round(maxRate / 1.15)}/s`]]);
  const x2 = (p) => pad2.l + (W - pad2.l - pad2.r) * (1 - (newest - p.t) / KEEP);
  line(ans, pts, x2, (p) => share(p.ok), { stroke: "#1a7f37", "stroke-width": 4, "data-series": "ok" });
  line(ans, pts, x2, (p) => share(p.fallback), { stroke: "#b26a00", "stroke-width": 4, "stroke-dasharray": "10 5", "data-series": "fallback" });
  line(ans, pts, x2, (p) => share(p.errors), { stroke: "#c62828", "stroke-width": 3, "stroke-dasharray": "3 4", "data-series": "errors" });
  line(ans, pts, x2, (p) => rateY(p.rate), { stroke: "#1f2933", "stroke-width": 1.5, "data-series": "rate" });
}

// -- controls, scenario, timeline ------------------------------------------------

function drawControls() {
  const box = document.getElementById("controls");
  box.replaceChildren();
  const byTarget = {};
  for (const c of dashboard.info.controls) (byTarget[c.target] = byTarget[c.target] || []).push(c);
  for (const [target, controls] of Object.entries(byTarget)) {
    const name = document.createElement("span");
    name.className = "target";
    name.textContent = target;
    const buttons = document.createElement("span");
    buttons.className = "buttons";
    for (const c of controls) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = c.short;
      b.title = c.describe;
      b.setAttribute("aria-label", c.label);
      b.dataset.control = c.id;
      b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", () => {
        dashboard.pressedAt[c.id] = performance.now();
        const on = b.getAttribute("aria-pressed") === "true";
        press(b, "/api/action", { id: c.id, op: on ? "revert" : "apply" });
      });
      buttons.append(b);
    }
    box.append(name, buttons);
  }
  const select = document.getElementById("scenario-select");
  select.replaceChildren(...dashboard.info.scenarios.map((s) => {
    const o = document.createElement("option");
    o.value = s; o.textContent = s;
    return o;
  }));
}

function renderControls(state) {
  const on = new Set(state.active.map((a) => a.id));
  const busy = state.scenario && state.scenario.outcome === "running";
  for (const b of document.querySelectorAll("[data-control]")) {
    b.setAttribute("aria-pressed", on.has(b.dataset.control) ? "true" : "false");
    b.classList.toggle("busy", !!busy);
  }
  const chip = document.getElementById("breakers-chip");
  chip.textContent = state.breakers === "on" ? "● breakers ON" : "◆ breakers OFF";
  chip.className = `chip ${state.breakers}`;
  const toggle = document.getElementById("breakers-toggle");
  toggle.textContent = state.breakers === "on" ? "Breakers off" : "Breakers on";
  toggle.setAttribute("aria-pressed", state.breakers === "off" ? "true" : "false");
  document.getElementById("rate-chip").textContent = `${state.total.rate} req/s` +
    (state.total.ok !== null ? `, ${Math.round(state.total.ok * 100)}% full` : "");
}

function renderScenario(state) {
  const box = document.getElementById("scenario");
  const run = state.scenario;
  if (!run) { box.replaceChildren(); return; }
  const head = document.createElement("p");
  head.dataset.outcome = run.outcome;
  head.textContent = `${run.name}: ${run.outcome === "running" ? `running, ${run.elapsed ?? 0} of ${run.duration} s` : run.outcome}`
    + (run.run_dir ? ` — ${run.run_dir}` : "");
  const lines = document.createElement("ol");
  for (const l of run.lines) {
    const li = document.createElement("li");
    li.textContent = `${l.t === null ? "      " : `+${l.t.toFixed(1)}s`} ${l.kind} ${l.text}`;
    lines.append(li);
  }
  const verdicts = document.createElement("ul");
  for (const v of run.verdicts) {
    const li = document.createElement("li");
    li.className = `verdict ${v.status}`;
    li.dataset.status = v.status;
    li.textContent = `${{ pass: "✔ PASS", fail: "✘ FAIL", unknown: "? UNKNOWN" }[v.status] || v.status} ${v.check}: ${v.evidence}`;
    verdicts.append(li);
  }
  box.replaceChildren(head, lines, verdicts);
}

function renderTimeline(state) {
  const list = document.getElementById("timeline");
  const key = state.timeline.length ? state.timeline[state.timeline.length - 1].at + state.timeline.length : 0;
  if (list.dataset.key === String(key)) return;
  list.dataset.key = String(key);
  list.replaceChildren(...state.timeline.slice().reverse().map((e) => {
    const li = document.createElement("li");
    li.className = e.kind;
    li.textContent = `+${e.t.toFixed(1)}s  ${e.text}`;
    return li;
  }));
}

function render(state) {
  dashboard.state = state;
  if (state.error) { say(`the feed: ${state.error}`, true); return; }
  mergePoints(state.points);
  renderTopology(state);
  renderCharts();
  renderControls(state);
  renderScenario(state);
  renderTimeline(state);
  if (state.stopping) say("the demo is stopping: every fault reverted, services restored");
}

// -- start ------------------------------------------------------------------

async function start() {
  const info = await (await fetch("/api/info")).json();
  dashboard.info = info;
  document.getElementById("system").textContent = `demo — ${info.system}, ${info.runtime} runtime`;
  const legend = document.getElementById("latency-legend");
  Object.keys(info.routes).forEach((route, i) => {
    const s = document.createElement("span");
    s.className = "key";
    s.style.color = ROUTE_COLOURS[i % ROUTE_COLOURS.length];
    s.textContent = info.routes[route].length ? `${route} (via ${info.routes[route].join(", ")})` : route;
    legend.append(s);
  });
  mergePoints(info.points);
  drawTopology();
  drawControls();
  document.getElementById("breakers-toggle").addEventListener("click", (ev) => {
    const off = dashboard.state && dashboard.state.breakers === "on";
    press(ev.currentTarget, "/api/breakers", { state: off ? "off" : "on" });
  });
  const revertAll = document.getElementById("revert-all");
  revertAll.addEventListener("click", () => press(revertAll, "/api/revert_all"));
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") press(revertAll, "/api/revert_all"); });
  document.getElementById("save").addEventListener("click", (ev) => press(ev.currentTarget, "/api/save"));
  document.getElementById("stop").addEventListener("click", (ev) => press(ev.currentTarget, "/api/stop"));
  document.getElementById("scenario-run").addEventListener("click", (ev) =>
    press(ev.currentTarget, "/api/scenario", { name: document.getElementById("scenario-select").value }));
  const conn = document.getElementById("conn-chip");
  const events = new EventSource("/api/events");
  events.onopen = () => { conn.textContent = "live"; conn.className = "chip on"; };
  events.onerror = () => { conn.textContent = "✘ disconnected"; conn.className = "chip lost"; };
  events.onmessage = (m) => { dashboard.lastMessage = performance.now(); render(JSON.parse(m.data)); };
}

start().catch((e) => say(`cannot start the page: ${e.message}`, true));
