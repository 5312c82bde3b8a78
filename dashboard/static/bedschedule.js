// The bed page's protocol parts: the start form's protocol and dose arithmetic (asked of the server,
// GET /api/protocols/{id}/dose, so the page never calculates a dose itself), and what the session's
// protocol makes due, counted down (due.js).
"use strict";

import { byId, el, getJSON, serverNow } from "./common.js";
import { setClass, setText } from "./dom.js";
import { checkpointLines, dueLines, Schedules } from "./due.js";

const form = byId("start");
const protocols = new Map();
let session = null;
const schedules = new Schedules(render);

function field(name) { return form.elements.namedItem(name); }

/** Show the dose fields the chosen protocol takes: per kg (with minutes), a fixed dose, or typed mg and rate. */
function doseMode() {
  const p = protocols.get(field("protocol").value);
  const mode = p ? p.dose.mode : "none";
  for (const label of form.querySelectorAll("[data-dose]")) label.hidden = !label.dataset.dose.split(" ").includes(mode);
  if (p && mode === "per_kg") {
    field("dose_mg_per_kg").placeholder = `${p.dose.default_mg_per_kg} (${p.dose.min_mg_per_kg}-${p.dose.max_mg_per_kg})`;
    field("infusion_min").placeholder = String(p.phases[1].planned_min);
  } else if (p) {
    field("dose_mg").placeholder = p.dose.fixed_mg.join(" or ");
  }
  return p;
}

let asked = 0;
async function arithmetic() {
  const p = doseMode();
  const out = byId("dose-arithmetic");
  if (!p) { setText(out, ""); return; }
  const q = new URLSearchParams();
  for (const name of ["weight_kg", "dose_mg_per_kg", "infusion_min", "dose_mg"]) {
    const input = field(name);
    if (input.value !== "" && !input.closest("label").hidden) q.set(name, input.value);
  }
  const mine = ++asked;
  const res = await fetch(`/api/protocols/${encodeURIComponent(p.id)}/dose?${q}`, { credentials: "same-origin" });
  if (mine !== asked) return; // a newer question is on its way
  const body = await res.json().catch(() => ({}));
  if (!res.ok) { setText(out, `Not allowed: ${typeof body.detail === "string" ? body.detail : "check the dose"}`); setClass(out, "error", true); return; }
  setClass(out, "error", false);
  setText(out, body.arithmetic || (p.dose.mode === "per_kg" ? `${body.dose_mg_per_kg} mg/kg: enter the weight for the dose in mg` : ""));
}

function render() {
  const box = byId("due");
  const data = session?.protocol ? schedules.get(session.id) : null;
  box.hidden = !data;
  if (!data) return;
  const now = serverNow();
  const lines = dueLines(data, now);
  setText(byId("due-protocol"), `${data.protocol_name} · ${data.phase_label}` + (data.dose_arithmetic ? ` · ${data.dose_arithmetic}` : ""));
  setText(byId("due-nibp"), lines.nibp);
  setClass(byId("due-nibp"), "overrun", lines.nibp.includes("overdue"));
  setText(byId("due-assessment"), lines.assessment);
  setText(byId("due-end"), lines.end);
  setClass(byId("due-end"), "overrun", lines.overrun);
  const list = byId("checkpoints");
  const items = checkpointLines(data, now);
  while (list.children.length > items.length) list.lastChild.remove();
  items.forEach((item, i) => {
    const li = list.children[i] || list.appendChild(el("li", "", ""));
    setText(li, item.text);
    li.className = item.status;
  });
}

async function main() {
  for (const p of await getJSON("/api/protocols")) {
    protocols.set(p.id, p);
    field("protocol").append(new Option(p.name, p.id));
  }
  form.addEventListener("input", () => arithmetic().catch(() => {}));
  form.addEventListener("reset", () => setTimeout(() => arithmetic().catch(() => {}), 0));
  doseMode();
  document.addEventListener("ivmon:session", (ev) => {
    session = ev.detail;
    if (session) schedules.stale(session.id);
    render();
  });
  // A cuff reading may take a checkpoint at any moment: look again every 10 s, count down every second.
  setInterval(() => { if (session?.protocol) schedules.stale(session.id); }, 10_000);
  setInterval(render, 1000);
}

main();
