// One session's review: stacked, time-synchronised plotly charts and the summary tables.
"use strict";

const PHASE_FILL = { baseline: "#dbe9f6", infusion: "#fde2c8", recovery: "#dff3df" };
const PRIO = { high: "#d7263d", medium: "#e0a800", low: "#2ec4d6" };
// Panels top to bottom; each vital goes to one y axis. Shared x axis = zoom and pan stay in step.
const PANELS = [
  { axis: "y3", domain: [0.70, 1.0], title: "HR / PR (bpm)", vitals: { hr: ["HR", "#c0392b"], pr: ["PR", "#8e44ad"] } },
  { axis: "y2", domain: [0.36, 0.64], title: "BP (mmHg)", vitals: { sbp: ["Systolic", "#1f4e79"], dbp: ["Diastolic", "#2e86c1"], map: ["Mean", "#7f8c8d"] } },
  { axis: "y", domain: [0.0, 0.30], title: "SpO2 (%)", vitals: { spo2: ["SpO2", "#117a65"] } },
];
const NIBP = new Set(["sbp", "dbp", "map"]);
const panelOf = (vital) => PANELS.find((p) => vital in p.vitals);
const axisKey = (axis) => "yaxis" + axis.slice(1);

function traces(d) {
  const out = [];
  for (const p of PANELS) {
    for (const [vital, [name, colour]] of Object.entries(p.vitals)) {
      const s = d.series[vital];
      if (!s) continue;
      const unit = d.units[vital] || "";
      out.push({
        type: "scatter", mode: NIBP.has(vital) ? "lines+markers" : "lines", name, yaxis: p.axis,
        x: s.t.map(Review.plotTime), y: s.v, line: { color: colour, width: 1.4, dash: vital === "map" ? "dot" : "solid" },
        marker: { size: 6 }, customdata: s.t.map(() => [vital, unit]),
        hovertemplate: `${name} %{y} ${unit}<br>%{x|%H:%M:%S}<extra></extra>`,
      });
      const f = d.flagged[vital];
      if (f) {
        out.push({
          type: "scatter", mode: "markers", name: `${name} (not valid)`, yaxis: p.axis, showlegend: false,
          x: f.t.map(Review.plotTime), y: f.v, marker: { symbol: "x", size: 6, color: "#9aa3ad" },
          customdata: f.q.map((q) => [vital, unit, q]),
          hovertemplate: `${name} %{y} ${unit} (%{customdata[2]})<br>%{x|%H:%M:%S}<extra></extra>`,
        });
      }
    }
  }
  return out;
}

function shapesAndNotes(d) {
  const shapes = [];
  const notes = [];
  const t = Review.plotTime;
  for (const ph of d.phases) {
    if (!(ph.phase in PHASE_FILL)) continue;
    shapes.push({ name: `phase:${ph.phase}`, type: "rect", xref: "x", yref: "paper", x0: t(ph.start), x1: t(ph.end), y0: 0, y1: 1,
      fillcolor: PHASE_FILL[ph.phase], opacity: 0.55, line: { width: 0 }, layer: "below" });
    notes.push({ x: t(ph.start), y: 0.995, yref: "paper", xanchor: "left", yanchor: "top", showarrow: false,
      text: " " + ph.phase, font: { size: 11, color: "#5b6570" } });
  }
  const marks = [[d.summary.infusion_start, "infusion start"], [d.summary.infusion_stop, "infusion stop"]];
  for (const [ts, label] of marks) {
    if (ts == null) continue;
    shapes.push({ name: `mark:${label}`, type: "line", xref: "x", yref: "paper", x0: t(ts), x1: t(ts), y0: 0, y1: 1,
      line: { color: "#333", width: 1.5, dash: "dash" } });
    notes.push({ x: t(ts), y: 1.04, yref: "paper", showarrow: false, text: label, font: { size: 11 } });
  }
  for (const a of d.alarms) {
    const p = a.vital ? panelOf(a.vital) : null;
    const yref = p ? `${p.axis} domain` : "paper";
    const end = a.ended ?? d.end;
    shapes.push({ name: `alarm:${a.id}`, type: "rect", xref: "x", yref, x0: t(a.started), x1: t(Math.max(end, a.started + 1)),
      y0: 0, y1: 1, fillcolor: PRIO[a.priority] || "#999", opacity: a.kind === "technical" ? 0.12 : 0.22,
      line: { width: 0 }, layer: "below" });
    if (a.acknowledged_at != null) {
      shapes.push({ name: `ack:${a.id}`, type: "line", xref: "x", yref, x0: t(a.acknowledged_at), x1: t(a.acknowledged_at),
        y0: 0, y1: 1, line: { color: PRIO[a.priority] || "#999", width: 1.5, dash: "dot" } });
    }
  }
  for (const n of d.notes) {
    notes.push({ x: t(n.ts), y: 0, yref: "paper", yanchor: "top", showarrow: true, ax: 0, ay: 18, arrowcolor: "#555",
      text: n.kind === "adverse" ? "⚠" : "✎", hovertext: `${Review.clock(n.ts)} ${n.user}: ${n.text}`,
      font: { size: 14, color: n.kind === "adverse" ? "#b3001b" : "#333" } });
  }
  for (const e of d.devices) {
    notes.push({ x: t(e.ts), y: 0, yref: "paper", yanchor: "top", showarrow: false, text: "⚙",
      hovertext: `${Review.clock(e.ts)} ${e.source}: ${e.state} ${e.vital || ""}`, font: { size: 11, color: "#5b6570" } });
  }
  // Baselines (dotted) and limits (dashed) in the phases each rule applies to.
  const x0 = t(d.session.started), x1 = t(d.end);
  for (const [vital, base] of Object.entries(d.summary.baselines)) {
    const p = panelOf(vital);
    if (!p || base == null || vital === "map") continue;
    shapes.push({ name: `baseline:${vital}`, type: "line", xref: "x", yref: p.axis, x0, x1, y0: base, y1: base,
      line: { color: p.vitals[vital][1], width: 1, dash: "dot" } });
  }
  for (const lim of d.limits) {
    const p = panelOf(lim.vital);
    if (!p || lim.limit == null) continue;
    for (const ph of d.phases) {
      if (!lim.phases.includes(ph.phase)) continue;
      shapes.push({ name: `limit:${lim.rule}`, type: "line", xref: "x", yref: p.axis, x0: t(ph.start), x1: t(ph.end),
        y0: lim.limit, y1: lim.limit, line: { color: PRIO[lim.priority], width: 1, dash: "dash" } });
    }
  }
  return { shapes, notes };
}

// The y range follows the valid readings and baselines (an implausible 300 must not flatten the trace);
// limits widen it only when near the data. Invalid readings outside stay listed in the exports.
function panelRange(d, p) {
  const vals = [];
  for (const vital of Object.keys(p.vitals)) {
    if (d.series[vital]) vals.push(...d.series[vital].v);
    const b = d.summary.baselines[vital];
    if (b != null) vals.push(b);
  }
  if (!vals.length) return undefined;
  let lo = Infinity, hi = -Infinity;
  for (const v of vals) { if (v < lo) lo = v; if (v > hi) hi = v; }
  for (const lim of d.limits) {
    if (lim.limit != null && lim.vital in p.vitals && lim.limit >= lo - 25 && lim.limit <= hi + 25) {
      lo = Math.min(lo, lim.limit); hi = Math.max(hi, lim.limit);
    }
  }
  const pad = Math.max(2, (hi - lo) * 0.08);
  return [lo - pad, hi + pad];
}

function drawChart(d) {
  const { shapes, notes } = shapesAndNotes(d);
  const layout = {
    margin: { l: 60, r: 20, t: 40, b: 60 }, hovermode: "closest", dragmode: "zoom", showlegend: true,
    legend: { orientation: "h", y: -0.08 }, shapes, annotations: notes,
    xaxis: { type: "date", anchor: "y", hoverformat: "%H:%M:%S", showspikes: true,
      spikemode: "across", spikethickness: 1 },
    paper_bgcolor: "#fff", plot_bgcolor: "#fff",
  };
  for (const p of PANELS) {
    layout[axisKey(p.axis)] = { domain: p.domain, title: { text: p.title, font: { size: 12 } }, zeroline: false,
      fixedrange: false, gridcolor: "#eceff2", range: panelRange(d, p) };
  }
  const gd = document.getElementById("chart");
  Plotly.newPlot(gd, traces(d), layout, { responsive: true, displaylogo: false, scrollZoom: true });
  gd.on("plotly_hover", (ev) => {
    const pt = ev.points[0];
    const [vital, unit, q] = pt.customdata || ["", ""];
    const name = pt.data.name.replace(" (not valid)", "");
    document.getElementById("readout").textContent = `${name} ${pt.y} ${unit}${q ? " (" + q + ")" : ""} at ${String(pt.x).slice(11, 19)}`;
    document.getElementById("readout").dataset.vital = vital;
  });
}

function row(table, cells, head = false) {
  const tr = Review.el("tr");
  for (const c of cells) {
    const cell = Review.el(head ? "th" : "td");
    if (c instanceof Node) cell.append(c); else cell.textContent = c ?? "–";
    tr.append(cell);
  }
  table.append(tr);
  return tr;
}

function renderDetails(d) {
  const s = d.session;
  document.getElementById("title").textContent = `Session ${s.id}`;
  document.title = `ivmon · session ${s.id}`;
  const box = document.getElementById("details");
  const item = (label, value) => Review.el("div", {}, Review.el("span", { text: label }), value);
  box.replaceChildren(
    item("Chair", s.bed_label || s.bed), item("Patient reference", Review.el("a", { href: `/patients/${encodeURIComponent(s.patient_ref)}/course`, text: s.patient_ref, title: "course of treatment" })), item("Phase", s.phase),
    item("Started", Review.dateTime(s.started)), item("Duration", Review.duration(d.summary.duration_s)),
    item("Dose", s.dose_mg == null ? "–" : `${s.dose_mg} mg`), item("Rate", s.rate_mg_per_h == null ? "–" : `${s.rate_mg_per_h} mg/h`),
    item("Infusion", `${Review.clock(d.summary.infusion_start)} – ${Review.clock(d.summary.infusion_stop)}`),
    item("Protocol", s.protocol ? s.protocol + (s.dose_mg_per_kg != null ? ` · ${Math.round(s.dose_mg_per_kg * 100) / 100} mg/kg` : "") : "–"),
    item("Escort", s.discharge ? [s.discharge.escort_relation, s.discharge.escort_name].filter(Boolean).join(", ") : "not recorded"),
    item("Discharge", !s.discharge ? "–" : s.discharge.reason
      ? `criteria not met: ${s.discharge.reason} (decided by ${s.discharge.decided_by})` : "criteria met"),
    item("Ready to leave", s.ready_at == null ? "not recorded" : Review.clock(s.ready_at)),
  );
  const base = `/api/sessions/${s.id}`;
  document.getElementById("dl-readings-csv").href = `${base}/readings?format=csv`;
  document.getElementById("dl-readings-parquet").href = `${base}/readings?format=parquet`;
  document.getElementById("dl-readings-json").href = `${base}/readings?format=json`;
  document.getElementById("dl-alarms-csv").href = `${base}/alarms?format=csv`;
  document.getElementById("dl-events-csv").href = `${base}/events?format=csv`;
  document.getElementById("dl-report").href = `${base}/report.pdf`;
  document.getElementById("dl-record").href = `${base}/record.pdf`;
}

function renderSummary(d) {
  const s = d.summary, b = s.baselines, u = d.units;
  const t = document.getElementById("summary");
  t.replaceChildren();
  row(t, ["Figure", "Value", "Time"], true);
  const ext = (e, vital) => (e ? [`${e.value} ${u[vital]}`, Review.clock(e.ts)] : ["–", ""]);
  row(t, ["Baseline HR / SpO2", `${Review.num(b.hr)} bpm / ${Review.num(b.spo2)} %`, ""]);
  row(t, ["Baseline BP", `${Review.num(b.sbp)}/${Review.num(b.dbp)} mmHg (mean ${Review.num(b.map)})`, ""]);
  for (const [vital, label] of [["hr", "Peak HR"], ["sbp", "Peak systolic"], ["dbp", "Peak diastolic"]]) row(t, [label, ...ext(s.peaks[vital], vital)]);
  row(t, ["Lowest SpO2", ...ext(s.lows.spo2, "spo2")]);
  row(t, ["Peak systolic rise", s.peak_sbp_rise == null ? "–" : `${Review.num(s.peak_sbp_rise)} mmHg`, Review.clock(s.peak_sbp_rise_ts)]);
  row(t, ["Peak diastolic rise", s.peak_dbp_rise == null ? "–" : `${Review.num(s.peak_dbp_rise)} mmHg`, Review.clock(s.peak_dbp_rise_ts)]);
  row(t, ["Time SpO2 < 94 %", Review.duration(s.spo2_below_s["94"]), ""]);
  row(t, ["Time SpO2 < 90 %", Review.duration(s.spo2_below_s["90"]), ""]);
  row(t, ["Discharge readiness", s.time_to_ready_s == null ? "not reached" : `${Review.duration(s.time_to_ready_s)} after infusion stop`, Review.clock(s.discharge_ready_ts)]);
  const bl = document.getElementById("bplimits");
  bl.replaceChildren();
  row(bl, ["Rule", "Limit", "Phases", "Time"], true);
  for (const l of s.bp_limits) row(bl, [l.rule_id, `${l.vital} ${l.op} ${Review.num(l.limit, 0)}`, l.phases.join(", "), Review.duration(l.seconds)]);
  for (const l of d.limits) if (l.limit == null && ["sbp", "dbp", "map"].includes(l.vital)) row(bl, [l.rule, "inactive", l.inactive, "–"]);
}

function renderAlarms(d) {
  const st = document.getElementById("alarmstats");
  st.replaceChildren();
  row(st, ["Rule", "Kind", "Priority", "Count", "Acknowledged", "Median to ack", "Longest"], true);
  for (const a of d.summary.alarms) {
    const tr = row(st, [a.rule_id, a.kind, a.priority, String(a.count), String(a.acknowledged), Review.duration(a.ack_median_s), Review.duration(a.ack_max_s)]);
    tr.children[2].className = a.priority;
  }
  const t = document.getElementById("alarms");
  t.replaceChildren();
  row(t, ["Start", "End", "Rule", "Worst", "Acknowledged", "Actionable"], true);
  for (const a of d.alarms) {
    const ack = a.acknowledged_at == null ? (a.filed ? a.filed : "no") : `${Review.clock(a.acknowledged_at)} by ${a.acknowledged_by} (${Review.duration(a.acknowledged_at - a.started)})`;
    const unit = (d.units || {})[a.vital];
    const worst = a.worst == null ? "–" : `${Math.round(a.worst)}${unit ? " " + unit : ""}${a.doubtful ? " (doubtful reading)" : ""}`;
    const answer = a.actionable == null ? "not answered" : a.actionable ? "yes" : "no";
    const tr = row(t, [Review.clock(a.started), a.ended == null ? "open" : Review.clock(a.ended), `${a.rule} (${a.priority})`, worst, ack, answer]);
    tr.children[2].className = a.priority;
  }
}

function renderNotes(d) {
  const ul = document.getElementById("notes");
  ul.replaceChildren();
  const items = [
    ...d.session.phases.map((p) => ({ ts: p.ts, text: `Phase ${p.phase} (${p.user})`, cls: "phase" })),
    ...d.notes.map((n) => ({ ts: n.ts, text: `${n.kind === "adverse" ? "Adverse event: " : ""}${n.text} (${n.user})`, cls: n.kind })),
    ...d.devices.map((e) => ({ ts: e.ts, text: `${e.source}: ${e.state} ${e.vital || ""}`, cls: "device" })),
  ].sort((a, b) => a.ts - b.ts);
  for (const it of items) ul.append(Review.el("li", { class: it.cls, text: `${Review.clock(it.ts)} ${it.text}` }));
}

function renderHistory(d) {
  const t = document.getElementById("history");
  t.replaceChildren();
  row(t, ["Date", "Chair", "Dose (mg)", "Peak SBP", "Rise", "Alarms H/M/L"], true);
  for (const h of d.history) {
    const link = Review.el("a", { href: `/sessions/${h.id}`, text: Review.dateTime(h.started) });
    const tr = row(t, [link, h.bed_label || h.bed_id, Review.num(h.dose_mg, 1), Review.num(h.peak_sbp), h.peak_sbp_rise == null ? "–" : `${h.peak_sbp_rise > 0 ? "+" : ""}${Review.num(h.peak_sbp_rise)}`,
      `${h.alarms_high ?? "–"}/${h.alarms_medium ?? "–"}/${h.alarms_low ?? "–"}`]);
    if (h.id === d.session.id) tr.classList.add("current");
  }
}

async function main() {
  Review.who();
  const id = location.pathname.split("/").pop();
  try {
    const d = await Review.getJSON(`/api/review/sessions/${encodeURIComponent(id)}`);
    renderDetails(d);
    drawChart(d);
    renderSummary(d);
    renderAlarms(d);
    renderNotes(d);
    renderHistory(d);
    document.body.dataset.ready = "1";
  } catch (e) {
    document.getElementById("details").textContent = "Could not load this session: " + e.message;
  }
}
main();
