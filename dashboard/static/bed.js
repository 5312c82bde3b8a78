// One bed: larger zoomable trends of the current session, its alarm history, session controls, notes.
"use strict";

import { AlarmWatch } from "./alarmwatch.js";
import { appendPoint, TrendChart } from "./chart.js";
import {
  byId, el, errorText, fmtClock, getJSON, LiveConnection, post, PREFIX, send, serverNow, whoAmI,
} from "./common.js";
import { setText } from "./dom.js";
import { alarmFlags, alarmState, alarmValue, fmtAge, VITAL_NAME, withUnit } from "./format.js";

const bedId = decodeURIComponent(location.pathname.split("/").pop());
const page = { bed: null, session: null, alarms: new Map(), latest: {} };
const chart = new TrendChart(byId("trend"), [
  { title: "HR / PR", unit: "bpm", series: [{ key: "hr", color: "#3fb950", label: "HR" }, { key: "pr", color: "#8ddb8c", label: "PR" }], floor: 20 },
  { title: "SpO₂", unit: "%", series: [{ key: "spo2", color: "#58a6ff", label: "SpO₂" }], floor: 6, max: 100 },
  { title: "NIBP", unit: "mmHg", series: [{ key: "sbp", color: "#f0883e", label: "sys" }, { key: "dbp", color: "#7ee0ff", label: "dia" }, { key: "map", color: "#d2a8ff", label: "map" }], floor: 30, gapS: 1200 },
]);
let range = "session";
let live = null;
let watch = null;

function say(text) { byId("control-msg").textContent = text; }

async function loadTrend() {
  const gen = page.gen;
  const now = serverNow();
  // The session view starts with this patient's session; no other view reaches back before the chair's
  // last session change (no previous patient's data on this patient's chart).
  const since = page.session ? page.session.started : page.bed?.since ?? -Infinity;
  const wanted = range === "session" && page.session ? page.session.started : now - (range === "session" ? 3600 : Number(range));
  const from = Math.max(wanted, since);
  const minutes = Math.min(24 * 60, Math.ceil((now - from) / 60) + 1);
  const t = await getJSON(`/api/beds/${encodeURIComponent(bedId)}/trend?minutes=${minutes}`);
  if (gen !== page.gen) return; // a newer load (a session started or ended meanwhile) draws instead
  for (const pts of Object.values(t.vitals)) appendPoint(pts, -Infinity, 0, from);
  chart.data = t.vitals;
  chart.setExtent(from, now);
  chart.view = null;
  markers();
  chart.draw();
}

function markers() {
  const s = page.session;
  chart.markers = [];
  if (s) for (const p of s.phases) chart.markers.push({ ts: p.ts, label: p.phase, color: "#9ecbff" });
  chart.points = [];
  for (const a of page.alarms.values()) {
    chart.markers.push({ ts: a.started, label: PREFIX[a.priority], color: a.priority === "high" ? "#e5242f" : a.priority === "medium" ? "#f5c400" : "#22c7db" });
    // The reading that raised a doubtful alarm is marked on its curve.
    if (a.doubtful && a.vital && a.value != null) chart.points.push({ ts: a.started, key: a.vital, value: a.value, label: "? doubtful" });
  }
}

async function loadSession() {
  const gen = page.gen = (page.gen || 0) + 1;
  const beds = await getJSON("/api/beds");
  if (gen !== page.gen) return; // an older answer must not undo a newer one
  page.bed = beds.beds.find((b) => b.id === bedId) || { id: bedId, label: bedId, session: null, vitals: {} };
  if (page.session?.id !== page.bed.session?.id) { // a new session starts clean
    for (const id of ["abort-reason", "escort-relation", "escort-name", "discharge-reason", "decided-by"]) byId(id).value = "";
    byId("escort").checked = false;
    page.ready = false;
  }
  page.session = page.bed.session;
  document.dispatchEvent(new CustomEvent("ivmon:session", { detail: page.session })); // treatment.js follows it
  page.since = page.session ? page.session.started : page.bed.since ?? null;
  page.latest = {};
  byId("bedname").textContent = page.bed.label || bedId;
  document.title = `ivmon · ${page.bed.label || bedId}`;
  for (const [k, v] of Object.entries(page.bed.vitals)) if (page.since == null || v.ts >= page.since) page.latest[k] = v;
  const s = page.session;
  byId("session-line").textContent = s ? `${s.patient_ref} · ${s.phase}` + (s.infusion_started ? ` · infusion started ${fmtClock(s.infusion_started)}` : "") : "no open session";
  byId("start").hidden = !!s;
  byId("phase-controls").hidden = !s;
  byId("note").hidden = !s;
  if (s) {
    byId("to-infusion").hidden = s.phase !== "baseline";
    byId("to-recovery").hidden = s.phase !== "infusion";
    byId("to-discharged").hidden = byId("escort-box").hidden = s.phase !== "recovery";
    const detail = await getJSON(`/api/sessions/${s.id}`);
    const notes = byId("notes");
    notes.replaceChildren(...(detail.notes || []).slice().reverse().map((n) => el("li", "", `${fmtClock(n.ts)} ${n.user}: ${n.text}`)));
    await Promise.all([loadAlarms(), loadRules(), loadDischarge()]);
  } else {
    byId("notes").replaceChildren();
    byId("alarms").tBodies[0].replaceChildren();
    byId("rules").tBodies[0].replaceChildren();
    byId("discharge").textContent = "";
    byId("rules-summary").textContent = "";
  }
  await loadTrend();
}

async function loadAlarms() {
  if (!page.session) return;
  const list = await getJSON(`/api/sessions/${page.session.id}/alarm-history`);
  page.alarms = new Map(list.map((a) => [a.id, a]));
  renderAlarms();
}

function renderAlarms() {
  const body = byId("alarms").tBodies[0];
  body.replaceChildren();
  for (const a of [...page.alarms.values()].sort((x, y) => y.started - x.started)) {
    const tr = el("tr", `${a.priority} ${a.kind}`);
    tr.dataset.alarm = a.id;
    const hist = (a.history || []).map((h) => `${fmtClock(h.ts)} ${h.transition}${h.user ? " (" + h.user + ")" : ""}`).join(", ");
    const flags = alarmFlags(a);
    tr.append(el("td", "", fmtClock(a.started)), el("td", "", `${PREFIX[a.priority]} ${a.priority}`),
      el("td", "", (a.kind !== "physiological" ? "TECH: " : "") + a.message + (flags.length ? ` (${flags.join(", ")})` : "")),
      el("td", "", a.worst != null ? withUnit(a.vital, a.worst) : alarmValue(a)),
      el("td", "", a.filed ? `ended with the session (${a.filed_by || ""})` : alarmState(a)), el("td", "", hist));
    body.append(tr);
  }
  markers();
  chart.draw();
}

async function loadRules() {
  const r = await getJSON(`/api/sessions/${page.session.id}/rules`);
  page.rules = r.rules;
  // Clinicians and admins may tighten or loosen a session's limits; the always-on rules stay as they are.
  const editable = page.me.role !== "nurse";
  byId("rule-edit").hidden = !editable;
  byId("rules-summary").textContent = (r.override ? "Session override in force. " : "Clinic rules. ") +
    r.inactive.map((i) => `${i.rule}: inactive (${i.reason})`).join("; ");
  const body = byId("rules").tBodies[0];
  body.replaceChildren(...r.rules.map((x) => {
    const tr = el("tr");
    tr.dataset.rule = x.id;
    const fixed = x.phases.includes("unassigned");
    const key = x.limit != null ? "limit" : x.baseline_delta != null ? "baseline_delta" : "baseline_ratio";
    const shown = key === "limit" ? "" : key === "baseline_delta" ? "baseline + " : "baseline × ";
    const cell = el("td", "", `${x.vital} ${x.op} ${shown}`);
    if (editable && !fixed) {
      const input = el("input", "limit");
      input.type = "number";
      input.step = "any";
      input.value = x[key];
      input.dataset.key = key;
      input.size = 5;
      cell.append(input);
    } else {
      cell.append(String(x[key]));
    }
    tr.append(el("td", "", x.id), cell, el("td", "", x.priority), el("td", "", x.delay_s ? `${x.delay_s} s` : ""));
    return tr;
  }));
}

async function saveRules() {
  const rules = page.rules.map((x) => {
    const input = document.querySelector(`#rules tr[data-rule="${CSS.escape(x.id)}"] input.limit`);
    return input ? { ...x, [input.dataset.key]: Number(input.value) } : x;
  });
  const res = await send("PUT", `/api/sessions/${page.session.id}/rules`, { rules });
  say(res.ok ? "session limits saved" : await errorText(res));
  await loadRules();
}

async function resetRules() {
  const res = await send("DELETE", `/api/sessions/${page.session.id}/rules`);
  say(res.ok ? "back to the clinic rules" : await errorText(res));
  await loadRules();
}

async function loadDischarge() {
  const s = page.session;
  if (!s || s.phase !== "recovery") { byId("discharge").textContent = ""; return; }
  const d = await getJSON(`/api/sessions/${s.id}/discharge`);
  page.ready = d.ready;
  byId("discharge-override").hidden = d.ready;
  byId("discharge").textContent = d.ready ? "✓ Discharge criteria met (advisory: confirm the escort)."
    : "Discharge criteria not yet met: " + d.reasons.join("; ") + " (advisory)";
}

async function phase(to, extra) {
  const res = await post(`/api/sessions/${page.session.id}/phase`, { phase: to, ...extra });
  if (!res.ok) {
    say(await errorText(res));
    if (to === "discharged") { byId("discharge-override").hidden = false; loadDischarge(); } // criteria may have changed
    return;
  }
  say(`${to} recorded`);
  await loadSession();
}

/** "HR 72 bpm · 3 s ago", "SYS 150 mmHg · 2 min ago": every number with its unit and age. */
function renderNow() {
  const now = serverNow();
  const part = (k) => {
    const v = page.latest[k];
    if (!v || (page.since != null && v.ts < page.since)) return null;
    const stale = now - v.ts > (live.freshness[k] || 10) || !live.current;
    const doubt = v.quality && v.quality !== "valid" ? " (doubtful reading)" : "";
    return `${VITAL_NAME[k]} ${withUnit(k, v.value)}${doubt} · ${stale ? "STALE " : ""}${fmtAge(now - v.ts)} ago`;
  };
  setText(byId("now"), [part("hr") || part("pr"), part("spo2"), part("sbp"), part("dbp")].filter(Boolean).join("   |   "));
  setText(byId("clock"), new Date().toLocaleTimeString());
  watch.render(now, live.current);
}

let pending = false;
function schedule() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; watch.render(serverNow(), live.current); });
}

function onMessage(msg) {
  if (msg.type === "batch") { msg.messages.forEach(onMessage); return; }
  if (msg.type === "snapshot") {
    live.freshness = msg.freshness_s || {};
    const b = msg.beds.find((x) => x.id === bedId);
    if (b) for (const [k, v] of Object.entries(b.vitals)) page.latest[k] = v;
  } else if (msg.type === "reading" && msg.bed === bedId && !(page.since != null && msg.ts < page.since)) {
    for (const [k, v] of Object.entries(msg.vitals)) {
      const quality = (msg.quality || {})[k] || "valid";
      page.latest[k] = { value: v, ts: msg.ts, quality };
      if (quality === "valid") appendPoint(chart.data[k] || (chart.data[k] = []), msg.ts, v, 0);
    }
    if (!chart.view) chart.setExtent(chart.extent[0], Math.max(chart.extent[1], msg.ts));
  } else if (msg.type === "alarm" && msg.alarm.bed === bedId) {
    const a = msg.alarm;
    if (page.session && a.session === page.session.id) {
      page.alarms.set(a.id, { ...a, history: page.alarms.get(a.id)?.history || [] });
      renderAlarms();
      clearTimeout(page.reload);
      page.reload = setTimeout(loadAlarms, 500); // the stored history, once the writer has committed it
    }
  } else if ((msg.type === "session" && msg.session.bed === bedId) || (msg.type === "note" && msg.bed === bedId)) {
    loadSession();
  }
}

async function init() {
  page.me = await whoAmI();
  byId("rules-save").onclick = saveRules;
  byId("rules-reset").onclick = resetRules;
  byId("start").onsubmit = async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const num = (n) => (f[n].value === "" ? null : Number(f[n].value));
    // Only the dose fields the protocol takes are sent (bedschedule.js shows them); the server does the arithmetic.
    const shown = (n) => (f[n].closest("label").hidden ? null : num(n));
    const res = await post("/api/sessions", {
      bed: bedId, patient_ref: f.patient_ref.value, weight_kg: num("weight_kg"), protocol: f.protocol.value || undefined,
      dose_mg_per_kg: shown("dose_mg_per_kg"), infusion_min: shown("infusion_min"), dose_mg: shown("dose_mg"),
      rate_mg_per_h: shown("rate_mg_per_h"), device: f.device ? f.device.value || undefined : undefined,
    });
    if (!res.ok) { say(await errorText(res)); return; }
    say("session started (baseline)");
    f.reset();
    await loadSession();
  };
  byId("to-infusion").onclick = () => phase("infusion");
  byId("to-recovery").onclick = () => phase("recovery");
  byId("to-discharged").onclick = () => {
    if (!byId("escort").checked) { say("Tick 'Escort present' first: the clinic requires a driver home."); return; }
    const relation = byId("escort-relation").value.trim();
    if (!relation) { say("Enter the escort's relation to the patient (e.g. partner, friend)."); return; }
    const extra = { escort_confirmed: true, escort_relation: relation, escort_name: byId("escort-name").value.trim() || null };
    if (!page.ready) {
      // Criteria not met: the nurse may still discharge, saying why and who decided (audited).
      byId("discharge-override").hidden = false;
      extra.discharge_reason = byId("discharge-reason").value.trim();
      extra.decided_by = byId("decided-by").value.trim();
      if (!extra.discharge_reason || !extra.decided_by) {
        say("Discharge criteria not met: give the reason for discharging now and who decided."); return;
      }
    }
    phase("discharged", extra);
  };
  byId("to-aborted").onclick = () => {
    const reason = byId("abort-reason").value.trim();
    if (!reason) { say("Aborting needs a reason."); return; }
    if (confirm("Abort this session?")) phase("aborted", { reason });
  };
  byId("note").onsubmit = async (ev) => {
    ev.preventDefault();
    const res = await post(`/api/sessions/${page.session.id}/notes`, { text: ev.target.text.value });
    if (!res.ok) { say(await errorText(res)); return; }
    ev.target.reset();
  };
  for (const b of document.querySelectorAll("[data-range]")) b.onclick = () => { range = b.dataset.range; loadTrend(); };
  watch = new AlarmWatch(schedule);
  live = new LiveConnection((msg) => { watch.apply(msg); onMessage(msg); schedule(); }, schedule);
  window.ivmon = { page, live, watch, audio: watch.audio, chart };
  live.freshness = {};
  live.connect();
  await loadSession();
  setInterval(() => { renderNow(); if (!chart.view) chart.draw(); }, 1000);
  setInterval(() => { if (page.session?.phase === "recovery") loadDischarge(); }, 30000);
  renderNow();
}

init();
