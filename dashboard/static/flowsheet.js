// The flowsheet: the session's draft chart for the EHR, validated row by row by the nurse.
// Self-contained: it finds its session from the page's address (/beds/ID: the bed's open session;
// /sessions/ID: that session), fills <section id="flowsheet"> and refreshes every 10 s. It never
// rebuilds under a pressed pointer or an open edit, so a click always lands on the row it aimed at.
"use strict";

import { byId, el, errorText, getJSON, post } from "./common.js";

const VITALS = [["hr", "HR"], ["spo2", "SpO₂"], ["sbp", "Sys"], ["dbp", "Dia"], ["map", "Mean"]];
const LABEL = {
  draft: "draft", accepted: "pending", edited: "pending (edited)", rejected: "rejected (artefact)",
  filed: "filed", failed: "failed",
};
const REFRESH_MS = 10_000;

const root = byId("flowsheet");
const state = { session: null, rows: [], destinations: [], filter: "all", editing: null, pressed: false, renderLater: false, signature: "" };

function clock(ts) {
  return new Date(ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function say(text, bad) {
  const msg = root.querySelector(".fs-msg");
  msg.textContent = text;
  msg.classList.toggle("fs-bad", !!bad);
}

function seen(row) {
  const out = {};
  for (const [v] of VITALS) out[v] = row.values[v] ? row.values[v].value : null;
  return out;
}

async function sessionId() {
  const parts = location.pathname.split("/").filter(Boolean);
  if (parts[0] === "sessions") return Number(parts[1]);
  const beds = await getJSON("/api/beds");
  const bed = beds.beds.find((b) => b.id === decodeURIComponent(parts[1]));
  return bed && bed.session ? bed.session.id : null;
}

function shown() {
  const f = state.filter;
  if (f === "all") return state.rows;
  if (f === "pending") return state.rows.filter((r) => r.status === "accepted" || r.status === "edited");
  return state.rows.filter((r) => r.status === f);
}

function valueCell(row, vital) {
  const td = el("td", "fs-num");
  const c = row.values[vital];
  if (!c) {
    td.textContent = "—";
    td.title = "missing: no valid reading within the window";
    td.classList.add("fs-missing");
    return td;
  }
  td.textContent = Number.isInteger(c.value) ? String(c.value) : c.value.toFixed(1);
  td.title = `measured ${clock(c.ts)}` + (c.vital === "pr" ? " (pulse rate)" : "");
  if (row.original && row.original[vital] && row.original[vital].value !== c.value) {
    td.classList.add("fs-edited");
    td.title += ` · monitor: ${row.original[vital].value}`;
  }
  return td;
}

function statusCell(row) {
  const td = el("td", `fs-status fs-${row.status}`, LABEL[row.status] || row.status);
  const reasons = Object.entries(row.delivery || {}).filter(([, d]) => d.reason).map(([dest, d]) => `${dest.toUpperCase()}: ${d.reason}`);
  if (row.status === "failed" || reasons.length) {
    const why = el("div", "fs-why", reasons.join(" · "));
    td.append(why);
  }
  if (row.reason) td.title = `reason: ${row.reason}`;
  if (row.user) td.title = (td.title ? td.title + " · " : "") + `by ${row.user}`;
  return td;
}

function button(text, cls, action) {
  const b = el("button", cls, text);
  b.type = "button";
  b.addEventListener("click", action);
  return b;
}

function actionsCell(row) {
  const td = el("td", "fs-actions");
  if (row.status === "draft") {
    td.append(
      button("Accept", "fs-accept", () => act(row, { action: "accept", seen: seen(row) })),
      button("Edit", "fs-edit", () => openEdit(row)),
      button("Reject", "fs-reject", () => openReject(row)),
    );
  } else if (row.status !== "rejected") {
    td.append(button("Edit", "fs-edit", () => openEdit(row)));
  }
  return td;
}

function editRow(row, reject) {
  const tr = el("tr", "fs-form");
  tr.dataset.row = row.row;
  const td = el("td");
  td.colSpan = VITALS.length + 4;
  const form = el("form", "fs-editform");
  if (!reject) {
    for (const [v, label] of VITALS) {
      const input = el("input");
      input.type = "number";
      input.step = "any";
      input.name = v;
      input.value = row.values[v] ? row.values[v].value : "";
      input.setAttribute("aria-label", label);
      const wrap = el("label", "", label + " ");
      wrap.append(input);
      form.append(wrap);
    }
  }
  const reason = el("input");
  reason.name = "reason";
  reason.required = true;
  reason.maxLength = 500;
  reason.placeholder = reject ? "why is this an artefact?" : "reason for the change";
  form.append(reason);
  form.append(button(reject ? "Reject as artefact" : "Save edit", "fs-save", () => form.requestSubmit()));
  form.append(button("Cancel", "fs-cancel", () => { state.editing = null; render(); }));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!reason.value.trim()) { say("A reason is required.", true); return; }
    if (reject) { act(row, { action: "reject", reason: reason.value }); return; }
    const values = {};
    for (const [v] of VITALS) {
      const raw = form.elements[v].value.trim();
      const before = row.values[v] ? row.values[v].value : null;
      const now = raw === "" ? null : Number(raw);
      if (now !== before) values[v] = now;
    }
    if (!Object.keys(values).length) { say("Nothing changed.", true); return; }
    act(row, { action: "edit", values, reason: reason.value });
  });
  td.append(form);
  tr.append(td);
  return tr;
}

function openEdit(row) { state.editing = { row: row.row, reject: false }; render(); }
function openReject(row) { state.editing = { row: row.row, reject: true }; render(); }

async function act(row, body) {
  const res = await post(`/api/sessions/${state.session}/chart/${row.row}`, body);
  if (!res.ok) { say(await errorText(res), true); await load(true); return; }
  state.editing = null;
  say(`${clock(row.ts)}: ${body.action === "accept" ? "accepted" : body.action === "edit" ? "edited" : "rejected"}`);
  await load(true);
}

async function acceptAll() {
  const rows = shown().filter((r) => r.status === "draft");
  if (!rows.length) { say("No draft rows shown."); return; }
  const res = await post(`/api/sessions/${state.session}/chart/accept-all`, { rows: rows.map((r) => ({ row: r.row, seen: seen(r) })) });
  if (!res.ok) { say(await errorText(res), true); return; }
  const out = await res.json();
  say(`${out.accepted.length} row(s) accepted` + (out.skipped.length ? `, ${out.skipped.length} changed meanwhile: review them again` : ""), out.skipped.length > 0);
  await load(true);
}

function summary() {
  const n = (s) => state.rows.filter((r) => s.includes(r.status)).length;
  const where = state.destinations.length ? state.destinations.map((d) => d.toUpperCase()).join(" + ") : "no EHR configured";
  return `${n(["filed"])} filed · ${n(["accepted", "edited"])} pending · ${n(["failed"])} failed · ${n(["draft"])} to validate · to ${where}`;
}

function render() {
  // Never rebuild under a pressed pointer (any caller): the press would lose its button. Done on release.
  if (state.pressed) { state.renderLater = true; return; }
  state.renderLater = false;
  const table = root.querySelector("table");
  const body = el("tbody");
  for (const row of shown().slice().reverse()) {
    const tr = el("tr", `fs-row fs-${row.status}`);
    tr.dataset.row = row.row;
    tr.append(el("td", "", clock(row.ts)), el("td", "", row.phase + (row.kind.includes("nibp") ? " · NIBP" : "")));
    for (const [v] of VITALS) tr.append(valueCell(row, v));
    tr.append(statusCell(row), actionsCell(row));
    body.append(tr);
    if (state.editing && state.editing.row === row.row) body.append(editRow(row, state.editing.reject));
  }
  table.tBodies[0].replaceWith(body);
  root.querySelector(".fs-summary").textContent = summary();
  const failed = state.rows.some((r) => r.status === "failed");
  root.querySelector(".fs-notice").hidden = !failed;
}

async function load(force) {
  if (!state.session) return;
  if (!force && (state.pressed || state.editing)) return;
  try {
    const chart = await getJSON(`/api/sessions/${state.session}/chart`);
    state.destinations = chart.destinations;
    const signature = JSON.stringify(chart.rows);
    if (!force && signature === state.signature) return;
    // A press may have begun while the rows were fetched: rebuilding now would lose it (next refresh).
    if (!force && (state.pressed || state.editing)) return;
    state.signature = signature;
    state.rows = chart.rows;
    render();
  } catch (e) {
    say(`Flowsheet not updated: ${e.message}`, true);
  }
}

function build() {
  const css = el("link");
  css.rel = "stylesheet";
  css.href = "/static/flowsheet.css";
  document.head.append(css);
  const head = el("div", "fs-head");
  head.append(el("h2", "", "Flowsheet (EHR charting)"));
  const filter = el("select", "fs-filter");
  filter.setAttribute("aria-label", "show rows");
  for (const [value, text] of [["all", "all rows"], ["draft", "to validate"], ["pending", "pending"], ["failed", "failed"], ["filed", "filed"]]) {
    const o = el("option", "", text);
    o.value = value;
    filter.append(o);
  }
  filter.addEventListener("change", () => { state.filter = filter.value; render(); });
  head.append(filter, button("Accept all shown", "fs-accept-all", acceptAll));
  const notice = el("p", "fs-notice", "Some rows were refused by the EHR: see the reason on each failed row and chart them by hand.");
  notice.hidden = true;
  notice.setAttribute("role", "alert");
  const table = el("table", "fs-table");
  const hr = el("tr");
  for (const h of ["time", "phase", ...VITALS.map(([, l]) => l), "status", ""]) hr.append(el("th", "", h));
  table.createTHead().append(hr);
  table.append(el("tbody"));
  root.replaceChildren(head, el("p", "fs-summary"), notice, el("p", "fs-msg"), table);
  root.addEventListener("pointerdown", () => { state.pressed = true; });
  window.addEventListener("pointerup", () => {
    state.pressed = false;
    if (state.renderLater) setTimeout(render, 0); // after the click this release completes
  });
}

async function main() {
  if (!root) return;
  build();
  state.session = await sessionId();
  if (!state.session) { say("No open session at this chair."); }
  await load(true);
  setInterval(async () => {
    const id = await sessionId().catch(() => state.session);
    if (id !== state.session) { state.session = id; state.signature = ""; state.editing = null; }
    await load(false);
  }, REFRESH_MS);
}

main();
