/* beamtwin dashboard: one page over the queue server's API (/api/...) and stream (/api/stream).
   No framework; uPlot (vendored) draws the plots. State lives in S; each view has a render function. */
"use strict";

const S = {
  url: "", key: "", who: null, status: null, queue: { items: [], version: 0, running: null },
  history: [], plans: {}, devices: {}, view: "queue", editing: null, source: null,
  live: null, beamTimer: null, run: null, frameBusy: false, frameAgain: false,
};

/* ---------- small helpers ---------- */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}
const $ = (sel) => document.querySelector(sel);
const fmtTime = (t) => (t ? new Date(t * 1000).toLocaleString() : "");
const fmtSecs = (s) => (s === null || s === undefined ? "?" : s < 90 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`);
const short = (v) => { const s = JSON.stringify(v); return s && s.length > 80 ? s.slice(0, 77) + "…" : s; };

class ApiError extends Error {
  constructor(status, message, body) { super(message); this.status = status; this.body = body; }
}

async function api(path, { method = "GET", body, raw = false } = {}) {
  const opts = { method, headers: { Authorization: `Bearer ${S.key}` } };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  let resp;
  try { resp = await fetch(S.url + path, opts); }
  catch (e) { throw new ApiError(0, `cannot reach ${S.url}: ${e.message}`); }
  if (!resp.ok) {
    let data = {};
    try { data = await resp.json(); } catch (e) { /* not JSON */ }
    if (resp.status === 401 && S.who) logout(data.error || "the key is no longer valid");
    throw new ApiError(resp.status, data.error || `${resp.status} ${resp.statusText}`, data);
  }
  return raw ? resp : resp.json();
}

function banner(msg) {
  const b = $("#banner");
  b.textContent = msg || "";
  b.hidden = !msg;
  if (msg) setTimeout(() => { if (b.textContent === msg) b.hidden = true; }, 8000);
}

/* ---------- login ---------- */
async function login(url, key) {
  S.url = url.replace(/\/+$/, "");
  S.key = key;
  S.who = await api("/api/whoami");
  sessionStorage.setItem("beamtwin", JSON.stringify({ url: S.url, key: S.key }));
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#whoami").textContent = `${S.who.user} (${S.who.group}, ${S.who.role})`;
  document.body.dataset.role = S.who.role;
  await Promise.all([loadPlans(), refreshQueue(), refreshHistory(), refreshStatus(), loadLive()]);
  connectStream();
  search();
  showView(location.hash.slice(1) || "queue");
}

function logout(reason) {
  sessionStorage.removeItem("beamtwin");
  if (S.source) S.source.close();
  S.source = null; S.who = null; S.key = "";
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-key").value = "";
  $("#login-error").textContent = reason || "";
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("#login-error").textContent = "";
  try { await login($("#login-url").value.trim(), $("#login-key").value.trim()); }
  catch (e) { S.who = null; $("#login-error").textContent = e.message; }
});
$("#logout").addEventListener("click", () => logout(""));

/* ---------- views ---------- */
function showView(name) {
  if (!document.getElementById(`view-${name}`)) name = "queue";
  S.view = name;
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== `view-${name}`;
  for (const b of document.querySelectorAll("#nav button")) b.classList.toggle("active", b.dataset.view === name);
  history.replaceState(null, "", `#${name}`);
  clearInterval(S.beamTimer);
  if (name === "beamline") { refreshBeamline(); S.beamTimer = setInterval(refreshBeamline, 1000); }
  if (name === "agents") refreshAgents();
  if (name === "live" && S.live && S.live.plot) S.live.plot.setSize(plotSize("#live-plot"));
}
for (const b of document.querySelectorAll("#nav button")) b.addEventListener("click", () => showView(b.dataset.view));

/* ---------- the stream ---------- */
function connectStream() {
  if (S.source) S.source.close();
  const src = new EventSource(`${S.url}/api/stream?key=${encodeURIComponent(S.key)}`);
  S.source = src;
  src.addEventListener("status", (e) => setStatus(JSON.parse(e.data)));
  src.addEventListener("queue", () => refreshQueue());
  src.addEventListener("finished", (e) => { const d = JSON.parse(e.data); liveNote("finished", `${d.item.name} ended ${d.exit_status}${d.reason ? ": " + d.reason : ""}`); refreshHistory(); refreshQueue(); });
  src.addEventListener("doc", (e) => { const d = JSON.parse(e.data); liveDoc(d.name, d.doc); });
  src.addEventListener("console", (e) => consoleLine(JSON.parse(e.data).line));
  src.addEventListener("suspension", (e) => suspensionNote(JSON.parse(e.data)));
  src.addEventListener("frame", () => loadFrame());
  src.onerror = () => { if (S.who) setTimeout(() => { if (S.source === src && src.readyState === 2) connectStream(); }, 2000); };
}
setInterval(() => { if (S.who) refreshStatus(); }, 5000);

/* ---------- status and controls ---------- */
async function refreshStatus() { try { setStatus(await api("/api/status")); } catch (e) { /* shown elsewhere */ } }

function setStatus(st) {
  const prev = S.status;
  S.status = st;
  const ordinary = ["idle", "running", "opening", "closed"];
  if (prev && prev.worker !== st.worker && !(ordinary.includes(st.worker) && ordinary.includes(prev.worker)))
    liveNote("state", ordinary.includes(st.worker) ? `resumed (worker ${prev.worker} → ${st.worker})` : st.worker);
  const badges = $("#state-badges");
  badges.replaceChildren(
    h("span", { class: `badge ${st.environment === "open" ? "ok" : "warn"}`, id: "badge-env" }, `env ${st.environment}`),
    h("span", { class: `badge ${st.worker === "paused" ? "warn" : st.worker === "running" ? "ok" : ""}`, id: "badge-worker" }, `worker ${st.worker}`),
    h("span", { class: `badge ${st.queue_running ? "ok" : ""}`, id: "badge-queue" }, st.queue_running ? (st.stop_pending ? "queue stopping" : "queue running") : "queue stopped"),
  );
  $("#status-line").textContent = `${st.items} item(s), about ${fmtSecs(st.estimate_total)}` +
    (st.estimate_unknown ? ` + ${st.estimate_unknown} unknown` : "") + (st.last_error ? ` · ${st.last_error}` : "");
  $("#live-worker").textContent = st.worker;
  renderControls();
  renderRunning();
}

const ACTIONS = {
  env_open: ["/api/environment/open", {}, (s) => s.environment === "closed"],
  env_close: ["/api/environment/close", {}, (s) => s.environment === "open" && !s.running],
  start: ["/api/queue/start", {}, (s) => !s.queue_running && s.items > 0 && s.environment !== "opening"],
  stop: ["/api/queue/stop", {}, (s) => s.queue_running && !s.stop_pending],
  stop_cancel: ["/api/queue/stop", { cancel: true }, (s) => s.stop_pending],
  pause: ["/api/plan/pause", {}, (s) => !!s.running && s.worker === "running"],
  pause_now: ["/api/plan/pause", { immediate: true }, (s) => !!s.running && s.worker === "running"],
  resume: ["/api/plan/resume", {}, (s) => !!s.running && s.worker === "paused"],
  abort: ["/api/plan/abort", {}, (s) => !!s.running],
  halt: ["/api/plan/halt", {}, (s) => !!s.running],
};

function renderControls() {
  const st = S.status;
  const mayControl = S.who && S.who.role !== "observer";
  for (const b of document.querySelectorAll("#controls button")) {
    b.hidden = !mayControl;
    b.disabled = !st || !ACTIONS[b.dataset.action][2](st);
  }
}
for (const b of document.querySelectorAll("#controls button")) {
  b.addEventListener("click", async () => {
    const [path, body] = ACTIONS[b.dataset.action];
    b.disabled = true;
    try { setStatus(await api(path, { method: "POST", body })); }
    catch (e) { banner(e.message); refreshStatus(); }
  });
}

/* ---------- queue and history ---------- */
async function refreshQueue() {
  try { S.queue = await api("/api/queue"); } catch (e) { return; }
  renderQueue();
  renderRunning();
}

function argText(item) {
  const kw = Object.entries(item.kwargs || {}).map(([k, v]) => `${k}=${short(v)}`);
  return [...(item.args || []).map(short), ...kw].join(", ");
}

function renderRunning() {
  const r = S.queue.running || (S.status && S.status.running);
  $("#running-item").textContent = r ? `running: ${r.item.name}(${argText(r.item)}) since ${fmtTime(r.started)}` : "";
}

function renderQueue() {
  const tbody = $("#queue-table tbody");
  const edit = S.who && S.who.role !== "observer";
  const rows = S.queue.items.map((it, i) => h("tr", { draggable: edit ? "true" : null, dataset: { uid: it.uid } },
    h("td", { class: "handle", title: "drag to reorder" }, edit ? "⠿" : ""),
    h("td", {}, i + 1), h("td", {}, it.name), h("td", {}, argText(it)), h("td", {}, it.user || ""),
    h("td", {}, it.estimate === null || it.estimate === undefined ? "?" : fmtSecs(it.estimate)),
    h("td", {}, edit ? [
      h("button", { class: "link", onclick: () => startEdit(it) }, "edit"),
      h("button", { class: "link", onclick: () => queueOp("/api/queue/duplicate", { uid: it.uid }) }, "duplicate"),
      h("button", { class: "link danger", onclick: () => queueOp("/api/queue/remove", { uid: it.uid }) }, "remove"),
    ] : [])));
  tbody.replaceChildren(...rows);
  $("#queue-empty").hidden = rows.length > 0;
  $("#queue-summary").textContent = `version ${S.queue.version}`;
  if (edit) for (const tr of rows) wireDrag(tr);
}

async function queueOp(path, body) {
  try { await api(path, { method: "POST", body: { ...body, version: S.queue.version } }); }
  catch (e) { banner(e.message); }
  refreshQueue();
}

function wireDrag(tr) {
  tr.addEventListener("dragstart", (e) => { e.dataTransfer.setData("text/plain", tr.dataset.uid); e.dataTransfer.effectAllowed = "move"; tr.classList.add("dragging"); });
  tr.addEventListener("dragend", () => tr.classList.remove("dragging"));
  const where = (e) => (e.offsetY < tr.offsetHeight / 2 || e.clientY < tr.getBoundingClientRect().top + tr.offsetHeight / 2 ? "before" : "after");
  tr.addEventListener("dragover", (e) => { e.preventDefault(); tr.classList.remove("drop-before", "drop-after"); tr.classList.add(`drop-${where(e)}`); });
  tr.addEventListener("dragleave", () => tr.classList.remove("drop-before", "drop-after"));
  tr.addEventListener("drop", (e) => {
    e.preventDefault();
    tr.classList.remove("drop-before", "drop-after");
    const uid = e.dataTransfer.getData("text/plain");
    if (!uid || uid === tr.dataset.uid) return;
    queueOp("/api/queue/move", { uid, [`${where(e)}_uid`]: tr.dataset.uid });
  });
}

async function refreshHistory() {
  let items;
  try { items = (await api("/api/history?limit=100")).items; } catch (e) { return; }
  S.history = items;
  const cls = (s) => (s === "completed" ? "ok-text" : s === "aborted" || s === "halted" ? "warn-text" : "bad-text");
  $("#history-table tbody").replaceChildren(...items.slice().reverse().map((r) => h("tr", {},
    h("td", {}, fmtTime(r.finished)), h("td", {}, r.item.name), h("td", {}, argText(r.item)), h("td", {}, r.item.user || ""),
    h("td", { class: cls(r.exit_status) }, r.exit_status), h("td", {}, r.reason || ""),
    h("td", {}, (r.run_uids || []).map((u) => h("button", { class: "link", onclick: () => { showView("data"); openRun(u); } }, u.slice(0, 8)))))));
}

/* ---------- the plan form ---------- */
async function loadPlans() {
  const data = await api("/api/web/plans");
  S.plans = data.plans;
  S.devices = data.devices;
  const names = Object.keys(S.plans);
  const sel = $("#plan-select");
  sel.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
  $("#plan-names").replaceChildren(...names.map((n) => h("option", { value: n })));
  $("#plan-form").hidden = names.length === 0;
  $("#form-none").hidden = names.length > 0;
  if (names.includes("scan")) sel.value = "scan";
  renderFields();
}
$("#plan-select").addEventListener("change", () => renderFields());

function devicesFor(role) {
  return Object.entries(S.devices).filter(([, d]) => role !== "motor" || d.kind === "motor").map(([n]) => n);
}

function renderFields(values) {
  const plan = S.plans[$("#plan-select").value];
  const box = $("#plan-fields");
  $("#form-error").textContent = "";
  if (!plan) { box.replaceChildren(); return; }
  $("#plan-doc").textContent = plan.doc;
  box.replaceChildren(...plan.fields.map((f) => {
    const id = `field-${f.name}`;
    const given = values ? values[f.name] : undefined;
    let input;
    if (f.widget === "devices") {
      const choices = devicesFor(f.role);
      const chosen = given || (f.role === "readable" ? choices.filter((n) => S.devices[n].kind !== "motor").slice(0, 1) : []);
      input = h("div", { class: "choices", id }, choices.map((n) => h("label", {},
        h("input", { type: "checkbox", name: f.name, value: n, checked: chosen.includes(n) }), ` ${n}`)));
    } else if (f.widget === "device") {
      const choices = devicesFor(f.role);
      input = h("select", { id, name: f.name }, h("option", { value: "" }, f.required ? "choose…" : "(none)"),
        choices.map((n) => h("option", { value: n, selected: given === n || (given === undefined && f.required && choices.length === 1) }, n)));
    } else if (f.widget === "bool") {
      input = h("input", { type: "checkbox", id, name: f.name, checked: given === undefined ? f.default === true : !!given });
    } else {
      const text = given === undefined ? "" : f.widget === "json" || typeof given !== "string" ? JSON.stringify(given) : given;
      input = h("input", { type: "text", id, name: f.name, value: text, inputmode: f.widget === "int" || f.widget === "number" ? "decimal" : null,
        placeholder: f.default !== null && f.default !== undefined ? `default ${JSON.stringify(f.default)}` : f.passed === "varargs" ? 'JSON list, e.g. ["motor", -1, 1]' : f.widget === "json" ? "JSON" : "" });
    }
    const hint = `${f.annotation || f.widget}${f.required ? "" : " · optional"}${f.passed === "keyword" ? " · keyword" : ""}`;
    return h("div", { class: "field", dataset: { param: f.name } },
      h("label", { for: id }, f.name, " ", h("span", { class: "hint" }, hint)), input, h("span", { class: "field-error", id: `error-${f.name}` }));
  }));
}

function fieldValue(f) {
  const box = document.querySelector(`.field[data-param="${f.name}"]`);
  if (f.widget === "devices") {
    const v = [...box.querySelectorAll("input:checked")].map((i) => i.value);
    return v.length ? v : undefined;
  }
  const input = box.querySelector("input, select");
  if (f.widget === "bool") return input.checked === (f.default === true) && !f.required ? undefined : input.checked;
  const text = input.value.trim();
  if (text === "") return undefined;
  if (f.widget === "int" || f.widget === "number") return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text) ? Number(text) : text;
  if (f.widget === "json") {
    try { return JSON.parse(text); } catch (e) { throw new FieldError(f.name, `not valid JSON: ${e.message}`); }
  }
  return text;
}

class FieldError extends Error { constructor(field, message) { super(message); this.field = field; } }

function buildItem() {
  const name = $("#plan-select").value;
  const plan = S.plans[name];
  const args = [];
  const kwargs = {};
  let positional = true;
  for (const f of plan.fields) {
    const v = fieldValue(f);
    if (f.passed === "varargs") { if (v !== undefined) args.push(...(Array.isArray(v) ? v : [v])); continue; }
    if (f.passed === "positional" && positional && v !== undefined) { args.push(v); continue; }
    if (f.passed === "positional") positional = false;
    if (v !== undefined) kwargs[f.name] = v;
  }
  return { name, args, kwargs };
}

function clearErrors() {
  $("#form-error").textContent = "";
  for (const el of document.querySelectorAll(".field")) el.classList.remove("invalid");
  for (const el of document.querySelectorAll(".field-error")) el.textContent = "";
}

function showError(message) {
  const plan = S.plans[$("#plan-select").value];
  const names = plan ? plan.fields.map((f) => f.name) : [];
  // "… argument 'num' …" (the queue's checks) or "scan: num …" (the plan's own checks)
  const m = /argument '([A-Za-z_]\w*)'/.exec(message) || /^\w+: ([A-Za-z_]\w*)\b/.exec(message);
  const field = m && names.includes(m[1]) ? m[1] : names.find((n) => message.includes(`'${n}'`));
  if (field) {
    document.querySelector(`.field[data-param="${field}"]`).classList.add("invalid");
    $(`#error-${field}`).textContent = message;
  } else {
    $("#form-error").textContent = message;
  }
}

$("#plan-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clearErrors();
  let item;
  try { item = buildItem(); }
  catch (e) { if (e instanceof FieldError) { showError(`argument '${e.field}': ${e.message}`); return; } throw e; }
  try {
    if (S.editing) await api("/api/queue/edit", { method: "POST", body: { uid: S.editing, item, version: S.queue.version } });
    else await api("/api/queue/add", { method: "POST", body: { item } });
    stopEdit();
    refreshQueue();
  } catch (e) { showError(e.message); }
});

function startEdit(item) {
  S.editing = item.uid;
  $("#plan-select").value = item.name;
  const plan = S.plans[item.name];
  if (!plan) { banner(`your group may not edit plan ${item.name}`); S.editing = null; return; }
  const values = { ...item.kwargs };
  const pos = plan.fields.filter((f) => f.passed === "positional");
  item.args.forEach((v, i) => { if (i < pos.length) values[pos[i].name] = v; });
  const va = plan.fields.find((f) => f.passed === "varargs");
  if (va && item.args.length > pos.length) values[va.name] = item.args.slice(pos.length);
  renderFields(values);
  $("#form-title").textContent = `Edit item ${item.uid.slice(0, 8)}`;
  $("#form-submit").textContent = "Save";
  $("#form-cancel").hidden = false;
}
function stopEdit() {
  S.editing = null;
  $("#form-title").textContent = "Add a plan";
  $("#form-submit").textContent = "Add to queue";
  $("#form-cancel").hidden = true;
}
$("#form-cancel").addEventListener("click", () => { stopEdit(); clearErrors(); renderFields(); });

/* ---------- plots ---------- */
const COLORS = ["#1f6feb", "#d6336c", "#2f9e44", "#f08c00", "#7048e8", "#0c8599"];
function plotSize(sel) { const w = Math.max(320, document.querySelector(sel).clientWidth || 600); return { width: w, height: 320 }; }

function makePlot(sel, xLabel, yNames, data, xRange) {
  const el = document.querySelector(sel);
  el.replaceChildren();
  const opts = {
    ...plotSize(sel), scales: { x: xRange ? { time: false, range: xRange } : { time: false } }, legend: { live: true },
    axes: [{ label: xLabel }, { size: 70 }],
    series: [{ label: xLabel }, ...yNames.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], width: 1.5, points: { show: true, size: 5 } }))],
  };
  return new uPlot(opts, data, el);
}

function drawMap(canvas, xs, ys, zs) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!xs.length) return;
  const ux = [...new Set(xs)].sort((a, b) => a - b), uy = [...new Set(ys)].sort((a, b) => a - b);
  const zmin = Math.min(...zs), zmax = Math.max(...zs);
  const cw = canvas.width / Math.max(ux.length, 1), ch = canvas.height / Math.max(uy.length, 1);
  xs.forEach((x, i) => {
    const t = zmax > zmin ? (zs[i] - zmin) / (zmax - zmin) : 0.5;
    ctx.fillStyle = `hsl(${240 - 240 * t}, 80%, ${30 + 30 * t}%)`;
    ctx.fillRect(ux.indexOf(x) * cw, canvas.height - (uy.indexOf(ys[i]) + 1) * ch, Math.ceil(cw), Math.ceil(ch));
  });
}

/* ---------- live run ---------- */
function newLive(start) {
  const dims = ((start.hints || {}).dimensions || []).map((d) => d[0][0]);
  const pa = start.plan_args || {};
  const xRange = dims.length === 1 && typeof pa.start === "number" && typeof pa.stop === "number" && pa.start !== pa.stop
    ? [Math.min(pa.start, pa.stop), Math.max(pa.start, pa.stop)] : null;
  return { start, xRange, descriptors: {}, rows: [], seen: new Set(), dims, x: dims[0] || "time", y: null, plot: null, stop: null, dirty: false, t0: null };
}

function liveDoc(name, doc) {
  if (name === "start") { S.live = newLive(doc); renderLiveHeader(); $("#live-table tbody").replaceChildren(); $("#live-plot").replaceChildren(); return; }
  const L = S.live;
  if (!L) return;
  if (name === "descriptor") {
    L.descriptors[doc.uid] = doc;
    if (doc.name === "primary" && !L.y) {
      const objs = L.start.detectors || Object.keys(doc.hints || {});
      let fields = objs.flatMap((o) => ((doc.hints || {})[o] || {}).fields || []);
      if (!fields.length) fields = Object.entries(doc.data_keys).filter(([k, v]) => v.dtype === "number" && !L.dims.includes(k)).map(([k]) => k);
      L.y = fields.filter((f) => !L.dims.includes(f));
    }
  } else if (name === "event") addRow(doc.descriptor, doc.seq_num, doc.time, doc.data, doc.uid);
  else if (name === "event_page") doc.seq_num.forEach((s, i) => addRow(doc.descriptor, s, doc.time[i], Object.fromEntries(Object.entries(doc.data).map(([k, v]) => [k, v[i]])), doc.uid[i]));
  else if (name === "stop") { L.stop = doc; }
  scheduleLive();
}

function addRow(descUid, seq, time, data, uid) {
  const L = S.live;
  const desc = L.descriptors[descUid];
  if (!desc || desc.name !== "primary" || L.seen.has(uid)) return;
  L.seen.add(uid);
  if (L.t0 === null) L.t0 = time;
  L.rows.push({ seq_num: seq, time: time - L.t0, ...data });
  L.rows.sort((a, b) => a.seq_num - b.seq_num);
}

function scheduleLive() { if (!S.live.dirty) { S.live.dirty = true; requestAnimationFrame(renderLive); } }

function renderLiveHeader() {
  const st = S.live.start;
  $("#live-title").textContent = `scan ${st.scan_id} · ${st.plan_name} · ${st.uid.slice(0, 8)}`;
}

function renderLive() {
  const L = S.live;
  L.dirty = false;
  renderLiveHeader();
  const total = L.start.num_points;
  const done = L.rows.length;
  $("#live-points").textContent = total ? `${done} / ${total} points` : `${done} points`;
  $("#live-bar").style.width = total ? `${Math.min(100, (100 * done) / total)}%` : L.stop ? "100%" : "0";
  if (L.stop) $("#live-left").textContent = `finished: ${L.stop.exit_status}${L.stop.reason ? " (" + L.stop.reason + ")" : ""}`;
  else if (total && done) {
    const elapsed = Date.now() / 1000 - L.start.time;
    $("#live-left").textContent = `about ${fmtSecs((elapsed / done) * (total - done))} left`;
  } else $("#live-left").textContent = "";
  const y = L.y || [];
  const xKey = L.x === "time" ? "time" : L.x;
  if (L.dims.length >= 2 && y.length) {
    $("#live-map").hidden = false;
    $("#live-plot").hidden = true;
    drawMap($("#live-map"), L.rows.map((r) => r[L.dims[1]]), L.rows.map((r) => r[L.dims[0]]), L.rows.map((r) => r[y[0]]));
  } else if (y.length) {
    $("#live-map").hidden = true;
    $("#live-plot").hidden = false;
    const data = [L.rows.map((r) => r[xKey]), ...y.map((k) => L.rows.map((r) => r[k]))];
    if (xKey !== "time") { const order = data[0].map((_, i) => i).sort((a, b) => data[0][a] - data[0][b]); for (let i = 0; i < data.length; i++) data[i] = order.map((j) => data[i][j]); }
    if (!L.plot) L.plot = makePlot("#live-plot", xKey, y, data, L.xRange);
    else L.plot.setData(data);
  }
  const cols = ["seq_num", ...(xKey === "time" ? ["time"] : [xKey]), ...y];
  $("#live-table thead").replaceChildren(h("tr", {}, cols.map((c) => h("th", {}, c))));
  $("#live-table tbody").replaceChildren(...L.rows.slice(-25).reverse().map((r) => h("tr", {}, cols.map((c) => h("td", {}, typeof r[c] === "number" ? +r[c].toPrecision(6) : String(r[c] ?? ""))))));
}

function liveNote(kind, text, time) {
  const li = h("li", { class: kind === "state" || kind === "fault" || kind === "suspension" ? "warn-text" : "" }, `${new Date((time || Date.now() / 1000) * 1000).toLocaleTimeString()} ${text}`);
  $("#live-notes").prepend(li);
}

function consoleLine(line) {
  const c = $("#console");
  c.textContent += line + "\n";
  if (c.textContent.length > 40000) c.textContent = c.textContent.slice(-30000);
  c.scrollTop = c.scrollHeight;
}

function suspensionNote(d) {
  liveNote("suspension", d.state === "suspended" ? `SUSPENDED: ${d.justification}` : `RESUMED: ${d.justification} cleared`, d.time);
}

/* the newest camera frame: fetched when the stream says there is one (one request at a time) */
async function loadFrame() {
  if (S.frameBusy) { S.frameAgain = true; return; }
  S.frameBusy = true;
  try {
    do {
      S.frameAgain = false;
      let f;
      try { f = await api("/api/web/live/frame"); } catch (e) { return; }
      drawFrame(f);
    } while (S.frameAgain);
  } finally { S.frameBusy = false; }
}

function drawFrame(f) {
  const raw = atob(f.data);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  const px = new Int32Array(bytes.buffer);
  let lo = Infinity, hi = -Infinity;
  for (const v of px) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const c = $("#live-frame");
  c.width = f.width; c.height = f.height;
  const ctx = c.getContext("2d");
  const img = ctx.createImageData(f.width, f.height);
  const span = hi > lo ? hi - lo : 1;
  for (let i = 0; i < px.length; i++) {
    const g = Math.round((255 * (px[i] - lo)) / span);
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = g;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  c.hidden = false;
  c.dataset.uniqueId = f.unique_id;
  c.dataset.run = f.run;
  $("#live-camera").textContent = `${f.device} frame ${f.unique_id} (point ${f.seq_num} of run ${f.run.slice(0, 8)}), ${f.width}×${f.height}, counts ${lo}…${hi}`;
}

async function loadLive() {
  let snap;
  try { snap = await api("/api/web/live"); } catch (e) { return; }
  for (const n of snap.notes) liveNote(n.kind, n.text, n.time);
  for (const [name, doc] of snap.docs) liveDoc(name, doc);
  loadFrame();
}

/* ---------- beamline ---------- */
function beamCard(label, value, cls, id) { return h("div", { class: "card", id }, h("div", { class: "muted" }, label), h("div", { class: `value ${cls || ""}` }, value)); }

async function refreshBeamline() {
  let b;
  try { b = await api("/api/web/beamline"); } catch (e) { banner(e.message); return; }
  const beam = b.beam || {};
  const yes = (v) => v === 1 || v === "Yes" || v === "Open" || v === true;
  const has = (k) => beam[k] !== undefined && beam[k] !== null;
  $("#beam-cards").replaceChildren(
    beamCard("ring current", has("ring_current") ? `${Number(beam.ring_current).toFixed(2)} mA` : "—", "", "beam-current"),
    beamCard("shutter", has("shutter") ? (yes(beam.shutter) ? "open" : "closed") : "—", has("shutter") ? (yes(beam.shutter) ? "ok-text" : "bad-text") : "", "beam-shutter"),
    beamCard("beam available", has("beam_available") ? (yes(beam.beam_available) ? "yes" : "no") : "—", has("beam_available") ? (yes(beam.beam_available) ? "ok-text" : "bad-text") : "", "beam-available"),
    beamCard("top-up in", has("topup_countdown") ? fmtSecs(Number(beam.topup_countdown)) : "—", "", "beam-topup"),
    beamCard("twin clock", has("sim_time") ? `${Number(beam.sim_time).toFixed(1)} s ×${beam.speed}` : "—", "", "twin-clock"),
  );
  $("#device-table tbody").replaceChildren(...(b.devices || []).map((d) => h("tr", { dataset: { device: d.name } },
    h("td", {}, d.name), h("td", {}, d.kind),
    h("td", {}, d.error ? h("span", { class: "bad-text" }, d.error) : Object.entries(d.readings).map(([k, v]) => `${k} = ${typeof v === "number" ? +v.toPrecision(6) : v}`).join(", ")))));
  const mayControl = S.who && S.who.role !== "observer";
  $("#fault-card").hidden = !b.twin && !b.error;
  $("#fault-buttons").replaceChildren(...(b.faults || []).map((f) => h("button", { title: `${f.help} (${f.pv})`, disabled: !mayControl, dataset: { fault: f.key },
    onclick: async () => { try { await api("/api/web/faults", { method: "POST", body: { fault: f.key } }); liveNote("fault", f.label); } catch (e) { banner(e.message); } } }, f.label)));
  $("#beamline-notes").replaceChildren(...[b.error, ...(b.notes || [])].filter(Boolean).map((n) => h("li", {}, n)));
}

/* ---------- data ---------- */
$("#search-form").addEventListener("submit", (ev) => { ev.preventDefault(); search(); });

async function search() {
  const form = new FormData($("#search-form"));
  const q = new URLSearchParams();
  for (const [k, v] of form.entries()) {
    if (!v) continue;
    q.set(k, k === "since" || k === "until" ? String(new Date(v).getTime() / 1000) : v);
  }
  $("#search-error").textContent = "";
  let res;
  try { res = await api(`/api/web/runs?${q}`); } catch (e) { $("#search-error").textContent = e.message; return; }
  $("#search-count").textContent = `${res.runs.length}${res.truncated ? "+" : ""} found`;
  const cls = (s) => (s === "success" ? "ok-text" : s === "abort" ? "warn-text" : "bad-text");
  $("#runs-table tbody").replaceChildren(...res.runs.map((r) => h("tr", { class: `clickable${S.run && S.run.summary.uid === r.uid ? " selected" : ""}`, dataset: { uid: r.uid }, onclick: () => openRun(r.uid) },
    h("td", {}, r.scan_id), h("td", {}, r.plan_name), h("td", {}, fmtTime(r.time)), h("td", { class: cls(r.exit_status) }, r.exit_status),
    h("td", {}, Object.values(r.num_events || {}).reduce((a, b) => a + b, 0)))));
}

async function openRun(uid) {
  let run;
  try { run = await api(`/api/web/runs/${encodeURIComponent(uid)}`); } catch (e) { $("#search-error").textContent = e.message; return; }
  S.run = run;
  $("#run-view").hidden = false;
  const s = run.summary;
  $("#run-title").textContent = `scan ${s.scan_id} · ${s.plan_name} · ${s.exit_status} · ${s.uid.slice(0, 8)}`;
  $("#run-metadata").textContent = JSON.stringify(run.metadata, null, 1);
  const streams = Object.keys(run.streams);
  $("#run-stream").replaceChildren(...streams.map((n) => h("option", {}, n)));
  if (streams.includes("primary")) $("#run-stream").value = "primary";
  for (const tr of document.querySelectorAll("#runs-table tr")) tr.classList.toggle("selected", tr.dataset.uid === uid);
  pickAxes();
}

function pickAxes() {
  const run = S.run;
  const cols = run.streams[$("#run-stream").value] || {};
  const names = Object.keys(cols).filter((k) => cols[k].some((v) => typeof v === "number"));
  const s = run.summary;
  const x = (s.motors || []).find((m) => names.includes(m)) || "time";
  const y = (s.detectors || []).find((d) => names.includes(d)) || names.find((n) => n !== x && n !== "time") || x;
  $("#run-x").replaceChildren(...names.map((n) => h("option", { selected: n === x }, n)));
  $("#run-y").replaceChildren(...names.map((n) => h("option", { selected: n === y }, n)));
  drawRun();
}
$("#run-stream").addEventListener("change", pickAxes);
$("#run-x").addEventListener("change", drawRun);
$("#run-y").addEventListener("change", drawRun);

function drawRun() {
  const cols = S.run.streams[$("#run-stream").value] || {};
  const x = $("#run-x").value, y = $("#run-y").value;
  if (!cols[x] || !cols[y]) { $("#run-plot").replaceChildren(h("p", { class: "muted" }, "nothing to plot")); return; }
  const order = cols[x].map((_, i) => i).sort((a, b) => cols[x][a] - cols[x][b]);
  makePlot("#run-plot", x, [y], [order.map((i) => cols[x][i]), order.map((i) => cols[y][i])]);
}

async function download(path, fallback) {
  try {
    const resp = await api(path, { raw: true });
    const m = /filename="?([^";]+)"?/.exec(resp.headers.get("Content-Disposition") || "");
    const url = URL.createObjectURL(await resp.blob());
    const a = h("a", { href: url, download: m ? m[1] : fallback });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) { banner(e.message); }
}
$("#download-netcdf").addEventListener("click", () => download(`/api/web/runs/${S.run.summary.uid}/netcdf`, `${S.run.file}`));
$("#download-csv").addEventListener("click", () => download(`/api/web/runs/${S.run.summary.uid}/csv?stream=${encodeURIComponent($("#run-stream").value)}`, "run.csv"));

/* ---------- agents ---------- */
async function refreshAgents() {
  let data;
  try { data = await api("/api/web/agents"); } catch (e) { banner(e.message); return; }
  const box = $("#agents");
  if (!data.campaigns.length) {
    box.replaceChildren(h("div", { class: "card muted" }, "No agent campaign yet. Agents queue plans through the client with md.agent = TAG (python -m qserver.agent); their suggestions, runs and report appear here."));
    return;
  }
  box.replaceChildren(...data.campaigns.map((c, ci) => {
    const rep = c.report;
    const card = h("div", { class: "card", dataset: { campaign: c.tag } },
      h("h2", {}, `campaign ${c.tag}`, h("span", { class: "muted" }, ` · user ${c.user || "?"}`)),
      h("p", {}, `${rep.rounds} round(s) run, ${rep.pending} suggestion(s) waiting; best reading ${rep.best_y ?? "?"}`, rep.best_x !== null ? ` at ${+rep.best_x.toPrecision(5)}` : ""),
      h("h3", {}, "Suggestions waiting in the queue"),
      c.suggested.length ? h("table", { class: "table" }, h("tr", {}, h("th", {}, "round"), h("th", {}, "plan"), h("th", {}, "arguments")),
        c.suggested.map((s) => h("tr", {}, h("td", {}, s.round ?? ""), h("td", {}, s.name), h("td", {}, s.args.map(short).join(", "))))) : h("p", { class: "muted" }, "none"),
      h("h3", {}, "Executed"),
      h("table", { class: "table" }, h("tr", {}, ["round", "range", "best at", "best reading", "best so far", "regret", "run"].map((t) => h("th", {}, t))),
        c.rounds.map((r) => h("tr", {}, h("td", {}, r.round ?? ""), h("td", {}, r.range ? r.range.map((v) => +(+v).toPrecision(4)).join(" … ") : ""),
          h("td", {}, r.best_x === null ? "" : +r.best_x.toPrecision(5)), h("td", {}, r.best_y ?? ""), h("td", {}, r.best_so_far ?? ""), h("td", {}, r.regret ?? ""),
          h("td", {}, h("button", { class: "link", onclick: () => { showView("data"); openRun(r.uid); } }, r.uid.slice(0, 8)))))),
      h("div", { id: `agent-plot-${ci}` }));
    return card;
  }));
  data.campaigns.forEach((c, ci) => {
    const rows = c.rounds.filter((r) => r.best_so_far !== null);
    if (rows.length) makePlot(`#agent-plot-${ci}`, "round", ["best so far", "regret"], [rows.map((r, i) => r.round ?? i), rows.map((r) => r.best_so_far), rows.map((r) => r.regret)]);
  });
}

/* ---------- start ---------- */
window.dashboard = S;
(function boot() {
  $("#login-url").value = location.protocol.startsWith("http") ? location.origin : "http://127.0.0.1:8000";
  const saved = sessionStorage.getItem("beamtwin");
  if (saved) {
    const { url, key } = JSON.parse(saved);
    $("#login-url").value = url;
    login(url, key).catch((e) => logout(e.message));
  }
})();
