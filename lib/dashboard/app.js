// The dashboard page: follows /dashboard/feed (server-sent events read through fetch, so the key
// can travel in a header) and renders what it says. Every value goes in with textContent: model
// names and session ids come from clients and must never become markup.
/* global uPlot */
import { usdTicks } from "./ticks.js";

const KEY = "ccproxy-key";
const state = {
  inflight: new Map(),
  recent: [],
  totals: null,
  hourly: [],
  health: [],
  routes: [],
  window: "today",
  group: "model",
};
let chart;

const $ = (id) => document.getElementById(id);
const usd = (v) =>
  v === null || v === undefined ? "unknown" : `$${v < 1 ? v.toFixed(4) : v.toFixed(2)}`;
const ms = (v) => v === undefined || v === null ? "–" : `${Math.round(v)} ms`;
const time = (t) => new Date(t).toLocaleTimeString();
const pct = (v) => `${(v * 100).toFixed(1)}%`;

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function fill(tbody, rows, empty, columns) {
  tbody.replaceChildren();
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = cell(empty, "empty");
    td.colSpan = columns;
    tr.append(td);
    tbody.append(tr);
    return;
  }
  for (const row of rows) tbody.append(row);
}

function renderInflight() {
  const now = Date.now();
  $("inflight-count").textContent = String(state.inflight.size);
  fill(
    $("inflight").tBodies[0],
    [...state.inflight.values()].map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.requestId = r.requestId;
      tr.append(
        cell(time(r.started)),
        cell(r.key, "text"),
        cell(`${r.model} → ${r.target ?? "…"}`, "text"),
        cell(`${((now - r.started) / 1000).toFixed(1)} s`),
      );
      return tr;
    }),
    "nothing in flight",
    4,
  );
}

function renderRecent() {
  fill(
    $("recent").tBodies[0],
    state.recent.map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.requestId = r.requestId;
      const backend = r.provider === "local"
        ? "answered locally"
        : `${r.provider}/${r.backendModel}`;
      const input = r.usage.input_tokens + r.usage.cache_read_input_tokens +
        r.usage.cache_creation_input_tokens;
      const failed = r.status >= 400 || r.errorType;
      tr.append(
        cell(time(r.time)),
        cell(r.key, "text"),
        cell(`${r.model || "?"} → ${backend}`, "text"),
        cell(r.errorType ? `${r.status} ${r.errorType}` : String(r.status), failed ? "bad" : ""),
        cell(ms(r.latencyMs)),
        cell(ms(r.ttftMs)),
        cell(String(input)),
        cell(String(r.usage.output_tokens)),
        cell(usd(r.costUsd), "cost"),
      );
      return tr;
    }),
    "no requests yet",
    9,
  );
}

function renderTotals() {
  if (!state.totals) return;
  const rows = state.totals[state.window][state.group];
  $("group-name").textContent = state.group;
  fill(
    $("totals").tBodies[0],
    rows.map((g) => {
      const tr = document.createElement("tr");
      tr.dataset.group = g.group;
      tr.append(
        cell(g.group),
        cell(String(g.requests)),
        cell(String(g.input_tokens)),
        cell(String(g.output_tokens)),
        cell(usd(g.cost_usd) + (g.unpriced ? ` + ${g.unpriced} unknown` : ""), "cost"),
        cell(pct(g.error_rate), g.error_rate > 0 ? "bad" : ""),
        cell(ms(g.p50_ms)),
        cell(ms(g.p95_ms)),
      );
      return tr;
    }),
    "no requests in this window",
    8,
  );
  const sum = rows.reduce((a, g) => ({
    requests: a.requests + g.requests,
    input: a.input + g.input_tokens,
    output: a.output + g.output_tokens,
    cost: a.cost + g.cost_usd,
    errors: a.errors + g.error_rate * g.requests,
  }), { requests: 0, input: 0, output: 0, cost: 0, errors: 0 });
  $("totals-sum").replaceChildren(
    cell("total"),
    cell(String(sum.requests)),
    cell(String(sum.input)),
    cell(String(sum.output)),
    cell(usd(Math.round(sum.cost * 1e9) / 1e9), "cost"),
    cell(pct(sum.requests ? sum.errors / sum.requests : 0)),
    cell(""),
    cell(""),
  );
}

function renderSide() {
  fill(
    $("health").tBodies[0],
    state.health.map((h) => {
      const tr = document.createElement("tr");
      const last = h.last_error
        ? `${h.last_error.status} ${h.last_error.type} at ${time(h.last_error.time)}`
        : "none";
      // A client's cancel is not the provider's failure: shown apart, not in the error rate.
      const cancels = h.cancelled ? ` · ${h.cancelled} cancelled` : "";
      tr.append(
        cell(h.provider),
        cell(String(h.requests)),
        cell(pct(h.error_rate), h.error_rate > 0 ? "bad" : ""),
        cell(last + cancels, "text"),
      );
      return tr;
    }),
    "no provider used yet",
    4,
  );
  fill(
    $("routes").tBodies[0],
    state.routes.map((r) => {
      const tr = document.createElement("tr");
      tr.append(cell(r.model), cell(r.target, "text"));
      return tr;
    }),
    "",
    2,
  );
}

function renderChart() {
  const data = [
    state.hourly.map((p) => p.t),
    state.hourly.map((p) => p.requests),
    state.hourly.map((p) => p.cost_usd),
  ];
  if (chart) return chart.setData(data);
  const el = $("chart");
  chart = new uPlot(
    {
      width: Math.max(300, el.clientWidth - 10),
      height: 220,
      series: [
        {},
        { label: "requests", stroke: "#3b5bdb", fill: "rgba(59,91,219,0.1)", scale: "n" },
        {
          label: "cost (USD)",
          stroke: "#e67700",
          scale: "usd",
          value: (_, v) => v === null ? "–" : usd(v),
        },
      ],
      axes: [
        {},
        { scale: "n", label: "requests" },
        {
          scale: "usd",
          side: 1,
          label: "USD",
          grid: { show: false },
          values: (_, splits) => usdTicks(splits),
          size: 70,
        },
      ],
      scales: { n: { range: (_, __, max) => [0, Math.max(1, max)] } },
    },
    data,
    el,
  );
}

function handle(event, data) {
  switch (event) {
    case "snapshot":
      $("version").textContent = `v${data.version}`;
      $("ledger").textContent =
        (data.ledger === "on" ? "ledger on" : "ledger off (since start only)") +
        // A key outside ADMIN_KEYS sees only its own requests.
        (data.scope ? ` · key ${data.scope} only` : "");
      state.inflight = new Map(data.inflight.map((r) => [r.requestId, r]));
      state.recent = data.recent;
      state.routes = data.routes;
      Object.assign(state, { totals: data.totals, hourly: data.hourly, health: data.health });
      renderInflight();
      renderRecent();
      renderTotals();
      renderSide();
      renderChart();
      break;
    case "start":
      state.inflight.set(data.requestId, data);
      renderInflight();
      break;
    case "end":
      state.inflight.delete(data.requestId);
      state.recent.unshift(data);
      state.recent.length = Math.min(state.recent.length, 50);
      renderInflight();
      renderRecent();
      break;
    case "totals":
      Object.assign(state, { totals: data.totals, hourly: data.hourly, health: data.health });
      renderTotals();
      renderSide();
      renderChart();
      break;
  }
}

function status(text, live) {
  $("status").textContent = text;
  $("status").className = live ? "live" : "down";
}

function askForKey(message) {
  sessionStorage.removeItem(KEY);
  $("main").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
  status("key needed", false);
}

async function follow() {
  const key = sessionStorage.getItem(KEY);
  if (!key) {
    const access = await fetch("/dashboard/access").then((r) => r.json()).catch(() => ({}));
    if (access.key_required) return askForKey("");
  }
  let response;
  try {
    response = await fetch("/dashboard/feed", { headers: key ? { "x-api-key": key } : {} });
  } catch {
    status("disconnected: retrying", false);
    return setTimeout(follow, 3000);
  }
  if (response.status === 401) return askForKey(key ? "That key was not accepted." : "");
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    status(body.error?.message ?? `error ${response.status}`, false);
    return;
  }
  $("login").hidden = true;
  $("main").hidden = false;
  status("live", true);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read().catch(() => ({ done: true }));
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) handle(event, JSON.parse(data));
    }
  }
  status("disconnected: reconnecting", false);
  setTimeout(follow, 1000);
}

for (const button of document.querySelectorAll("#windows button, #groups button")) {
  button.addEventListener("click", () => {
    const kind = button.dataset.window ? "window" : "group";
    state[kind] = button.dataset[kind];
    for (const b of button.parentElement.children) {
      b.setAttribute("aria-pressed", String(b === button));
    }
    renderTotals();
  });
}
$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $("key").value);
  follow();
});
setInterval(() => state.inflight.size && renderInflight(), 1000);
follow();
