// One bed: larger zoomable trends of the current session, its alarm history, session controls, notes.
"use strict";

import { appendPoint, TrendChart } from "./chart.js";
import {
  byId, el, errorText, fmtAge, fmtClock, getJSON, LiveConnection, post, PREFIX, send, serverNow, whoAmI,
} from "./common.js";

const bedId = decodeURIComponent(location.pathname.split("/").pop());
const page = { bed: null, session: null, alarms: new Map(), latest: {} };
const chart = new TrendChart(byId("trend"), [
  { title: "HR / PR (bpm)", series: [{ key: "hr", color: "#3fb950" }, { key: "pr", color: "#8ddb8c" }], floor: 20 },
  { title: "SpO₂ (%)", series: [{ key: "spo2", color: "#58a6ff" }], floor: 6 },
  { title: "NIBP sys / dia / map (mmHg)", series: [{ key: "sbp", color: "#f0883e" }, { key: "dbp", color: "#ffa657" }, { key: "map", color: "#d2a8ff" }], floor: 30, gapS: 1200 },
]);
let range = "session";
let live = null;

function say(text) { byId("control-msg").textContent = text; }

async function loadTrend() {
  const now = serverNow();
  const from = range === "session" && page.session ? page.session.started - 60 : now - (range === "session" ? 3600 : Number(range));
  const minutes = Math.min(24 * 60, Math.ceil((now - from) / 60) + 1);
  const t = await getJSON(`/api/beds/${encodeURIComponent(bedId)}/trend?minutes=${minutes}`);
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
  for (const a of page.alarms.values()) {
    chart.markers.push({ ts: a.started, label: PREFIX[a.priority], color: a.priority === "high" ? "#e5242f" : a.priority === "medium" ? "#f5c400" : "#22c7db" });
  }
}

async function loadSession() {
  const beds = await getJSON("/api/beds");
  page.bed = beds.beds.find((b) => b.id === bedId) || { id: bedId, label: bedId, session: null, vitals: {} };
  page.session = page.bed.session;
  byId("bedname").textContent = page.bed.label || bedId;
  document.title = `ivmon · ${page.bed.label || bedId}`;
  for (const [k, v] of Object.entries(page.bed.vitals)) page.latest[k] = v;
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
    tr.append(el("td", "", fmtClock(a.started)), el("td", "", `${PREFIX[a.priority]} ${a.priority}`),
      el("td", "", (a.kind !== "physiological" ? "TECH: " : "") + a.message), el("td", "", a.worst != null ? String(Math.round(a.worst)) : ""),
      el("td", "", a.state), el("td", "", hist));
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
  byId("discharge").textContent = d.ready ? "✓ Discharge criteria met (advisory: confirm the escort)."
    : "Discharge criteria not yet met: " + d.reasons.join("; ") + " (advisory)";
}

async function phase(to, extra) {
  const res = await post(`/api/sessions/${page.session.id}/phase`, { phase: to, ...extra });
  if (!res.ok) { say(await errorText(res)); return; }
  say(`${to} recorded`);
  await loadSession();
}

function renderNow() {
  const now = serverNow();
  const part = (k, label) => {
    const v = page.latest[k];
    if (!v) return null;
    const stale = now - v.ts > (live.freshness[k] || 10) || !live.current;
    return `${label} ${Math.round(v.value)}${stale ? ` (STALE ${fmtAge(now - v.ts)})` : ""}`;
  };
  byId("now").textContent = [part("hr", "HR") || part("pr", "PR"), part("spo2", "SpO₂"), part("sbp", "SYS"), part("dbp", "DIA")].filter(Boolean).join("  ·  ");
  byId("banner").hidden = live.current;
  document.body.classList.toggle("disconnected", !live.current);
  byId("clock").textContent = new Date().toLocaleTimeString();
}

function onMessage(msg) {
  if (msg.type === "batch") { msg.messages.forEach(onMessage); return; }
  if (msg.type === "snapshot") {
    live.freshness = msg.freshness_s || {};
    const b = msg.beds.find((x) => x.id === bedId);
    if (b) for (const [k, v] of Object.entries(b.vitals)) page.latest[k] = v;
  } else if (msg.type === "reading" && msg.bed === bedId) {
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
    const res = await post("/api/sessions", { bed: bedId, patient_ref: f.patient_ref.value, weight_kg: num("weight_kg"), dose_mg: num("dose_mg"), rate_mg_per_h: num("rate_mg_per_h"), device: f.device ? f.device.value || undefined : undefined });
    if (!res.ok) { say(await errorText(res)); return; }
    say("session started (baseline)");
    f.reset();
    await loadSession();
  };
  byId("to-infusion").onclick = () => phase("infusion");
  byId("to-recovery").onclick = () => phase("recovery");
  byId("to-discharged").onclick = () => {
    if (!byId("escort").checked) { say("Tick 'Escort present' first: the clinic requires a driver home."); return; }
    phase("discharged", { escort_confirmed: true });
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
  live = new LiveConnection(onMessage, () => {});
  live.freshness = {};
  live.connect();
  await loadSession();
  setInterval(() => { renderNow(); if (!chart.view) chart.draw(); }, 1000);
  setInterval(() => { if (page.session?.phase === "recovery") loadDischarge(); }, 30000);
  renderNow();
}

init();
