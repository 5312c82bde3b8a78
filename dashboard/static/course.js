// The course of treatment: outcome scores (PHQ-9, GAD-7, MADRS) and each session's dose and blood pressure
// response on one time axis, so response and tolerance read together; tables below; a clinician records
// outcome scores here. Charts with the installed Plotly, like the session review.
"use strict";

(() => {
  const ref = decodeURIComponent(location.pathname.split("/")[2]);
  const api = `/api/patients/${encodeURIComponent(ref)}`;
  const COLOURS = { phq9: "#1f4e79", gad7: "#117a65", madrs: "#8e44ad" };
  const state = { course: null };

  function csrf() {
    const m = document.cookie.match(/(?:^|; )ivmon_csrf=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function day(ts) { return Review.dateTime(ts).slice(0, 10); }

  function effects(s) {
    const e = Object.entries(s.side_effects);
    return e.length ? e.map(([k, n]) => `${state.course.adverse_categories[k] || k} ×${n}`).join(", ") : "none";
  }

  function draw(c) {
    const traces = [];
    for (const scale of c.outcome_scales) {
      const pts = c.outcomes.filter((o) => o.scale === scale.key);
      if (!pts.length) continue;
      traces.push({ name: scale.title, x: pts.map((o) => o.date), y: pts.map((o) => o.score), mode: "lines+markers",
        line: { color: COLOURS[scale.key] }, yaxis: "y", hovertemplate: `${scale.title}: %{y} (0-${scale.max})<extra>%{x}</extra>` });
    }
    const s = c.sessions;
    traces.push({ name: "Peak SBP (mmHg)", type: "bar", x: s.map((x) => day(x.started)), y: s.map((x) => x.peak_sbp),
      width: 0.8 * 86400000, marker: { color: "#e0a80088" }, yaxis: "y2", customdata: s.map((x) => [x.id, effects(x)]),
      hovertemplate: "session %{customdata[0]}: peak SBP %{y} mmHg<br>%{customdata[1]}<extra></extra>" });
    traces.push({ name: "Baseline SBP (mmHg)", x: s.map((x) => day(x.started)), y: s.map((x) => x.baseline_sbp),
      mode: "markers", marker: { symbol: "line-ew-open", size: 18, color: "#333" }, yaxis: "y2" });
    traces.push({ name: "Dose given (mg/kg)", x: s.map((x) => day(x.started)), y: s.map((x) => x.given_mg_per_kg),
      mode: "markers", marker: { symbol: "diamond", size: 9, color: "#c0392b" }, yaxis: "y3" });
    const withEffects = s.filter((x) => Object.keys(x.side_effects).length);
    traces.push({ name: "Side effects", x: withEffects.map((x) => day(x.started)), y: withEffects.map(() => 0),
      mode: "markers", marker: { symbol: "triangle-up", size: 12, color: "#b3001b" }, yaxis: "y3",
      text: withEffects.map(effects), hovertemplate: "%{text}<extra></extra>" });
    const layout = {
      margin: { l: 60, r: 70, t: 20, b: 60 }, showlegend: true, legend: { orientation: "h", y: -0.15 },
      xaxis: { type: "date", anchor: "y2" },
      yaxis: { title: { text: "outcome score" }, domain: [0.42, 1], rangemode: "tozero", anchor: "x" },
      yaxis2: { title: { text: "SBP (mmHg)" }, domain: [0, 0.36], rangemode: "tozero" },
      yaxis3: { title: { text: "mg/kg" }, overlaying: "y2", side: "right", rangemode: "tozero" },
      paper_bgcolor: "#fff", plot_bgcolor: "#fff",
    };
    Plotly.react("chart", traces, layout, { responsive: true, displaylogo: false });
  }

  function cell(text, cls) { return Review.el("td", cls ? { class: cls, text } : { text }); }

  function tables(c) {
    const rows = c.sessions.map((s) => {
      const a = s.alarms;
      const tr = Review.el("tr", { "data-session": String(s.id) },
        cell(day(s.started)), Review.el("td", {}, Review.el("a", { href: `/sessions/${s.id}`, text: String(s.id) })),
        cell(s.protocol || "–"), cell(Review.num(s.dose_mg_per_kg, 2), "num"), cell(Review.num(s.given_mg_per_kg, 2), "num"),
        cell(s.baseline_sbp == null ? "–" : `${Review.num(s.baseline_sbp)}/${Review.num(s.baseline_dbp)}`, "num"),
        cell(Review.num(s.peak_sbp), "num"), cell(Review.num(s.peak_sbp_rise), "num"),
        cell(`${a.high ?? "–"}/${a.medium ?? "–"}/${a.low ?? "–"}`, "num"), cell(effects(s)));
      return tr;
    });
    document.querySelector("#sessions tbody").replaceChildren(...rows);
    const titles = Object.fromEntries(c.outcome_scales.map((s) => [s.key, s.title]));
    document.querySelector("#outcomes tbody").replaceChildren(...c.outcomes.map((o) =>
      Review.el("tr", { "data-outcome": String(o.id) }, cell(o.date), cell(titles[o.scale] || o.scale), cell(String(o.score), "num"), cell(o.user))));
  }

  async function load() {
    const c = await Review.getJSON(`${api}/course`);
    state.course = c;
    tables(c);
    draw(c);
    document.body.dataset.outcomes = String(c.outcomes.length);
  }

  function form() {
    const select = document.getElementById("o-scale");
    const score = document.getElementById("o-score");
    const scales = state.course.outcome_scales;
    select.replaceChildren(...scales.map((s) => Review.el("option", { value: s.key, text: `${s.title} (0-${s.max})` })));
    const limit = () => { score.max = String(scales.find((s) => s.key === select.value).max); };
    select.onchange = limit;
    limit();
    document.getElementById("o-date").value = new Date().toISOString().slice(0, 10);
    document.getElementById("outcome").onsubmit = async (ev) => {
      ev.preventDefault();
      const msg = document.getElementById("o-msg");
      const res = await fetch(`${api}/outcomes`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
        body: JSON.stringify({ scale: select.value, score: Number(score.value), date: document.getElementById("o-date").value }),
      });
      if (res.ok) { msg.textContent = "outcome recorded"; score.value = ""; await load(); }
      else {
        const body = await res.json().catch(() => ({}));
        msg.textContent = typeof body.detail === "string" ? body.detail : `${res.status} ${res.statusText}`;
      }
    };
  }

  async function main() {
    document.getElementById("title").textContent = `Course of treatment · patient ${ref}`;
    document.getElementById("dl-csv").href = `${api}/course.csv`;
    document.getElementById("dl-pdf").href = `${api}/course.pdf`;
    Review.who();
    await load();
    form();
    document.body.dataset.ready = "1";
  }

  main().catch((e) => { document.getElementById("title").textContent = `Course not available: ${e.message}`; });
})();
