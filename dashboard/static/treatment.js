// Quick entry at the chair: MOAA/S in one tap, the other scales, drugs given, adverse events with their
// category, the dose given (rate x time, correctable with a reason) and links to the printed records.
// Self-contained like the flowsheet: it finds the bed's open session from the page's address and
// refreshes every 10 s; it never rebuilds a form the nurse is typing in.
"use strict";

import { byId, el, errorText, fmtClock, getJSON, post, send } from "./common.js";

const REFRESH_MS = 10_000;
const root = byId("treatment");
const bedId = decodeURIComponent(location.pathname.split("/").pop());
const state = { session: null, scales: null, forms: {} };

function say(text, bad) {
  const msg = byId("tr-msg");
  msg.textContent = text;
  msg.classList.toggle("tr-bad", !!bad);
}

function options(select, values, titles) {
  select.replaceChildren(...values.map((v, i) => {
    const o = el("option", "", titles ? titles[i] : v);
    o.value = v;
    return o;
  }));
}

function itemSelects(form, scale) {
  const submit = form.querySelector("button");
  for (let i = 1; i <= scale.items; i++) {
    const s = el("select", "tr-item");
    s.name = `item${i}`;
    s.setAttribute("aria-label", `${scale.key} item ${i}`);
    options(s, Array.from({ length: scale.item_max - scale.item_min + 1 }, (_, k) => String(scale.item_min + k)));
    form.insertBefore(s, submit);
  }
}

function build(scales) {
  const moaas = scales.session.find((s) => s.key === "moaas");
  const row = byId("tr-moaas");
  for (let v = moaas.max; v >= moaas.min; v--) {
    const b = el("button", "tr-score", String(v));
    b.type = "button";
    b.dataset.score = String(v);
    b.title = v === moaas.max ? "awake" : `MOAA/S ${v}`;
    b.onclick = () => record({ scale: "moaas", score: v });
    row.append(b);
  }
  for (const key of ["cadss6", "bprs4"]) itemSelects(byId(`tr-${key}`), scales.session.find((s) => s.key === key));
  const med = byId("tr-med");
  options(med.unit, scales.dose_units);
  options(med.route, scales.routes);
  options(byId("tr-adverse").category, scales.adverse_categories.map((c) => c.key), scales.adverse_categories.map((c) => c.title));
}

async function record(body) {
  if (!state.session) return;
  const res = await post(`/api/sessions/${state.session.id}/assessments`, body);
  if (res.ok) {
    const a = await res.json();
    say(`${a.scale} ${a.score} recorded ${fmtClock(a.ts)}`);
    await refresh();
  } else say(await errorText(res), true);
  return res.ok;
}

async function submitted(ev, action) {
  ev.preventDefault();
  const form = ev.target;
  if (await action(form)) form.reset();
}

function wire() {
  byId("tr-nausea").onsubmit = (ev) => submitted(ev, (f) => record({ scale: "nausea", score: Number(f.score.value) }));
  for (const key of ["cadss6", "bprs4"]) {
    byId(`tr-${key}`).onsubmit = (ev) => submitted(ev, (f) =>
      record({ scale: key, items: [...f.querySelectorAll("select")].map((s) => Number(s.value)) }));
  }
  byId("tr-med").onsubmit = (ev) => submitted(ev, async (f) => {
    const body = { drug: f.drug.value, dose: Number(f.dose.value), unit: f.unit.value, route: f.route.value };
    const res = await post(`/api/sessions/${state.session.id}/medications`, body);
    say(res.ok ? `${body.drug} ${body.dose} ${body.unit} ${body.route} recorded` : await errorText(res), !res.ok);
    if (res.ok) await refresh();
    return res.ok;
  });
  byId("tr-adverse").onsubmit = (ev) => submitted(ev, async (f) => {
    const body = { kind: "adverse", category: f.category.value, text: f.text.value };
    const res = await post(`/api/sessions/${state.session.id}/notes`, body);
    say(res.ok ? "adverse event recorded" : await errorText(res), !res.ok);
    if (res.ok) await refresh();
    return res.ok;
  });
  byId("tr-identity").onsubmit = (ev) => submitted(ev, async (f) => {
    const body = { name: f.name.value || null, birth_date: f.birth_date.value || null, mrn: f.mrn.value || null };
    const res = await send("PUT", `/api/sessions/${state.session.id}/identity`, body);
    say(res.ok ? "identifiers saved for the record" : await errorText(res), !res.ok);
    return false; // the form keeps what was saved
  });
  byId("tr-dose-edit").onsubmit = (ev) => submitted(ev, async (f) => {
    const res = await send("PUT", `/api/sessions/${state.session.id}/given-dose`, { dose_mg: Number(f.dose_mg.value), reason: f.reason.value });
    say(res.ok ? "dose given corrected" : await errorText(res), !res.ok);
    if (res.ok) await refresh();
    return res.ok;
  });
}

function fmtMg(x) { return x == null ? "—" : `${Math.round(x * 100) / 100} mg`; }

function showDose(d) {
  const perKg = d.given_mg_per_kg == null ? "" : ` (${d.given_mg_per_kg} mg/kg)`;
  let text = `Given ${fmtMg(d.given_mg)}${perKg} of ${fmtMg(d.planned_mg)} planned`;
  if (d.entered_by) text += `: entered by ${d.entered_by} (${d.reason}); computed ${fmtMg(d.computed_mg)}`;
  else text += ` (${d.computed_from})`;
  byId("tr-dose").textContent = text;
}

function showEntries(assessments, medications) {
  const rows = [
    ...assessments.map((a) => ({ ts: a.ts, text: `${a.scale} ${a.score}${a.items ? ` [${a.items.join(" ")}]` : ""} (${a.user})` })),
    ...medications.map((m) => ({ ts: m.ts, text: `${m.drug} ${m.dose} ${m.unit} ${m.route} (${m.user})` })),
  ].sort((a, b) => b.ts - a.ts);
  byId("tr-entries").replaceChildren(...rows.map((r) => el("li", "", `${fmtClock(r.ts)} ${r.text}`)));
}

async function showIdentity(base) {
  const who = await getJSON(`${base}/identity`);
  const f = byId("tr-identity");
  f.name.value = who.name || "";
  f.birth_date.value = who.birth_date || "";
  f.mrn.value = who.mrn || "";
}

function typing() {
  const a = document.activeElement;
  return a && root.contains(a) && (a.tagName === "INPUT" || a.tagName === "SELECT");
}

async function refresh() {
  const beds = await getJSON("/api/beds");
  const bed = beds.beds.find((b) => b.id === bedId);
  const session = bed && bed.session ? bed.session : null;
  const changed = session?.id !== state.session?.id;
  if (changed && !typing()) for (const f of root.querySelectorAll("form")) f.reset();
  state.session = session;
  root.hidden = !session;
  if (!session) return;
  const base = `/api/sessions/${session.id}`;
  byId("tr-record").href = `${base}/record.pdf`;
  byId("tr-rems").href = `${base}/rems.pdf`;
  byId("tr-rems").hidden = !(state.forms[session.protocol] || []).includes("rems");
  const [assessments, medications, dose] = await Promise.all([
    getJSON(`${base}/assessments`), getJSON(`${base}/medications`), getJSON(`${base}/given-dose`),
  ]);
  if (state.session?.id !== session.id) return; // the chair changed patient meanwhile
  showEntries(assessments, medications);
  showDose(dose);
  if (changed) await showIdentity(base);
}

async function main() {
  const [scales, protocols] = await Promise.all([getJSON("/api/scales"), getJSON("/api/protocols")]);
  state.scales = scales;
  // Which printed forms each protocol produces (the REMS link shows only where there is one).
  for (const p of protocols) state.forms[p.id] = p.records;
  build(state.scales);
  wire();
  await refresh();
  root.dataset.ready = "1";
  setInterval(() => refresh().catch(() => {}), REFRESH_MS);
  // bed.js announces every session change (start, phase, end): follow it at once, not at the next refresh.
  document.addEventListener("ivmon:session", () => refresh().catch(() => {}));
}

main().catch((e) => say(String(e), true));
