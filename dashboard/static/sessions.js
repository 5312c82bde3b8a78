// The session list: filters and sort live in the URL, so a filtered view can be bookmarked.
"use strict";

const PAGE = 100;
const listState = { sort: "started", order: "desc", offset: 0 };

function dayStart(value) { return value ? new Date(value + "T00:00:00").getTime() / 1000 : null; }

function readForm() {
  const q = new URLSearchParams(location.search);
  document.getElementById("f-from").value = q.get("from_date") || "";
  document.getElementById("f-to").value = q.get("to_date") || "";
  document.getElementById("f-bed").value = q.get("bed") || "";
  document.getElementById("f-patient").value = q.get("patient") || "";
  listState.sort = q.get("sort") || "started";
  listState.order = q.get("order") || "desc";
  listState.offset = Number(q.get("offset") || 0);
}

function writeUrl() {
  const q = new URLSearchParams();
  const set = (k, v) => { if (v) q.set(k, v); };
  set("from_date", document.getElementById("f-from").value);
  set("to_date", document.getElementById("f-to").value);
  set("bed", document.getElementById("f-bed").value.trim());
  set("patient", document.getElementById("f-patient").value.trim());
  if (listState.sort !== "started") q.set("sort", listState.sort);
  if (listState.order !== "desc") q.set("order", listState.order);
  if (listState.offset) q.set("offset", listState.offset);
  history.replaceState(null, "", "/sessions" + (q.toString() ? "?" + q : ""));
}

async function load() {
  const api = new URLSearchParams({ sort: listState.sort, order: listState.order, limit: PAGE, offset: listState.offset });
  const from = dayStart(document.getElementById("f-from").value);
  const toDay = dayStart(document.getElementById("f-to").value);
  if (from != null) api.set("from", from);
  if (toDay != null) api.set("to", toDay + 86400);  // the "to" day is included
  const bed = document.getElementById("f-bed").value.trim();
  const patient = document.getElementById("f-patient").value.trim();
  if (bed) api.set("bed", bed);
  if (patient) api.set("patient_ref", patient);
  const body = await Review.getJSON("/api/review/sessions?" + api);
  render(body);
}

function render(body) {
  const tbody = document.querySelector("#sessions tbody");
  tbody.replaceChildren();
  for (const r of body.rows) {
    const tr = Review.el("tr", { "data-id": r.id });
    const link = Review.el("a", { href: `/sessions/${r.id}`, text: Review.dateTime(r.started) });
    const td = (text, cls) => Review.el("td", cls ? { class: cls, text } : { text });
    tr.append(
      Review.el("td", {}, link), td(r.bed_label || r.bed_id), td(r.patient_ref), td(Review.num(r.dose_mg, 1), "num"),
      td(Review.duration(r.duration_s), "num"), td(r.peak_sbp_rise == null ? "–" : (r.peak_sbp_rise > 0 ? "+" : "") + Review.num(r.peak_sbp_rise), "num"),
      td(Review.num(r.min_spo2), "num"), td(String(r.alarms_high ?? "–"), "num high"),
      td(String(r.alarms_medium ?? "–"), "num medium"), td(String(r.alarms_low ?? "–"), "num low"), td(r.phase),
    );
    tr.addEventListener("click", (ev) => { if (ev.target.tagName !== "A") location.href = `/sessions/${r.id}`; });
    tbody.append(tr);
  }
  const first = body.total ? body.offset + 1 : 0;
  const last = body.offset + body.rows.length;
  document.getElementById("count").textContent = `${body.total} session${body.total === 1 ? "" : "s"}`;
  document.getElementById("page").textContent = `${first}–${last} of ${body.total}`;
  document.getElementById("prev").disabled = body.offset === 0;
  document.getElementById("next").disabled = last >= body.total;
  for (const th of document.querySelectorAll("th[data-sort]")) {
    th.classList.toggle("sorted-asc", th.dataset.sort === listState.sort && listState.order === "asc");
    th.classList.toggle("sorted-desc", th.dataset.sort === listState.sort && listState.order === "desc");
  }
}

function refresh() { writeUrl(); load().catch((e) => { document.getElementById("count").textContent = "Could not load: " + e.message; }); }

document.getElementById("filters").addEventListener("submit", (ev) => { ev.preventDefault(); listState.offset = 0; refresh(); });
document.getElementById("clear").addEventListener("click", () => {
  for (const id of ["f-from", "f-to", "f-bed", "f-patient"]) document.getElementById(id).value = "";
  listState.offset = 0; refresh();
});
for (const th of document.querySelectorAll("th[data-sort]")) {
  th.addEventListener("click", () => {
    const key = th.dataset.sort;
    listState.order = listState.sort === key && listState.order === "desc" ? "asc" : "desc";
    listState.sort = key; listState.offset = 0; refresh();
  });
}
document.getElementById("prev").addEventListener("click", () => { listState.offset = Math.max(0, listState.offset - PAGE); refresh(); });
document.getElementById("next").addEventListener("click", () => { listState.offset += PAGE; refresh(); });

readForm();
Review.who();
Review.getJSON("/api/beds").then((beds) => {
  const list = document.getElementById("beds");
  // A chair has one name: its label (the filter takes the label or the id).
  for (const b of beds.beds || beds) if (b.id) list.append(Review.el("option", { value: b.label || b.id }));
}).catch(() => {});
refresh();
