// The central view: tiles fed by /ws/live. Ages are recomputed every second so that a
// value older than its freshness limit is shown as stale even when nothing arrives.
"use strict";

const state = { beds: new Map(), alarms: new Map(), freshness: {}, seq: 0, lastMessage: 0, ws: null, csrf: null };
const PRIORITY = { high: 3, medium: 2, low: 1 };
const PREFIX = { high: "***", medium: "**", low: "*" };

function cookie(name) {
  const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
  return m ? decodeURIComponent(m[1]) : null;
}

async function post(url, body) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": cookie("ivmon_csrf") || "" },
    body: JSON.stringify(body || {}),
  });
  if (res.status === 401) location.href = "/login?next=" + encodeURIComponent(location.pathname);
  return res;
}

function bedEntry(id) {
  let bed = state.beds.get(id);
  if (!bed) { bed = { id, label: id, session: null, vitals: {} }; state.beds.set(id, bed); }
  return bed;
}

function applySnapshot(msg) {
  state.beds.clear();
  state.alarms.clear();
  state.freshness = msg.freshness_s || state.freshness;
  for (const b of msg.beds) state.beds.set(b.id, { id: b.id, label: b.label, session: b.session, vitals: b.vitals });
  for (const a of msg.alarms) state.alarms.set(a.id, a);
}

function apply(msg) {
  if (msg.seq) state.seq = Math.max(state.seq, msg.seq);
  switch (msg.type) {
    case "snapshot": applySnapshot(msg); break;
    case "batch": msg.messages.forEach(apply); break;
    case "reading": {
      if (!msg.bed) break;
      const bed = bedEntry(msg.bed);
      for (const [vital, value] of Object.entries(msg.vitals)) {
        const prev = bed.vitals[vital];
        if (!prev || msg.ts >= prev.ts) bed.vitals[vital] = { value, ts: msg.ts, quality: (msg.quality || {})[vital] || "valid" };
      }
      break;
    }
    case "alarm": {
      const a = msg.alarm;
      const onScreen = a.state !== "resolved" || (a.priority === "high" && !a.acknowledged_at);
      if (onScreen) state.alarms.set(a.id, a); else state.alarms.delete(a.id);
      break;
    }
    case "session": {
      const s = msg.session;
      const bed = bedEntry(s.bed);
      bed.session = ["discharged", "aborted"].includes(s.phase) ? null : s;
      break;
    }
  }
}

function fmtAge(s) {
  if (s < 60) return Math.round(s) + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  return Math.floor(s / 3600) + " h";
}

function numeric(bed, label, keys, now, format) {
  const items = keys.map((k) => bed.vitals[k]).filter(Boolean);
  const el = document.createElement("div");
  el.className = "num";
  const v = items[0];
  let text = "—", age = "";
  if (v) {
    const ageS = now - v.ts;
    const limit = state.freshness[keys[0]] || 10;
    const stale = ageS > limit || v.quality !== "valid";
    if (stale) el.classList.add("stale");
    text = format(keys.map((k) => bed.vitals[k]));
    age = (stale ? "stale · " : "") + fmtAge(ageS) + " ago";
  }
  el.innerHTML = `<div class="label">${label}</div><div class="value"></div><div class="age"></div>`;
  el.querySelector(".value").textContent = text;
  el.querySelector(".age").textContent = age;
  return el;
}

function render() {
  const now = Date.now() / 1000;
  const tiles = document.getElementById("tiles");
  tiles.replaceChildren();
  for (const bed of [...state.beds.values()].sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }))) {
    const tile = document.createElement("article");
    tile.className = "tile";
    tile.dataset.bed = bed.id;
    const alarms = [...state.alarms.values()].filter((a) => a.bed === bed.id);
    const top = alarms.sort((a, b) => PRIORITY[b.priority] - PRIORITY[a.priority])[0];
    if (top) tile.classList.add("alarm-" + top.priority);
    const s = bed.session;
    let meta = "no session";
    if (s) {
      meta = `${s.patient_ref} · ${s.phase}`;
      if (s.infusion_started) meta += ` · ${fmtAge(now - s.infusion_started)} since infusion start`;
    }
    tile.innerHTML = `<h2><a href="/beds/${encodeURIComponent(bed.id)}"></a><span class="phase"></span></h2><div class="meta"></div><div class="numerics"></div>`;
    tile.querySelector("a").textContent = bed.label || bed.id;
    tile.querySelector(".meta").textContent = meta;
    const hrKey = bed.vitals.hr ? "hr" : "pr";
    const nums = tile.querySelector(".numerics");
    nums.append(
      numeric(bed, hrKey === "hr" ? "HR" : "PR", [hrKey], now, (v) => Math.round(v[0].value)),
      numeric(bed, "SpO₂ %", ["spo2"], now, (v) => Math.round(v[0].value)),
      numeric(bed, "NIBP", ["sbp", "dbp", "map"], now, (v) => `${Math.round(v[0].value)}/${v[1] ? Math.round(v[1].value) : "?"}` + (v[2] ? ` (${Math.round(v[2].value)})` : "")),
    );
    tiles.append(tile);
  }
  const bar = document.getElementById("alarmbar");
  bar.replaceChildren();
  const sorted = [...state.alarms.values()].sort((a, b) => PRIORITY[b.priority] - PRIORITY[a.priority] || a.started - b.started);
  for (const a of sorted) {
    const row = document.createElement("div");
    row.className = `alarm ${a.priority} ${a.kind}`;
    row.dataset.alarm = a.id;
    row.innerHTML = `<span class="msg"></span><span class="age"></span><button class="ack" type="button">Acknowledge</button><button class="silence" type="button">Silence</button>`;
    row.querySelector(".msg").textContent = `${PREFIX[a.priority]} ${a.bed || "?"}: ${a.message} (${a.state}${a.acknowledged_by ? ", ack " + a.acknowledged_by : ""})`;
    row.querySelector(".age").textContent = fmtAge(now - a.started);
    row.querySelector(".ack").onclick = () => post(`/api/alarms/${a.id}/acknowledge`);
    row.querySelector(".silence").onclick = () => post(`/api/alarms/${a.id}/silence`);
    bar.append(row);
  }
  document.getElementById("clock").textContent = new Date().toLocaleTimeString();
  const lost = !state.ws || state.ws.readyState !== WebSocket.OPEN || now - state.lastMessage > 10;
  document.getElementById("banner").hidden = !lost;
}

let renderPending = false;
function scheduleRender() {
  // Alarms show at the next frame, not the next one-second tick.
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => { renderPending = false; render(); });
}

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const url = `${proto}://${location.host}/ws/live` + (state.seq ? `?since=${state.seq}` : "");
  const ws = new WebSocket(url);
  state.ws = ws;
  ws.onmessage = (ev) => { state.lastMessage = Date.now() / 1000; apply(JSON.parse(ev.data)); scheduleRender(); };
  ws.onclose = () => { state.ws = null; setTimeout(connect, 2000); };
}

async function init() {
  const me = await fetch("/api/me");
  if (me.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); return; }
  const who = await me.json();
  document.getElementById("who").textContent = `${who.username} (${who.role})`;
  document.getElementById("logout").onclick = async () => { await post("/api/logout"); location.href = "/login"; };
  connect();
  setInterval(render, 1000);
  render();
}

init();
