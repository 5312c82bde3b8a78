// The central view: a tile per chair fed by /ws/live. Ages are recomputed every second so that
// a value older than its freshness limit turns grey with its age even when nothing arrives,
// and a lost connection greys everything under a full-width banner.
"use strict";

import { AlarmAudio } from "./audio.js";
import { appendPoint, drawSpark } from "./chart.js";
import {
  byId, el, fmtAge, fmtClock, getJSON, LiveConnection, onScreen, post, PREFIX, PRIORITY, serverNow, sortAlarms, whoAmI,
} from "./common.js";
import { monitorsMessage, monitorsPanel } from "./devices.js";

const SPARK_S = 30 * 60;
const COLORS = { hr: "#3fb950", pr: "#3fb950", spo2: "#58a6ff", sbp: "#f0883e", dbp: "#f0883e", map: "#d2a8ff" };
const state = { beds: new Map(), alarms: new Map(), unassigned: new Map(), freshness: {}, discharge: new Map() };
const audio = new AlarmAudio();
let live = null;

function bedEntry(id) {
  let bed = state.beds.get(id);
  if (!bed) {
    bed = { id, label: id, session: null, vitals: {}, trend: {}, device: null, tile: null };
    state.beds.set(id, bed);
  }
  return bed;
}

async function loadTrend(bed) {
  try {
    const t = await getJSON(`/api/beds/${encodeURIComponent(bed.id)}/trend?minutes=30`);
    for (const [vital, points] of Object.entries(t.vitals)) {
      const have = bed.trend[vital] || [];
      const newer = have.filter((p) => !points.length || p[0] > points[points.length - 1][0]);
      bed.trend[vital] = points.concat(newer);
    }
  } catch (e) { /* the live stream still fills the sparkline */ }
}

function applySnapshot(msg) {
  state.freshness = msg.freshness_s || state.freshness;
  const ids = new Set(msg.beds.map((b) => b.id));
  for (const [id, bed] of state.beds) if (!ids.has(id)) { bed.tile?.remove(); state.beds.delete(id); }
  for (const b of msg.beds) {
    const bed = bedEntry(b.id);
    Object.assign(bed, { label: b.label, session: b.session, vitals: {} });
    for (const [k, v] of Object.entries(b.vitals)) bed.vitals[k] = { value: v.value, ts: v.ts, quality: v.quality };
    loadTrend(bed);
  }
  state.alarms.clear();
  for (const a of msg.alarms) if (onScreen(a)) state.alarms.set(a.id, a);
  state.unassigned.clear();
  for (const u of msg.unassigned || []) state.unassigned.set(u.device, { vitals: u.vitals });
}

function applyReading(msg) {
  if (!msg.bed) {
    const u = state.unassigned.get(msg.source) || { vitals: {} };
    for (const [k, v] of Object.entries(msg.vitals)) u.vitals[k] = { value: v, ts: msg.ts, quality: (msg.quality || {})[k] || "valid" };
    state.unassigned.set(msg.source, u);
    return;
  }
  const bed = bedEntry(msg.bed);
  for (const [vital, value] of Object.entries(msg.vitals)) {
    const quality = (msg.quality || {})[vital] || "valid";
    const prev = bed.vitals[vital];
    if (!prev || msg.ts >= prev.ts) bed.vitals[vital] = { value, ts: msg.ts, quality };
    if (quality === "valid") appendPoint(bed.trend[vital] || (bed.trend[vital] = []), msg.ts, value, msg.ts - SPARK_S);
  }
}

function apply(msg) {
  switch (msg.type) {
    case "snapshot": applySnapshot(msg); break;
    case "batch": msg.messages.forEach(apply); break;
    case "reading": applyReading(msg); break;
    case "alarm": {
      const a = msg.alarm;
      if (onScreen(a)) state.alarms.set(a.id, a); else state.alarms.delete(a.id);
      break;
    }
    case "session": {
      const s = msg.session;
      bedEntry(s.bed).session = ["discharged", "aborted"].includes(s.phase) ? null : s;
      state.discharge.delete(s.id);
      break;
    }
    case "device": if (msg.bed) bedEntry(msg.bed).device = msg; break;
    case "association": monitorsMessage(msg, state.unassigned); break;
  }
}

// -- tiles -------------------------------------------------------------------------------
function makeTile(bed) {
  const tile = el("article", "tile");
  tile.dataset.bed = bed.id;
  tile.innerHTML = `
    <header><a class="name"></a><span class="phase"></span><span class="esc" hidden>ESCALATED</span></header>
    <div class="meta"><span class="patient"></span><span class="elapsed"></span></div>
    <div class="top-alarm" hidden></div>
    <div class="numerics">
      <div class="num hr" data-vital="hr"><div class="label">HR</div><div class="value">—</div><div class="age"></div><canvas></canvas></div>
      <div class="num spo2" data-vital="spo2"><div class="label">SpO₂ %</div><div class="value">—</div><div class="age"></div><canvas></canvas></div>
      <div class="num bp" data-vital="sbp"><div class="label">NIBP mmHg</div><div class="value">—</div><div class="age"></div><canvas></canvas></div>
    </div>
    <div class="discharge" hidden></div>`;
  tile.querySelector("a.name").href = `/beds/${encodeURIComponent(bed.id)}`;
  return tile;
}

function freshness(vital) { return state.freshness[vital] || 10; }

function setNumeric(box, items, now, text, extra) {
  const v = items[0];
  const valueEl = box.querySelector(".value"), ageEl = box.querySelector(".age");
  if (!v) {
    valueEl.textContent = "—";
    ageEl.textContent = "no data";
    box.classList.add("stale");
    return;
  }
  const age = now - v.ts;
  const stale = age > freshness(box.dataset.vital) || !live.current;
  const doubtful = items.some((i) => i.quality !== "valid");
  box.classList.toggle("stale", stale);
  box.classList.toggle("doubtful", doubtful && !stale);
  valueEl.textContent = text;
  ageEl.textContent = (stale ? "STALE · " : doubtful ? "? " : "") + (extra || "") + fmtAge(age) + " ago";
}

function renderTile(bed, now, alarms) {
  if (!bed.tile) { bed.tile = makeTile(bed); }
  const t = bed.tile;
  t.querySelector("a.name").textContent = bed.label || bed.id;
  const s = bed.session;
  t.querySelector(".phase").textContent = s ? s.phase : "no session";
  t.querySelector(".phase").className = "phase " + (s ? s.phase : "none");
  t.querySelector(".patient").textContent = s ? s.patient_ref : "";
  let elapsed = "";
  if (s && s.infusion_started) elapsed = `${fmtAge(now - s.infusion_started)} since infusion start`;
  else if (s) elapsed = `baseline ${fmtAge(now - s.started)}`;
  t.querySelector(".elapsed").textContent = elapsed;

  const mine = sortAlarms(alarms.filter((a) => a.bed === bed.id));
  const top = mine[0];
  for (const p of ["high", "medium", "low"]) t.classList.toggle("alarm-" + p, !!top && top.priority === p);
  t.dataset.alarm = top ? top.priority : "";
  // Flashing stops once every alarm of the top priority has been seen (acknowledged or silenced).
  t.classList.toggle("seen", !!top && mine.filter((a) => a.priority === top.priority).every((a) => a.state !== "active"));
  t.classList.toggle("technical", !!top && top.kind !== "physiological");
  t.querySelector(".esc").hidden = !mine.some((a) => a.escalated && a.state !== "resolved");
  const ta = t.querySelector(".top-alarm");
  ta.hidden = !top;
  if (top) {
    ta.textContent = `${PREFIX[top.priority]} ${top.kind !== "physiological" ? "TECH: " : ""}${top.message}` +
      (top.value != null ? ` ${Math.round(top.value)}` : "") + (top.state === "resolved" ? " (resolved)" : "") +
      (mine.length > 1 ? ` +${mine.length - 1}` : "");
    ta.className = `top-alarm ${top.priority} ${top.kind}`;
  }

  const hrKey = bed.vitals.hr && now - bed.vitals.hr.ts < 30 ? "hr" : bed.vitals.pr ? "pr" : "hr";
  const hrBox = t.querySelector(".num.hr");
  hrBox.dataset.vital = hrKey;
  hrBox.querySelector(".label").textContent = hrKey === "hr" ? "HR bpm" : "PR bpm";
  const hr = bed.vitals[hrKey];
  setNumeric(hrBox, hr ? [hr] : [], now, hr ? String(Math.round(hr.value)) : "—");
  const spo2 = bed.vitals.spo2;
  setNumeric(t.querySelector(".num.spo2"), spo2 ? [spo2] : [], now, spo2 ? String(Math.round(spo2.value)) : "—");
  const [sbp, dbp, map] = ["sbp", "dbp", "map"].map((k) => bed.vitals[k]);
  const bpText = sbp ? `${Math.round(sbp.value)}/${dbp ? Math.round(dbp.value) : "?"}` + (map ? ` (${Math.round(map.value)})` : "") : "—";
  setNumeric(t.querySelector(".num.bp"), sbp ? [sbp, dbp, map].filter(Boolean) : [], now, bpText, sbp ? `at ${fmtClock(sbp.ts)} · ` : "");

  // The window grows with the data up to 30 min, so a new chair's line is visible at once.
  const first = Math.min(...["hr", "pr", "spo2"].map((k) => (bed.trend[k] || [])[0]?.[0] ?? now));
  const spanS = Math.min(SPARK_S, Math.max(120, now - first));
  const spark = (box, keys, opts) => drawSpark(box.querySelector("canvas"), keys.map((k) => bed.trend[k] || []), {
    now, spanS, colors: keys.map((k) => COLORS[k]), ...opts });
  spark(hrBox, [hrKey], { floor: 20 });
  spark(t.querySelector(".num.spo2"), ["spo2"], { floor: 6, limits: [90] });
  spark(t.querySelector(".num.bp"), ["sbp", "dbp"], { floor: 30, gapS: 1200 });

  const dc = t.querySelector(".discharge");
  const ready = s && s.phase === "recovery" ? state.discharge.get(s.id) : null;
  dc.hidden = !(s && s.phase === "recovery");
  if (s && s.phase === "recovery") {
    if (!ready || now - ready.fetched > 30) fetchDischarge(s.id, now);
    dc.classList.toggle("ready", !!ready && ready.ready);
    dc.textContent = !ready || !ready.reasons ? "Discharge readiness: checking…" : ready.ready
      ? "✓ Discharge criteria met (advisory: confirm escort)"
      : "Discharge: not yet — " + ready.reasons.join("; ");
  }
}

async function fetchDischarge(id, now) {
  if (state.discharge.get(id)?.pending) return;
  state.discharge.set(id, { ...(state.discharge.get(id) || {}), pending: true, fetched: now });
  try {
    const d = await getJSON(`/api/sessions/${id}/discharge`);
    state.discharge.set(id, { ...d, fetched: serverNow() });
  } catch (e) {
    state.discharge.delete(id);
  }
}

// -- alarm bar ---------------------------------------------------------------------------
function renderAlarmBar(alarms, now) {
  const bar = byId("alarmbar");
  bar.replaceChildren();
  for (const a of alarms) {
    const row = el("div", `alarm ${a.priority} ${a.kind} ${a.state}`);
    row.dataset.alarm = a.id;
    row.dataset.bed = a.bed || "";
    const label = a.bed ? (state.beds.get(a.bed)?.label || a.bed) : (a.kind === "technical" ? "whole site" : "unassigned");
    const value = a.value != null ? ` ${Math.round(a.value)}` + (a.limit != null ? ` (limit ${a.limit})` : "") : "";
    row.append(
      el("span", "prio", PREFIX[a.priority]),
      el("span", "kind", a.kind === "physiological" ? "" : "TECHNICAL"),
      el("span", "msg", `${label}: ${a.message}${value}`),
      el("span", "state", a.state + (a.acknowledged_by ? ` by ${a.acknowledged_by}` : "")),
    );
    if (a.escalated && a.state !== "resolved") row.append(el("span", "esc", "ESCALATED"));
    if (a.silenced_until && a.silenced_until > now) row.append(el("span", "paused", `audio paused ${fmtAge(a.silenced_until - now)}`));
    row.append(el("span", "age", fmtAge(now - a.started)));
    const ack = el("button", "ack", "Acknowledge");
    ack.type = "button";
    ack.disabled = !!a.acknowledged_at && a.state !== "silenced";
    ack.onclick = () => act(a.id, "acknowledge");
    const sil = el("button", "silence", "Silence 2 min");
    sil.type = "button";
    sil.disabled = a.state === "resolved";
    sil.onclick = () => act(a.id, "silence");
    row.append(ack, sil);
    bar.append(row);
  }
  bar.hidden = !alarms.length;
}

async function act(id, what) {
  const res = await post(`/api/alarms/${id}/${what}`);
  if (res.ok) {
    const a = await res.json();
    if (a.state) { if (onScreen(a)) state.alarms.set(a.id, a); else state.alarms.delete(a.id); }
    render();
  }
}

function renderUnassigned(now, alarms) {
  monitorsPanel(byId("unassigned"), state.unassigned, alarms, now);
}

function render() {
  const now = serverNow();
  const current = live.current;
  document.body.classList.toggle("disconnected", !current);
  byId("banner").hidden = current;
  const alarms = sortAlarms([...state.alarms.values()]);
  renderAlarmBar(alarms, now); // first: nothing below may keep an alarm off the screen
  const tiles = byId("tiles");
  const beds = [...state.beds.values()].sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }));
  beds.forEach((bed, i) => {
    try {
      renderTile(bed, now, alarms);
      bed.tile.classList.remove("broken");
    } catch (e) {
      // One tile that cannot be drawn must not stop the others; it says so instead of showing old values.
      console.error("tile", bed.id, e);
      if (bed.tile) bed.tile.classList.add("broken");
    }
    if (bed.tile && tiles.children[i] !== bed.tile) tiles.insertBefore(bed.tile, tiles.children[i] || null);
  });
  renderUnassigned(now, alarms);
  const sounding = audio.update(alarms, now);
  const paused = alarms.filter((a) => a.silenced_until && a.silenced_until > now);
  byId("audio-paused").hidden = !paused.length;
  if (paused.length) byId("audio-paused").textContent = `AUDIO PAUSED (${paused.length}) · ${fmtAge(Math.max(...paused.map((a) => a.silenced_until)) - now)}`;
  const sound = byId("sound");
  sound.hidden = audio.enabled;
  sound.classList.toggle("urgent", !!sounding);
  byId("clock").textContent = new Date().toLocaleTimeString();
}

let pending = false;
function scheduleRender() {
  // An alarm shows at the next animation frame, not at the next one-second tick.
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; render(); });
}

async function init() {
  await whoAmI();
  byId("sound").onclick = async () => { await audio.enable(); render(); };
  live = new LiveConnection((msg) => { apply(msg); scheduleRender(); }, () => scheduleRender());
  live.connect();
  window.ivmon = { state, live, audio }; // for the browser tests and for debugging at the bedside
  setInterval(render, 1000);
  render();
}

init();
