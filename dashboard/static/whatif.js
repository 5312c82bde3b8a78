// The alarm committee's what-if: edit a proposal, choose the period, compare (table, chart, changed sessions).
// Text only (textContent): rule ids and messages are user input.
import { errorText, post } from "./common.js";

const $ = (id) => document.getElementById(id);
const { el, num, dateTime } = Review;

function dayStart(value) { return value ? new Date(value + "T00:00:00").getTime() / 1000 : null; }

async function loadCurrent() {
  const current = await Review.getJSON("/api/whatif/current");
  $("rules").value = current.rules;
}

async function loadProtocols() {
  try {
    const protocols = await Review.getJSON("/api/protocols");
    const select = $("w-protocol");
    for (const p of protocols) select.append(el("option", { value: p.id, text: p.name || p.title || p.id }));
  } catch (e) { /* no protocols: the filter stays "all" */ }
}

// Adopting (admins): only the very text just compared, with a reason.
let compared = null;
let admin = false;

function adoptReady() {
  $("adopt-btn").disabled = !(admin && compared !== null && compared === $("rules").value && $("adopt-note").value.trim());
}

async function adopt() {
  const text = $("rules").value;
  if (text !== compared) return;
  $("adopt-btn").disabled = true;
  const res = await post("/api/rules/adopt", { rules_toml: text, note: $("adopt-note").value.trim() });
  if (!res.ok) {
    $("adopt-status").textContent = "Not adopted: " + (await errorText(res));
    adoptReady();
    return;
  }
  const version = await res.json();
  $("adopt-status").textContent = `Adopted as version ${version.version}: in force for new alarms now.`;
  compared = null;
}

async function whoAmI() {
  try {
    const me = await Review.getJSON("/api/me");
    admin = me.role === "admin";
    $("adopt").hidden = !admin;
    $("adopt-who").hidden = admin;
  } catch (e) { /* the page redirects on 401 */ }
}

function cell(text, cls) { return el("td", { class: cls || "num", text }); }

function rowCells(r, label) {
  const diff = r.difference;
  return [
    el("td", { text: label ? label[0] : r.rule_id }),
    el("td", { text: label ? label[1] : r.phase }),
    cell(String(r.episodes_now)),
    cell(String(r.episodes_proposed)),
    cell(diff > 0 ? "+" + diff : String(diff), "num " + (diff > 0 ? "worse" : diff < 0 ? "better" : "")),
    cell(num(r.alarm_minutes_now, 1)),
    cell(num(r.alarm_minutes_proposed, 1)),
    cell(num(r.median_s_now, 0)),
    cell(num(r.median_s_proposed, 0)),
    cell(String(r.removed)),
    cell(String(r.removed_actionable), "num" + (r.removed_actionable ? " worse" : "")),
    cell(String(r.added)),
  ];
}

function drawChart(rows) {
  const labels = rows.map((r) => `${r.rule_id} · ${r.phase}`);
  const chart = $("chart");
  chart.hidden = false;
  Plotly.react(chart, [
    { type: "bar", name: "now", x: labels, y: rows.map((r) => r.episodes_now), marker: { color: "#8a96a3" } },
    { type: "bar", name: "proposed", x: labels, y: rows.map((r) => r.episodes_proposed), marker: { color: "#1f4e79" } },
  ], {
    barmode: "group",
    margin: { t: 30, r: 10, b: 140, l: 50 },
    yaxis: { title: { text: "episodes" }, rangemode: "tozero", tickformat: "d" },
    xaxis: { tickangle: -40, automargin: true },
    legend: { orientation: "h", y: 1.1 },
    title: { text: "Episodes per rule and phase, now and proposed", font: { size: 14 } },
  }, { displaylogo: false, responsive: true });
}

function show(result) {
  const table = $("comparison");
  table.hidden = false;
  table.tBodies[0].replaceChildren(...result.rows.map((r) => el("tr", {}, ...rowCells(r))));
  table.tFoot.replaceChildren(el("tr", { class: "total" }, ...rowCells(result.total, ["All rules", "all phases"])));
  drawChart(result.rows);
  const warn = $("actionable");
  if (result.removed_actionable > 0) {
    warn.textContent = `This proposal removes ${result.removed_actionable} alarm(s) that nurses acknowledged as actionable.`;
    warn.hidden = false;
  } else {
    warn.hidden = true;
    warn.textContent = "";
  }
  const own = result.own_rules_cases ? `, ${result.own_rules_cases} under their own session rules (unchanged)` : "";
  const answers = result.answers_known ? "" : " No alarm of the period has a nurse's actionable answer.";
  $("status").textContent =
    `${result.cases} session(s) replayed, ${result.changed_count} with changed alarms${own}.${answers}`;
  $("changed-title").hidden = result.changed.length === 0;
  $("changed").replaceChildren(...result.changed.map((c) => el("li", {},
    el("a", { href: `/sessions/${c.session}`, text: `Session ${c.session}` }),
    el("span", { class: "muted", text: ` ${c.bed} ${dateTime(c.started)}: ${c.now} → ${c.proposed} alarm(s)` }))));
}

async function compare(ev) {
  ev.preventDefault();
  const from = dayStart($("w-from").value);
  const toDay = dayStart($("w-to").value);
  const body = { rules: $("rules").value };
  if (from != null) body.from = String(from);
  if (toDay != null) body.to = String(toDay + 86400);  // the "to" day is included
  if ($("w-protocol").value) body.protocol = $("w-protocol").value;
  if ($("w-bed").value.trim()) body.bed = $("w-bed").value.trim();
  $("compare").disabled = true;
  $("status").textContent = "Replaying the sessions under both rule sets…";
  try {
    const res = await post("/api/whatif", body);
    if (!res.ok) {
      $("status").textContent = "Not compared: " + (await errorText(res));
      return;
    }
    show(await res.json());
    compared = body.rules;
    $("adopt-status").textContent = "";
    adoptReady();
  } catch (e) {
    $("status").textContent = "Not compared: " + e.message;
  } finally {
    $("compare").disabled = false;
  }
}

$("whatif").addEventListener("submit", compare);
$("rules").addEventListener("input", adoptReady);
$("adopt-note").addEventListener("input", adoptReady);
$("adopt-btn").addEventListener("click", () => adopt().catch((e) => { $("adopt-status").textContent = e.message; }));
whoAmI();
$("reset").addEventListener("click", () => loadCurrent().then(adoptReady).catch((e) => { $("status").textContent = e.message; }));
Review.who();
loadProtocols();
loadCurrent().catch((e) => { $("status").textContent = "Could not load the rules in force: " + e.message; });
