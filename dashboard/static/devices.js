// Monitors: the central view's panel of unassigned monitors (values, where they are, flashing like a
// chair when alarming) and the bed page's "which monitor is on the patient" picker.
// The pages call in through two small hooks: live.js hands each live message and each render to
// monitorsPanel; bed.html's start form gets its device field from startPicker.
"use strict";

import { byId, el, fmtAge, getJSON, PREFIX, sortAlarms } from "./common.js";

const NAMES = { hr: "HR", pr: "PR", spo2: "SpO₂", sbp: "SYS", dbp: "DIA", map: "MAP", rr: "RR", etco2: "EtCO₂" };
const REFRESH_S = 5;

// Its own styles, next to the page's.
const sheet = document.createElement("link");
sheet.rel = "stylesheet";
sheet.href = "/static/devices.css";
document.head.append(sheet);

// -- the central view's panel -------------------------------------------------------------
const panel = { info: new Map(), fetched: 0, loading: false, associated: new Set() };

async function refresh(now, soon) {
  // A monitor not known yet is looked up within a second; the rest every few seconds.
  if (panel.loading || now - panel.fetched < (soon ? 1 : REFRESH_S)) return;
  panel.loading = true;
  try {
    const d = await getJSON("/api/devices");
    panel.info = new Map(d.devices.map((x) => [x.device, x]));
    panel.associated = new Set(d.devices.filter((x) => x.bed).map((x) => x.device));
    panel.fetched = now;
  } catch (e) { /* the live values still show; where a monitor is comes back with the next fetch */ }
  finally { panel.loading = false; }
}

/** A live message (from live.js): an association takes its monitor off the panel at once. */
export function monitorsMessage(msg, unassigned) {
  if (msg.type !== "association") return;
  const a = msg.association;
  if (a.end == null) { panel.associated.add(a.device); unassigned.delete(a.device); }
  else panel.associated.delete(a.device);
  panel.fetched = 0;
}

/** Draw the panel into `box`: one card per unassigned monitor, its top alarm flashing like a chair. */
export function monitorsPanel(box, unassigned, alarms, now) {
  const byDevice = new Map();
  for (const a of sortAlarms(alarms.filter((x) => !x.bed && x.source))) {
    if (!byDevice.has(a.source.device)) byDevice.set(a.source.device, []);
    byDevice.get(a.source.device).push(a);
  }
  const devices = new Set([...unassigned.keys(), ...byDevice.keys()]);
  for (const d of panel.associated) if (!byDevice.has(d)) devices.delete(d);
  refresh(now, [...devices].some((d) => !panel.info.has(d)));
  const cards = [];
  for (const device of [...devices].sort()) {
    const info = panel.info.get(device) || {};
    const vitals = (unassigned.get(device) || {}).vitals || info.vitals || {};
    const mine = byDevice.get(device) || [];
    const top = mine[0];
    const card = el("article", "monitor");
    card.dataset.device = device;
    if (top) {
      card.classList.add("alarm-" + top.priority);
      if (mine.filter((a) => a.priority === top.priority).every((a) => a.state !== "active")) card.classList.add("seen");
    }
    const where = [info.address, info.model].filter(Boolean).join(" · ");
    // Training data (HL7 MSH-11 T/D: a monitor in demo mode) is never shown as a patient's values.
    const training = Object.values(vitals).some((v) => v.quality === "training");
    if (training) card.classList.add("training");
    card.append(el("header", "", ""));
    if (training) card.firstChild.append(el("span", "training", "TRAINING DATA"));
    card.firstChild.append(el("strong", "id", device), el("span", "where", where));
    const values = el("div", "values");
    for (const [k, v] of Object.entries(vitals)) {
      const age = now - v.ts;
      const item = el("span", "v" + (age > 30 ? " stale" : ""), `${NAMES[k] || k} ${Math.round(v.value)}`);
      item.title = `${fmtAge(age)} ago`;
      values.append(item);
    }
    if (!values.childNodes.length) values.append(el("span", "v stale", "no values"));
    card.append(values);
    if (top) card.append(el("div", `alarm ${top.priority}`, `${PREFIX[top.priority]} ${top.message}`));
    cards.push(card);
  }
  box.replaceChildren(...(cards.length ? [el("h2", "", "Unassigned monitors"), ...cards] : []));
  box.hidden = !cards.length;
}

// -- the bed page's picker ----------------------------------------------------------------
/** Adds "which monitor is on the patient" to the start form: the unassigned ones (the last used
 * on this chair preselected), or an id typed or scanned. The form's `device` field carries it. */
export async function startPicker(form, bedId) {
  const box = el("fieldset", "monitor-picker");
  box.append(el("legend", "", "Monitor on the patient"));
  const list = el("div", "choices");
  const typed = document.createElement("input");
  typed.name = "device_typed";
  typed.placeholder = "or type / scan the monitor's id";
  typed.maxLength = 128;
  const field = document.createElement("input");
  field.type = "hidden";
  field.name = "device";
  const sync = () => {
    const picked = form.querySelector("input[name=device_pick]:checked");
    field.value = typed.value.trim() || (picked ? picked.value : "");
  };
  typed.oninput = sync;
  box.append(list, typed, field);
  form.insertBefore(box, form.querySelector("button[type=submit]"));
  form.addEventListener("reset", () => { chosen = null; setTimeout(() => fill(), 0); });

  let chosen = null; // the nurse's pick survives the list's refreshes
  list.addEventListener("change", (ev) => { chosen = ev.target.value; });

  async function fill() {
    let d;
    try { d = await getJSON("/api/devices"); } catch (e) { return; }
    const last = (d.last_on_bed || {})[bedId];
    const free = d.devices.filter((x) => !x.bed && x.state !== "disconnected");
    const pick = chosen !== null && (chosen === "" || free.some((x) => x.device === chosen)) ? chosen
      : free.some((x) => x.device === last) ? last : "";
    const rows = [choice("", "none / not yet", pick === "")];
    for (const x of free) {
      const values = Object.entries(x.vitals).map(([k, v]) => `${NAMES[k] || k} ${Math.round(v.value)}`).join(" ");
      const label = `${x.device}${x.address ? " (" + x.address + ")" : ""}${values ? " — " + values : ""}` +
        (x.device === last ? " · last used here" : "");
      rows.push(choice(x.device, label, x.device === pick));
    }
    list.replaceChildren(...rows);
    sync();
  }

  function choice(value, text, checked) {
    const label = el("label", "choice");
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "device_pick";
    radio.value = value;
    radio.checked = checked;
    radio.onchange = sync;
    label.append(radio, document.createTextNode(" " + text));
    return label;
  }

  await fill();
  setInterval(() => { if (!form.hidden) fill(); }, REFRESH_S * 1000);
}

// The bed page: the start form is there from the first paint.
const startForm = byId("start");
if (startForm && document.body.classList.contains("bedpage")) {
  startPicker(startForm, decodeURIComponent(location.pathname.split("/").pop()));
}
