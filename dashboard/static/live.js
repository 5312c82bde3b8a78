// The central view: a tile per chair and the alarm bar, fed by /ws/live. Rendering is coalesced to
// one pass per animation frame and touches only the chairs whose data changed (and only the nodes
// whose text or classes changed); once a second every tile is refreshed, so that a value older than
// its freshness limit turns grey with its age even when nothing arrives.
"use strict";

import { AlarmWatch } from "./alarmwatch.js";
import { appendPoint, drawSpark } from "./chart.js";
import { byId, getJSON, LiveConnection, serverNow, whoAmI } from "./common.js";
import { setAttr, setClass, setHidden, setText } from "./dom.js";
import { monitorsMessage, monitorsPanel } from "./devices.js";
import { dueLines, Schedules } from "./due.js";
import { alarmFlags, alarmValue, fmtAge, fmtTimer, PREFIX } from "./format.js";
import { bedOrder, layoutWall, setWall, wallWanted } from "./wall.js";

const SPARK_S = 30 * 60;
const COLORS = { hr: "#3fb950", pr: "#3fb950", spo2: "#58a6ff", sbp: "#f0883e", dbp: "#7ee0ff", map: "#d2a8ff" };
const state = {
  beds: new Map(), unassigned: new Map(), freshness: {}, discharge: new Map(), nibpCycle: {},
};
let live = null;
let watch = null;
const dirty = new Set(); // beds to redraw at the next frame
let everything = true; // redraw every tile at the next frame (snapshot, one-second tick)
// A protocol session's schedule (due.js): its tile counts down the next cuff reading and assessment.
const schedules = new Schedules(() => { everything = true; scheduleRender(); });

function bedEntry(id) {
  let bed = state.beds.get(id);
  if (!bed) {
    bed = { id, label: id, session: null, since: null, vitals: {}, trend: {}, limits: {}, tile: null, parts: null };
    state.beds.set(id, bed);
  }
  return bed;
}

/** Forget what came before `ts` (a session started or ended there): a chair shows one patient only. */
function cutBefore(bed, ts) {
  bed.since = ts;
  for (const [k, v] of Object.entries(bed.vitals)) if (v.ts < ts) delete bed.vitals[k];
  for (const pts of Object.values(bed.trend)) appendPoint(pts, -Infinity, 0, ts);
}

async function loadTrend(bed) {
  try {
    const t = await getJSON(`/api/beds/${encodeURIComponent(bed.id)}/trend?minutes=30`);
    const since = bed.since ?? -Infinity;
    for (const [vital, points] of Object.entries(t.vitals)) {
      const have = bed.trend[vital] || [];
      const older = points.filter((p) => p[0] >= since && (!have.length || p[0] < have[0][0]));
      bed.trend[vital] = older.concat(have);
    }
    dirty.add(bed.id);
    scheduleRender();
  } catch (e) { /* the live stream still fills the sparkline */ }
}

function applySnapshot(msg) {
  state.freshness = msg.freshness_s || state.freshness;
  state.nibpCycle = msg.nibp_cycle_s || state.nibpCycle;
  const ids = new Set(msg.beds.map((b) => b.id));
  for (const [id, bed] of state.beds) if (!ids.has(id)) { bed.tile?.remove(); state.beds.delete(id); }
  for (const b of msg.beds) {
    const bed = bedEntry(b.id);
    Object.assign(bed, { label: b.label, session: b.session, since: b.since ?? null, limits: b.limits || {}, vitals: {}, trend: {} });
    for (const [k, v] of Object.entries(b.vitals)) {
      if (bed.since === null || v.ts >= bed.since) bed.vitals[k] = { value: v.value, ts: v.ts, quality: v.quality };
    }
    loadTrend(bed);
  }
  state.unassigned.clear();
  for (const u of msg.unassigned || []) state.unassigned.set(u.device, { vitals: u.vitals });
  everything = true;
}

function applyReading(msg) {
  if (!msg.bed) {
    const u = state.unassigned.get(msg.source) || { vitals: {} };
    for (const [k, v] of Object.entries(msg.vitals)) u.vitals[k] = { value: v, ts: msg.ts, quality: (msg.quality || {})[k] || "valid" };
    state.unassigned.set(msg.source, u);
    return;
  }
  const bed = bedEntry(msg.bed);
  if (bed.since !== null && msg.ts < bed.since) return; // the previous patient's (a monitor's late backlog)
  for (const [vital, value] of Object.entries(msg.vitals)) {
    const quality = (msg.quality || {})[vital] || "valid";
    const prev = bed.vitals[vital];
    if (!prev || msg.ts >= prev.ts) bed.vitals[vital] = { value, ts: msg.ts, quality };
    if (quality === "valid") appendPoint(bed.trend[vital] || (bed.trend[vital] = []), msg.ts, value, msg.ts - SPARK_S);
  }
  if (msg.vitals.sbp != null && bed.session?.protocol) schedules.stale(bed.session.id); // a checkpoint may be met
  dirty.add(bed.id);
}

function applySession(msg) {
  const s = msg.session;
  const bed = bedEntry(s.bed);
  const open = !["discharged", "aborted"].includes(s.phase);
  const before = bed.session;
  bed.session = open ? s : null;
  if (!before || before.id !== s.id) cutBefore(bed, s.started); // a new patient: nothing of the previous one
  else if (!open) cutBefore(bed, msg.ts); // the patient left the chair
  if (msg.limits) bed.limits = msg.limits;
  else refreshLimits(bed);
  state.discharge.delete(s.id);
  schedules.stale(s.id);
  dirty.add(bed.id);
}

async function refreshLimits(bed) {
  try {
    const b = await getJSON(`/api/beds/${encodeURIComponent(bed.id)}/limits`);
    bed.limits = b.limits || {};
    dirty.add(bed.id);
    scheduleRender();
  } catch (e) { /* the limits stay as they were; the alarms themselves carry their limit */ }
}

function apply(msg) {
  if (watch.apply(msg) && msg.type === "alarm") {
    if (msg.alarm.bed) dirty.add(msg.alarm.bed);
    else everything = true; // an unassigned monitor's alarm: its card in the Monitors panel
  }
  switch (msg.type) {
    case "snapshot": applySnapshot(msg); break;
    case "batch": msg.messages.forEach(apply); break;
    case "reading": applyReading(msg); break;
    case "session": applySession(msg); break;
    case "device": if (msg.bed) { bedEntry(msg.bed).device = msg; dirty.add(msg.bed); } break;
    case "association": monitorsMessage(msg, state.unassigned); everything = true; break;
  }
}

// -- tiles -------------------------------------------------------------------------------
const TILE = `
  <header><a class="name"></a><span class="phase"></span><span class="esc" hidden>ESCALATED</span></header>
  <div class="meta"><span class="patient"></span><span class="elapsed"></span></div>
  <div class="protocol" hidden></div>
  <div class="top-alarm" hidden><span class="text"></span> <span class="more"></span></div>
  <div class="numerics">
    <div class="num hr" data-vital="hr"><div class="label">HR <span class="unit">bpm</span> <span class="limits"></span></div><div class="value">—</div><div class="age"></div><canvas></canvas></div>
    <div class="num spo2" data-vital="spo2"><div class="label">SpO₂ <span class="unit">%</span> <span class="limits"></span></div><div class="value">—</div><div class="age"></div><canvas></canvas></div>
    <div class="num bp" data-vital="sbp"><div class="label">NIBP <span class="unit">mmHg</span> <span class="limits"></span></div><div class="value">—</div><div class="age"></div><canvas></canvas></div>
  </div>
  <div class="nibp" hidden></div>
  <div class="due" hidden></div>
  <div class="discharge" hidden></div>`;

function makeTile(bed) {
  const tile = document.createElement("article");
  tile.className = "tile";
  tile.dataset.bed = bed.id;
  tile.tabIndex = 0; // the whole tile opens the bed page, by click or by Enter
  tile.innerHTML = TILE;
  tile.querySelector("a.name").href = `/beds/${encodeURIComponent(bed.id)}`;
  const q = (s) => tile.querySelector(s);
  const box = (cls) => {
    const b = q(`.num.${cls}`);
    return { box: b, label: b.querySelector(".label"), value: b.querySelector(".value"), age: b.querySelector(".age"), limits: b.querySelector(".limits"), canvas: b.querySelector("canvas") };
  };
  bed.parts = {
    name: q("a.name"), phase: q(".phase"), esc: q(".esc"), patient: q(".patient"), elapsed: q(".elapsed"),
    protocol: q(".protocol"), top: q(".top-alarm"), topText: q(".top-alarm .text"), more: q(".top-alarm .more"),
    hr: box("hr"), spo2: box("spo2"), bp: box("bp"), nibp: q(".nibp"), due: q(".due"), discharge: q(".discharge"),
    sparkDrawn: 0,
  };
  return tile;
}

function freshness(vital) { return state.freshness[vital] || 10; }

function setNumeric(p, items, now, text, extra) {
  const v = items[0];
  if (!v) {
    setText(p.value, "—");
    setText(p.age, "no data");
    setClass(p.box, "nodata", true);
    setClass(p.box, "stale", false);
    setClass(p.box, "doubtful", false);
    return;
  }
  setClass(p.box, "nodata", false);
  const age = now - v.ts;
  const stale = age > freshness(p.box.dataset.vital) || !live.current;
  const doubtful = items.some((i) => i.quality !== "valid");
  setClass(p.box, "stale", stale);
  setClass(p.box, "doubtful", doubtful && !stale);
  setText(p.value, text);
  setText(p.age, (stale ? "STALE · " : doubtful ? "doubtful reading · " : "") + (extra || "") + fmtAge(age) + " ago");
}

function limitsText(l) {
  if (!l) return "";
  return [l.low != null ? `↓${l.low}` : "", l.high != null ? `↑${l.high}` : ""].filter(Boolean).join(" ");
}

/** The session's lines: drug or protocol, dose so far and rate, infusion elapsed and remaining, recovery timer. */
function sessionLines(s, now, schedule) {
  if (!s) return { elapsed: "", protocol: "" };
  const infusion = s.infusion_started;
  const recovery = (s.phases || []).find((p) => p.phase === "recovery")?.ts ?? null;
  let elapsed = "";
  if (s.phase === "baseline") elapsed = `baseline ${fmtTimer(now - s.started)}`;
  else if (s.phase === "infusion" && infusion) elapsed = `infusion ${fmtTimer(now - infusion)}`;
  else if (s.phase === "recovery" && recovery) elapsed = `recovery ${fmtTimer(now - recovery)}`;
  const parts = [];
  const drug = schedule?.protocol_name || null;
  if (drug) parts.push(drug);
  const rate = s.rate_mg_per_h;
  if (infusion && rate) {
    const runS = Math.max(0, (recovery ?? now) - infusion);
    let given = (rate * runS) / 3600;
    if (s.dose_mg != null) given = Math.min(given, s.dose_mg);
    parts.push(`${given.toFixed(1)}${s.dose_mg != null ? ` of ${s.dose_mg}` : ""} mg · ${rate} mg/h`);
    if (s.phase === "infusion" && s.dose_mg != null) parts.push(`${fmtTimer(Math.max(0, (s.dose_mg / rate) * 3600 - runS))} left`);
  } else if (s.dose_mg != null) {
    parts.push(`dose ${s.dose_mg} mg${rate ? ` · ${rate} mg/h` : ""}`);
  }
  return { elapsed, protocol: parts.join(" · ") };
}

function nibpLine(bed, now, schedule) {
  const s = bed.session;
  if (schedule) return dueLines(schedule, now).nibp; // the protocol's cycle and checkpoints
  const cycle = s ? state.nibpCycle[s.phase] : null;
  if (!cycle) return "";
  const sbp = bed.vitals.sbp;
  const phaseStart = (s.phases || []).filter((p) => p.phase === s.phase).map((p) => p.ts)[0] ?? s.started;
  const next = Math.max(sbp ? sbp.ts : -Infinity, phaseStart) + cycle - now;
  return `NIBP every ${Math.round(cycle / 60)} min · ` + (next >= 0 ? `next in ${fmtTimer(next)}` : `overdue ${fmtTimer(-next)}`);
}

function renderTile(bed, now, mine, drawSparks) {
  if (!bed.tile) bed.tile = makeTile(bed);
  const t = bed.tile, p = bed.parts;
  setText(p.name, bed.label || bed.id);
  setAttr(t, "aria-label", `${bed.label || bed.id}: open the bed page`);
  const s = bed.session;
  setText(p.phase, s ? s.phase : "no session");
  setAttr(p.phase, "class", "phase " + (s ? s.phase : "none"));
  setText(p.patient, s ? s.patient_ref : "");
  const schedule = s?.protocol ? schedules.get(s.id) : null;
  const lines = sessionLines(s, now, schedule);
  setText(p.elapsed, lines.elapsed);
  setHidden(p.protocol, !lines.protocol);
  setText(p.protocol, lines.protocol);

  // The headline is the most urgent current alarm; latched (resolved) ones come after every current one.
  const top = mine[0];
  for (const pr of ["high", "medium", "low"]) setClass(t, "alarm-" + pr, !!top && top.priority === pr);
  setAttr(t, "data-alarm", top ? top.priority : "");
  // Flashing stops once every alarm of the top priority has been seen (acknowledged or silenced).
  setClass(t, "seen", !!top && mine.filter((a) => a.priority === top.priority).every((a) => a.state !== "active"));
  setClass(t, "technical", !!top && top.kind !== "physiological");
  setHidden(p.esc, !mine.some((a) => a.escalated && a.state !== "resolved"));
  setHidden(p.top, !top);
  if (top) {
    const value = alarmValue(top);
    const flags = alarmFlags(top);
    if (top.state === "resolved") flags.push("resolved, not acknowledged");
    setText(p.topText, `${PREFIX[top.priority]} ${top.kind !== "physiological" ? "TECH: " : ""}${top.message}` +
      (value ? ` · ${value}` : "") + (flags.length ? ` (${flags.join(", ")})` : ""));
    setText(p.more, mine.length > 1 ? `+${mine.length - 1} more` : "");
    setAttr(p.top, "class", `top-alarm ${top.priority} ${top.kind}${top.doubtful ? " doubtful" : ""}`);
  }

  const hrKey = bed.vitals.hr && now - bed.vitals.hr.ts < 30 ? "hr" : bed.vitals.pr ? "pr" : "hr";
  p.hr.box.dataset.vital = hrKey;
  setText(p.hr.label.firstChild, hrKey === "hr" ? "HR " : "PR ");
  const hr = bed.vitals[hrKey];
  setNumeric(p.hr, hr ? [hr] : [], now, hr ? String(Math.round(hr.value)) : "—");
  setText(p.hr.limits, limitsText(bed.limits.hr));
  const spo2 = bed.vitals.spo2;
  setNumeric(p.spo2, spo2 ? [spo2] : [], now, spo2 ? String(Math.round(spo2.value)) : "—");
  setText(p.spo2.limits, limitsText(bed.limits.spo2));
  const [sbp, dbp, map] = ["sbp", "dbp", "map"].map((k) => bed.vitals[k]);
  const bpText = sbp ? `${Math.round(sbp.value)}/${dbp ? Math.round(dbp.value) : "?"}` + (map ? ` (${Math.round(map.value)})` : "") : "—";
  setNumeric(p.bp, sbp ? [sbp, dbp, map].filter(Boolean) : [], now, bpText, "");
  setText(p.bp.limits, limitsText(bed.limits.sbp));
  const nibp = nibpLine(bed, now, schedule);
  setHidden(p.nibp, !nibp);
  setText(p.nibp, nibp);
  setClass(p.nibp, "overdue", nibp.includes("overdue"));
  const due = dueLines(schedule, now);
  const dueText = [due.assessment, due.end].filter(Boolean).join(" · ");
  setHidden(p.due, !dueText);
  setText(p.due, dueText);
  setClass(p.due, "overrun", due.overrun);

  if (drawSparks) {
    // The window grows with the data up to 30 min, so a new chair's line is visible at once.
    const first = Math.min(...["hr", "pr", "spo2"].map((k) => (bed.trend[k] || [])[0]?.[0] ?? now));
    const spanS = Math.min(SPARK_S, Math.max(120, now - first));
    const spark = (part, keys, opts) => drawSpark(part.canvas, keys.map((k) => bed.trend[k] || []), {
      now, spanS, colors: keys.map((k) => COLORS[k]), ...opts });
    spark(p.hr, [hrKey], { floor: 20 });
    spark(p.spo2, ["spo2"], { floor: 6, limits: bed.limits.spo2?.low != null ? [bed.limits.spo2.low] : [90] });
    spark(p.bp, ["sbp", "dbp"], { floor: 30, gapS: 1200 });
  }

  const ready = s && s.phase === "recovery" ? state.discharge.get(s.id) : null;
  setHidden(p.discharge, !(s && s.phase === "recovery"));
  if (s && s.phase === "recovery") {
    if (!ready || now - ready.fetched > 30) fetchDischarge(s.id, now);
    setClass(p.discharge, "ready", !!ready && ready.ready);
    setText(p.discharge, !ready || !ready.reasons ? "Discharge readiness: checking…" : ready.ready
      ? "✓ Discharge criteria met (advisory: confirm escort)"
      : "Discharge: not yet — " + ready.reasons.join("; "));
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

function renderUnassigned(now, alarms) {
  monitorsPanel(byId("unassigned"), state.unassigned, alarms, now);
}

let lastFull = 0;
function render() {
  const now = serverNow();
  const alarms = watch.list();
  watch.render(now, live.current, alarms); // first: nothing below may keep an alarm off the screen
  const full = everything;
  const sparks = full || now - lastFull >= 1; // canvases: at most once a second per tile, plus new data
  if (full) lastFull = now;
  const byBed = new Map();
  for (const a of alarms) if (a.bed) (byBed.get(a.bed) || byBed.set(a.bed, []).get(a.bed)).push(a);
  const beds = full ? [...state.beds.values()] : [...dirty].map((id) => state.beds.get(id)).filter(Boolean);
  let added = false;
  for (const bed of beds) {
    added ||= !bed.tile;
    try {
      renderTile(bed, now, byBed.get(bed.id) || [], sparks || !bed.parts);
      setClass(bed.tile, "broken", false);
    } catch (e) {
      // One tile that cannot be drawn must not stop the others; it says so instead of showing old values.
      console.error("tile", bed.id, e);
      if (bed.tile) setClass(bed.tile, "broken", true);
    }
  }
  dirty.clear();
  everything = false;
  if (added || full) {
    const tiles = byId("tiles");
    const order = bedOrder([...state.beds.values()]).map((b) => b.tile).filter(Boolean);
    let at = tiles.firstChild;
    for (const tile of order) { if (tile !== at) tiles.insertBefore(tile, at); else at = at.nextSibling; }
    layoutWall(tiles, order.length);
  }
  if (full) {
    renderUnassigned(now, alarms);
    setText(byId("clock"), new Date().toLocaleTimeString());
  }
}

let pending = false;
function scheduleRender() {
  // An alarm shows at the next animation frame, not at the next one-second tick.
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; render(); });
}

function openBed(ev) {
  const tile = ev.target.closest(".tile");
  if (!tile || ev.target.closest("a, button, input")) return;
  if (ev.type === "keydown" && ev.key !== "Enter") return;
  location.href = `/beds/${encodeURIComponent(tile.dataset.bed)}`;
}

async function init() {
  await whoAmI();
  watch = new AlarmWatch(() => { everything = true; scheduleRender(); });
  state.alarms = watch.alarms;
  setWall(wallWanted());
  byId("wall").onclick = () => { setWall(!document.body.classList.contains("wall")); everything = true; scheduleRender(); };
  const relayout = () => layoutWall(byId("tiles"), state.beds.size);
  new ResizeObserver(relayout).observe(byId("alarmbar"));
  window.addEventListener("resize", relayout);
  const tiles = byId("tiles");
  tiles.addEventListener("click", openBed);
  tiles.addEventListener("keydown", openBed);
  live = new LiveConnection((msg) => { apply(msg); scheduleRender(); }, () => scheduleRender());
  live.connect();
  window.ivmon = { state, live, watch, audio: watch.audio }; // for the browser tests and for debugging at the bedside
  setInterval(() => { everything = true; scheduleRender(); }, 1000);
  everything = true;
  render();
}

init();
