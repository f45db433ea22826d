// mlgate's status page: polls /admin/status every 2 s (paused while the
// tab is hidden) and draws it. Every value from the feed is set as text,
// never as HTML. No other host is contacted.
"use strict";

const POLL_MS = 2000;
const MAX_EVENTS = 500;
const KINDS = {
  alias_moved: ["alias moved", "↷"],
  load: ["loaded", "⇩"],
  warmup: ["warmed up", "♨"],
  swap: ["swapped in", "⇄"],
  retire: ["retired", "⏏"],
  load_failed: ["load failed", "✗"],
  gave_up: ["gave up", "⊘"],
  missing: ["missing", "?"],
  withdraw: ["withdrawn", "⊖"],
  reload: ["reloaded", "↻"],
};

const state = { since: 0, events: [], feed: null, token: sessionStorage.getItem("mlgate-admin-token") || "", window: 0, timer: 0, failures: 0 };

// el builds an element: el("td", {class: "x"}, "text", child, ...).
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

function svg(tag, attrs, ...kids) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
}

const pct = (x) => (x * 100).toFixed(x > 0 && x < 0.001 ? 2 : 1) + "%";
const num = (n) => Number(n).toLocaleString("en");
const msText = (ms) => (ms >= 1000 ? (ms / 1000).toFixed(2) + " s" : ms >= 10 ? ms.toFixed(0) + " ms" : ms.toFixed(2) + " ms");

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function ago(iso, now) {
  const s = Math.max(0, (now - new Date(iso)) / 1000);
  if (s < 60) return Math.round(s) + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return (s / 3600).toFixed(1) + " h ago";
  return (s / 86400).toFixed(1) + " d ago";
}

function clock(iso) {
  const d = new Date(iso);
  return d.toLocaleTimeString("en-GB", { hour12: false });
}

function badge(text, kind) {
  return el("span", { class: "badge " + (kind || ""), text });
}

// slug makes a string usable in an element id.
const slug = (s) => String(s).replace(/[^A-Za-z0-9_-]/g, "_");

function copyable(value, id) {
  const code = el("code", { class: "copyable", id: id + "-v", text: value });
  const button = el("button", { type: "button", class: "copy", id: id + "-b", "aria-label": "Copy " + value, text: "Copy" });
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(value);
      button.textContent = "Copied";
    } catch {
      const r = document.createRange();
      r.selectNodeContents(code);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(r);
      button.textContent = "Selected";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
  return el("span", { class: "copywrap" }, code, button);
}

function runCell(s, id) {
  if (!s || !s.run_id) return el("span", { class: "muted", text: "not logged" });
  if (s.run_url && /^https?:\/\//.test(s.run_url)) {
    return el("a", { href: s.run_url, id: id, target: "_blank", rel: "noopener noreferrer", text: s.run_id, title: "Open the run in the MLflow UI" });
  }
  return el("code", { text: s.run_id });
}

function registryCell(r) {
  if (!r) return el("span", { class: "muted", text: "not watched" });
  const parts = [];
  parts.push(r.stale ? badge("stale", "warn") : badge("fresh", "ok"));
  parts.push(el("span", { text: " confirmed " + Math.round(r.staleness_seconds) + " s ago" }));
  if (r.registry_version) parts.push(el("span", { text: " · registry says v" + r.registry_version }));
  if (r.serving_status) parts.push(el("div", { text: "serving: " + r.serving_status }));
  if (r.missing) parts.push(el("div", {}, badge("missing", "bad"), " the alias or version is gone from the registry"));
  if (r.withdrawn) parts.push(el("div", {}, badge("withdrawn", "bad")));
  if (r.pending_version) parts.push(el("div", { text: "v" + r.pending_version + " pending: " + r.pending_failures + " failed attempt(s)" + (r.gave_up ? ", given up" : "") }));
  if (r.last_error) parts.push(el("div", { class: "error" }, el("strong", { text: "Last error: " }), r.last_error));
  return el("div", {}, ...parts);
}

// splitBar draws a route's configured and observed split as two labelled
// stacked bars; each segment carries its target's name and share as text.
function splitBar(route, w) {
  const rows = [["configured", route.targets.map((t) => t.configured_share)], ["observed", route.targets.map((t) => t.all_versions[w].share)]];
  const width = 320, barH = 18, gap = 26;
  const g = svg("svg", { viewBox: `0 0 ${width + 90} ${rows.length * gap + 4}`, class: "split", role: "img",
    "aria-label": rows.map(([name, shares]) => name + " " + route.targets.map((t, i) => (t.alias || t.uri) + " " + pct(shares[i])).join(", ")).join("; ") });
  rows.forEach(([name, shares], r) => {
    const y = r * gap + 2;
    g.append(svg("text", { x: 0, y: y + 13, class: "axis" }, name));
    let x = 90;
    shares.forEach((share, i) => {
      const wpx = share * width;
      if (wpx <= 0) return;
      g.append(svg("rect", { x, y, width: wpx, height: barH, class: "seg seg" + (i % 4) }));
      if (wpx > 40) g.append(svg("text", { x: x + 4, y: y + 13, class: "seglabel" }, (route.targets[i].alias || "t" + (i + 1)) + " " + pct(share)));
      x += wpx;
    });
    if (shares.every((s) => !s)) g.append(svg("text", { x: 90, y: y + 13, class: "axis" }, "no requests yet"));
  });
  const legend = el("ul", { class: "legend" }, ...route.targets.map((t, i) => el("li", {},
    el("span", { class: "swatch seg" + (i % 4), "aria-hidden": "true" }),
    (t.alias || t.uri) + ": " + pct(t.configured_share) + " configured, " + pct(t.all_versions[w].share) + " observed")));
  return el("div", {}, g, legend);
}

function errorsText(win) {
  const errors = win.requests ? pct(win.error_rate) + " 5xx" : "–";
  return errors + (win.by_class["4xx"] ? " · " + num(win.by_class["4xx"]) + " 4xx" : "");
}

function latencyText(win) {
  return win.requests ? msText(win.p50_ms) + " / " + msText(win.p99_ms) : "–";
}

// targetRows draws a target: its version serving now, then the versions
// that served it in the last 15 minutes and were retired.
function targetRows(route, t, w, now) {
  const rows = [targetRow(route, t, w, now)];
  for (const r of t.retired) {
    const win = r.windows[w];
    if (!win.requests) continue;
    rows.push(el("tr", { class: "retired", "data-target": (t.alias || t.uri), "data-version": r.version },
      el("th", { scope: "row", "data-label": "Target", class: "muted", text: "before" }),
      el("td", { "data-label": "Version", class: "version" }, el("s", { text: "v" + r.version }), " ", badge("retired", "info")),
      el("td", { "data-label": "Provenance", class: "muted", text: "no longer serves " + (t.alias || t.uri) }),
      el("td", { "data-label": "Retired" }, el("time", { datetime: r.retired_at, title: r.retired_at, text: ago(r.retired_at, now) })),
      el("td", { "data-label": "Requests", class: "observed", text: num(win.requests) + " in the window" }),
      el("td", { "data-label": "Latency", class: "latency", text: latencyText(win) }),
      el("td", { "data-label": "Errors", class: "errors" + (win.error_rate > 0 ? " has-errors" : ""), text: errorsText(win) }),
      el("td", { "data-label": "Registry" })));
  }
  return rows;
}

function targetRow(route, t, w, now) {
  const id = "t-" + slug(route.name) + "-" + slug(t.alias || t.uri);
  const win = t.windows[w];
  const all = t.all_versions[w];
  const s = t.serving;
  return el("tr", { "data-target": t.alias || t.uri, id },
    el("th", { scope: "row", "data-label": "Target" }, el("span", { class: "alias", text: t.alias || "(no alias)" }), el("div", { class: "uri", text: t.uri })),
    el("td", { "data-label": "Version", class: "version" }, s ? el("strong", { text: "v" + s.version }) : badge("not loaded", "bad"), s && s.name ? el("div", { class: "muted", text: s.name }) : null),
    el("td", { "data-label": "Provenance", class: "prov" }, s ? el("dl", {},
      el("dt", { text: "run" }), el("dd", {}, runCell(s, id + "-run")),
      el("dt", { text: "commit" }), el("dd", {}, s.git_commit ? copyable(s.git_commit, id + "-commit") : el("span", { class: "muted", text: "not logged" })),
      el("dt", { text: "data" }), el("dd", {}, s.data_version ? copyable(s.data_version, id + "-data") : el("span", { class: "muted", text: "not logged" })),
      el("dt", { text: "model" }), el("dd", {}, s.model_id ? el("code", { text: s.model_id }) : el("span", { class: "muted", text: "–" }))) : "–"),
    el("td", { "data-label": "Serving since" }, s ? el("time", { datetime: s.loaded_since, title: s.loaded_since, text: ago(s.loaded_since, now) }) : "–"),
    el("td", { "data-label": "Split", class: "split-cell" }, el("span", { class: "configured", text: pct(t.configured_share) + " configured" }), el("br"),
      el("span", { class: "observed", text: pct(all.share) + " observed (" + num(all.requests) + ")" }),
      all.requests !== win.requests ? el("div", { class: "muted now", text: num(win.requests) + " by v" + (s ? s.version : "?") }) : null),
    el("td", { "data-label": "Latency", class: "latency", text: latencyText(win) }),
    el("td", { "data-label": "Errors", class: "errors" + (win.error_rate > 0 ? " has-errors" : ""), text: errorsText(win) }),
    el("td", { "data-label": "Registry" }, registryCell(t.registry)),
  );
}

function decadeChart(name, decades) {
  const total = decades.reduce((a, d) => a + d.count, 0);
  const w = 420, h = 90, bw = w / decades.length;
  const max = Math.max(1, ...decades.map((d) => d.count));
  const g = svg("svg", { viewBox: `0 0 ${w} ${h + 30}`, class: "chart", role: "img",
    "aria-label": "|Δ| of " + name + " by decade: " + decades.map((d, i) => (i === 0 ? "<1e-8" : i === decades.length - 1 ? "≥1" : "1e" + Math.round(Math.log10(d.lower))) + " " + d.count).join(", ") });
  decades.forEach((d, i) => {
    const bh = (d.count / max) * h;
    g.append(svg("rect", { x: i * bw + 2, y: h - bh, width: bw - 4, height: bh, class: "bar" }));
    if (d.count) g.append(svg("text", { x: i * bw + bw / 2, y: Math.max(10, h - bh - 2), class: "barval" }, total ? Math.round((100 * d.count) / total) + "%" : ""));
    g.append(svg("text", { x: i * bw + bw / 2, y: h + 14, class: "tick" }, i === 0 ? "<1e-8" : i === decades.length - 1 ? "≥1" : "1e" + Math.round(Math.log10(d.lower))));
  });
  g.append(svg("text", { x: w / 2, y: h + 28, class: "axis mid" }, "|Δ| " + name));
  return g;
}

function latencyChart(lat) {
  const rows = [["primary p50", lat.primary_p50_ms], ["shadow p50", lat.shadow_p50_ms], ["primary p99", lat.primary_p99_ms], ["shadow p99", lat.shadow_p99_ms]];
  const max = Math.max(0.001, ...rows.map((r) => r[1]));
  const w = 300, rh = 20;
  const g = svg("svg", { viewBox: `0 0 ${w + 80} ${rows.length * rh + 4}`, class: "chart", role: "img",
    "aria-label": "Latency: " + rows.map((r) => r[0] + " " + msText(r[1])).join(", ") });
  rows.forEach(([name, v], i) => {
    const y = i * rh + 2;
    g.append(svg("text", { x: 0, y: y + 13, class: "axis" }, name));
    g.append(svg("rect", { x: 80, y, width: Math.max(1, (v / max) * (w - 70)), height: rh - 6, class: name.startsWith("shadow") ? "bar shadowbar" : "bar" }));
    g.append(svg("text", { x: 84 + (v / max) * (w - 70), y: y + 13, class: "barval left" }, msText(v)));
  });
  return g;
}

function shadowPanel(route) {
  const sh = route.shadow;
  const id = "shadow-" + slug(route.name);
  const diff = sh.latency.mean_shadow_minus_primary_ms;
  const facts = el("dl", { class: "facts" },
    el("dt", { text: "Shadow" }), el("dd", { text: sh.uri + (sh.serving ? " → v" + sh.serving.version : " (not loaded)") }),
    el("dt", { text: "Sampled" }), el("dd", { text: pct(sh.sample) + " of requests: " + num(sh.sampled) + " sampled, " + num(sh.compared) + " compared, " + num(sh.dropped) + " dropped, " + num(sh.errors) + " failed" }),
    el("dt", { text: "Latency" }), el("dd", { class: "latency-diff", text: sh.compared ? "shadow − primary: " + (diff >= 0 ? "+" : "−") + msText(Math.abs(diff)) + " on average" : "–" }));
  const outputs = el("div", { class: "outputs" });
  for (const name of Object.keys(sh.outputs).sort()) {
    const o = sh.outputs[name];
    const box = el("figure", { class: "output", "data-output": name },
      el("figcaption", {}, el("strong", { text: name + ": " }),
        el("span", { class: "disagreement", text: pct(o.disagreement_rate) + " disagree" }), " (" + num(o.disagreements) + " of " + num(o.values) + ")",
        o.numeric ? el("div", { class: "muted", text: "|Δ| mean " + o.mean_abs_diff.toPrecision(3) + ", p99 " + (o.p99_abs_diff || 0).toPrecision(3) + ", max " + (o.max_abs_diff || 0).toPrecision(3) }) : null));
    if (o.numeric && sh.abs_diff_decades && sh.abs_diff_decades[name]) box.append(decadeChart(name, sh.abs_diff_decades[name]));
    outputs.append(box);
  }
  const parts = [el("h3", { id: id + "-h", text: "Shadow comparison" }), facts, outputs];
  if (sh.compared) parts.push(el("figure", { class: "output" }, el("figcaption", { text: "Latency on the same requests" }), latencyChart(sh.latency)));
  if (sh.last_error) parts.push(el("p", { class: "error" }, el("strong", { text: "Last shadow error: " }), sh.last_error));
  return el("section", { class: "shadow", id, "aria-labelledby": id + "-h" }, ...parts);
}

function routeSection(route, w, now) {
  const id = "route-" + slug(route.name);
  const heading = el("h2", { id: id + "-h" }, "Route ", el("span", { class: "name", text: route.name }), route.default ? badge("default", "info") : null, route.on_demand ? badge("on demand", "info") : null);
  const notes = [];
  if (route.sticky) notes.push("sticky by " + (route.sticky.header ? "header " + route.sticky.header : "column " + route.sticky.column));
  notes.push(route.override ? "X-Model-Alias override allowed" : "no override");
  const table = el("table", { class: "targets" },
    el("caption", { class: "vh", text: "Targets of route " + route.name }),
    el("thead", {}, el("tr", {}, ...["Target", "Version", "Provenance", "Serving since", "Split", "Latency p50 / p99", "Errors", "Registry"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...route.targets.flatMap((t) => targetRows(route, t, w, now))));
  const refused = route.refused[w];
  const parts = [heading, el("p", { class: "muted", text: notes.join(" · ") }), el("div", { class: "scroll" }, table),
    el("p", { class: "hint", text: "Latency and errors are the version's serving now; the observed split counts every version over the window." })];
  if (route.targets.length > 1) parts.push(el("figure", { class: "splitfig" }, el("figcaption", { text: "Split" }), splitBar(route, w)));
  if (refused.requests) parts.push(el("p", { class: "refused", text: num(refused.requests) + " request(s) refused before a target was chosen (" + Object.entries(refused.by_class).map(([c, n]) => num(n) + " " + c).join(", ") + ")" }));
  if (route.shadow) parts.push(shadowPanel(route));
  return el("section", { class: "panel route", id, "data-route": route.name, "aria-labelledby": id + "-h" }, ...parts);
}

function overview(feed) {
  const a = feed.admission;
  const rejected = a.rejected_queue_full + a.rejected_timeout + a.rejected_bytes;
  const items = [
    ["State", feed.draining ? "draining" : feed.ready ? "ready" : "not ready"],
    ["Up since", clock(feed.started_at) + " (" + ago(feed.started_at, new Date(feed.now)) + ")"],
    ["In flight", num(a.inflight) + (a.max_inflight > 0 ? " of " + num(a.max_inflight) : "")],
    ["Queued", num(a.waiting) + (a.max_queue > 0 ? " of " + num(a.max_queue) : "")],
    ["Rejected (429)", num(rejected) + (rejected ? " (queue full " + num(a.rejected_queue_full) + ", timed out " + num(a.rejected_timeout) + ", memory " + num(a.rejected_bytes) + ")" : "")],
    ["Request memory", bytes(a.inflight_bytes) + (a.max_inflight_bytes > 0 ? " of " + bytes(a.max_inflight_bytes) : "") + ", peak " + bytes(a.peak_inflight_bytes)],
  ];
  const dl = document.getElementById("overview");
  dl.replaceChildren(...items.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: v, "data-fact": slug(k) }))));
}

function loadedTable(list) {
  if (!list.length) return el("p", { class: "muted", text: "No version loaded." });
  return el("div", { class: "scroll" }, el("table", { class: "loaded" },
    el("caption", { class: "vh", text: "Model versions loaded in memory" }),
    el("thead", {}, el("tr", {}, ...["Model", "Version", "Serving", "Size", "References", "Batching", "Workers"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...list.map((m) => el("tr", {},
      el("th", { scope: "row", "data-label": "Model", text: m.name }),
      el("td", { "data-label": "Version", text: "v" + m.version }),
      el("td", { "data-label": "Serving" }, m.serving ? badge("serving", "ok") : badge("cached", "info")),
      el("td", { "data-label": "Size", text: bytes(m.bytes) }),
      el("td", { "data-label": "References", text: num(m.refs) }),
      el("td", { "data-label": "Batching", text: m.batching }),
      el("td", { "data-label": "Workers", text: num(m.workers) }))))));
}

function eventItem(e) {
  const [label, icon] = KINDS[e.kind] || [e.kind, "•"];
  const bad = e.kind === "load_failed" || e.kind === "gave_up" || e.kind === "missing" || e.kind === "withdraw";
  let what = "";
  if (e.version) what = e.from_version ? "v" + e.from_version + " → v" + e.version : "v" + e.version;
  return el("li", { class: "event" + (bad ? " bad" : ""), "data-kind": e.kind, "data-seq": e.seq },
    el("time", { datetime: e.at, title: e.at, text: clock(e.at) }),
    el("span", { class: "kind" }, el("span", { "aria-hidden": "true", text: icon + " " }), label),
    el("span", { class: "what", text: [e.route ? "route " + e.route : "", e.uri || "", what].filter(Boolean).join(" · ") }),
    e.seconds ? el("span", { class: "took", text: "in " + msText(e.seconds * 1000) }) : null,
    e.reason ? el("span", { class: "reason", text: e.reason }) : null);
}

function render() {
  const feed = state.feed;
  if (!feed) return;
  const now = new Date(feed.now);
  const w = state.window;
  const focused = document.activeElement && document.activeElement.id;
  document.getElementById("summary").textContent = (feed.draining ? "Draining" : feed.ready ? "Ready" : "Not ready") + " · " + feed.routes.length + " route(s) · mlgate " + feed.version;
  overview(feed);
  document.getElementById("routes").replaceChildren(...feed.routes.map((r) => routeSection(r, w, now)));
  document.getElementById("loaded").replaceChildren(loadedTable(feed.loaded));
  document.getElementById("timeline").replaceChildren(...state.events.slice().reverse().map(eventItem));
  if (!state.events.length) document.getElementById("timeline").append(el("li", { class: "muted", text: "Nothing has happened yet." }));
  if (focused && document.activeElement.id !== focused) {
    const again = document.getElementById(focused);
    if (again) again.focus();
  }
}

async function poll() {
  clearTimeout(state.timer);
  const live = document.getElementById("live");
  try {
    const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
    const resp = await fetch("/admin/status?since=" + state.since, { headers, cache: "no-store" });
    if (resp.status === 401) {
      showTokenForm(state.token ? "That token was refused." : "");
      return;
    }
    if (!resp.ok) throw new Error("status " + resp.status);
    const feed = await resp.json();
    if (feed.events_next < state.since) { // a restarted mlgate: start the timeline again
      state.since = 0;
      state.events = [];
      return poll();
    }
    state.events.push(...feed.events);
    if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
    state.since = feed.events_next;
    state.feed = feed;
    state.failures = 0;
    document.getElementById("main").hidden = false;
    document.getElementById("token-form").hidden = true;
    render();
    live.textContent = "Live · updated " + clock(feed.now) + (feed.events.length ? " · " + feed.events.length + " new event(s)" : "");
    live.classList.remove("lost");
  } catch (err) {
    state.failures++;
    live.textContent = "Cannot reach mlgate (" + err.message + "); retrying…";
    live.classList.add("lost");
  }
  schedule();
}

function schedule() {
  clearTimeout(state.timer);
  if (document.visibilityState === "hidden") return;
  state.timer = setTimeout(poll, state.failures ? Math.min(POLL_MS * 2 ** state.failures, 30000) : POLL_MS);
}

function showTokenForm(message) {
  document.getElementById("main").hidden = true;
  const form = document.getElementById("token-form");
  form.hidden = false;
  document.getElementById("token-error").textContent = message;
  document.getElementById("live").textContent = "Waiting for the admin token";
  document.getElementById("token").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.token = document.getElementById("token").value.trim();
    sessionStorage.setItem("mlgate-admin-token", state.token);
    poll();
  });
  for (const r of document.querySelectorAll('input[name="window"]')) {
    r.addEventListener("change", () => { state.window = Number(r.value); render(); });
  }
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") poll(); else clearTimeout(state.timer); });
  poll();
});
