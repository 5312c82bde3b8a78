// The project's own small canvas drawing: tile sparklines and the bed page's zoomable trends.
"use strict";

import { serverNow } from "./common.js";

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/** Keep a series sorted and bounded: append points newer than the last, drop those before `fromTs`. */
export function appendPoint(series, ts, value, fromTs) {
  if (!series.length || ts > series[series.length - 1][0]) series.push([ts, value]);
  let cut = 0;
  while (cut < series.length && series[cut][0] < fromTs) cut++;
  if (cut) series.splice(0, cut);
}

function fit(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return [ctx, w, h];
}

function range(lists, pad, floor) {
  let lo = Infinity, hi = -Infinity;
  for (const pts of lists) for (const [, v] of pts) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (!isFinite(lo)) return null;
  if (hi - lo < floor) { const mid = (hi + lo) / 2; lo = mid - floor / 2; hi = mid + floor / 2; }
  return [lo - pad, hi + pad];
}

/**
 * A sparkline of the last `spanS` seconds ending now. Gaps longer than `gapS` break the line
 * (no line is drawn through missing data). `limits` are drawn as faint dashed lines.
 */
export function drawSpark(canvas, seriesList, { now, spanS, colors, gapS = 30, floor = 10, limits = [] }) {
  const [ctx, w, h] = fit(canvas);
  const t0 = now - spanS;
  const visible = seriesList.map((s) => s.filter((p) => p[0] >= t0));
  const r = range(visible, 2, floor);
  if (!r) return;
  const [lo, hi] = r;
  const x = (t) => ((t - t0) / spanS) * (w - 2) + 1;
  const y = (v) => h - 2 - ((v - lo) / (hi - lo)) * (h - 4);
  ctx.setLineDash([2, 3]);
  ctx.strokeStyle = css("--muted");
  ctx.lineWidth = 1;
  for (const l of limits) {
    if (l > lo && l < hi) { ctx.beginPath(); ctx.moveTo(0, y(l)); ctx.lineTo(w, y(l)); ctx.stroke(); }
  }
  ctx.setLineDash([]);
  visible.forEach((pts, i) => {
    ctx.strokeStyle = colors[i] || css("--text");
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let prev = null;
    for (const [t, v] of pts) {
      if (prev === null || t - prev > gapS) ctx.moveTo(x(t), y(v)); else ctx.lineTo(x(t), y(v));
      prev = t;
    }
    ctx.stroke();
    if (pts.length && gapS > 60) { // sparse series (NIBP): dots make each measurement visible
      ctx.fillStyle = ctx.strokeStyle;
      for (const [t, v] of pts) { ctx.beginPath(); ctx.arc(x(t), y(v), 2, 0, 2 * Math.PI); ctx.fill(); }
    }
  });
}

/**
 * Stacked trend panels sharing one time axis. Wheel zooms around the cursor, drag pans,
 * double-click shows everything again. `panels`: [{title, series: [{key, color}], floor, gapS}].
 */
export class TrendChart {
  constructor(canvas, panels) {
    this.canvas = canvas;
    this.panels = panels;
    this.data = {};       // vital -> [[ts, value]]
    this.markers = [];    // [{ts, label, color}]
    this.points = [];     // [{ts, key, value, label}]: readings to mark (a doubtful one)
    this.view = null;     // [t0, t1] when zoomed, else null (follow the data)
    const now = serverNow();
    this.extent = [now - 1800, now];
    canvas.addEventListener("wheel", (ev) => { ev.preventDefault(); this.zoom(ev.deltaY > 0 ? 1.25 : 0.8, ev.offsetX); }, { passive: false });
    canvas.addEventListener("dblclick", () => { this.view = null; this.draw(); });
    let drag = null;
    canvas.addEventListener("mousedown", (ev) => { drag = { x: ev.offsetX, view: this.current() }; });
    window.addEventListener("mouseup", () => { drag = null; });
    canvas.addEventListener("mousemove", (ev) => {
      if (!drag) return;
      const [t0, t1] = drag.view;
      const dt = ((ev.offsetX - drag.x) / this.plotWidth()) * (t1 - t0);
      this.view = [t0 - dt, t1 - dt];
      this.draw();
    });
  }

  plotWidth() { return this.canvas.clientWidth - LEFT - 10; }

  current() { return this.view || this.extent; }

  setExtent(t0, t1) { this.extent = [t0, t1]; }

  zoom(factor, px) {
    const [t0, t1] = this.current();
    const at = t0 + ((px - LEFT) / this.plotWidth()) * (t1 - t0);
    const span = Math.max(60, (t1 - t0) * factor);
    const f = (at - t0) / (t1 - t0);
    this.view = [at - f * span, at + (1 - f) * span];
    this.draw();
  }

  draw() {
    const [ctx, w, h] = fit(this.canvas);
    const [t0, t1] = this.current();
    const left = LEFT, right = w - 10, labelRows = 2, bottomAxis = 18 + labelRows * 13;
    const ph = (h - bottomAxis) / this.panels.length;
    const x = (t) => left + ((t - t0) / (t1 - t0)) * (right - left);
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    this.panels.forEach((panel, i) => {
      const top = i * ph + 6, bottom = top + ph - 10;
      const lists = panel.series.map((s) => (this.data[s.key] || []).filter((p) => p[0] >= t0 && p[0] <= t1));
      let r = range(lists, 2, panel.floor || 10) || [panel.max ? panel.max - 20 : 0, panel.max || 100];
      if (panel.max !== undefined && r[1] > panel.max) r = [Math.max(0, r[0] - (r[1] - panel.max)), panel.max];
      const y = (v) => bottom - ((v - r[0]) / (r[1] - r[0])) * (bottom - top);
      ctx.strokeStyle = "#2d3640";
      ctx.strokeRect(left, top, right - left, bottom - top);
      // y axis: round ticks with their unit, faint grid lines
      ctx.fillStyle = css("--muted");
      ctx.textAlign = "right";
      for (const v of ticks(r[0], r[1], Math.max(2, Math.floor((bottom - top) / 28)))) {
        ctx.fillText(`${v}`, left - 6, y(v));
        ctx.strokeStyle = "#222a33";
        ctx.beginPath(); ctx.moveTo(left, y(v)); ctx.lineTo(right, y(v)); ctx.stroke();
      }
      ctx.save();
      ctx.translate(10, (top + bottom) / 2);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = "center";
      ctx.fillText(panel.unit || "", 0, 0);
      ctx.restore();
      // legend: one colour per series (systolic and diastolic are told apart by colour)
      ctx.textAlign = "left";
      let lx = left + 6;
      ctx.fillText(panel.title, lx, top + 9);
      lx += ctx.measureText(panel.title).width + 10;
      for (const s of panel.series) {
        ctx.fillStyle = s.color;
        ctx.fillRect(lx, top + 6, 10, 4);
        ctx.fillText(s.label || s.key, lx + 13, top + 9);
        lx += 13 + ctx.measureText(s.label || s.key).width + 10;
      }
      lists.forEach((pts, j) => {
        ctx.strokeStyle = panel.series[j].color;
        ctx.fillStyle = panel.series[j].color;
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        let prev = null;
        for (const [t, v] of pts) {
          if (prev === null || t - prev > (panel.gapS || 30)) ctx.moveTo(x(t), y(v)); else ctx.lineTo(x(t), y(v));
          prev = t;
        }
        ctx.stroke();
        if ((panel.gapS || 30) > 60) for (const [t, v] of pts) { ctx.beginPath(); ctx.arc(x(t), y(v), 2.5, 0, 2 * Math.PI); ctx.fill(); }
      });
      // marked points (a doubtful reading that raised an alarm): a ring and a label
      for (const p of this.points) {
        if (!panel.series.some((s) => s.key === p.key) || p.ts < t0 || p.ts > t1) continue;
        const py = y(Math.min(r[1], Math.max(r[0], p.value)));
        ctx.strokeStyle = css("--medium");
        ctx.lineWidth = 2;
        ctx.beginPath(); ctx.arc(x(p.ts), py, 6, 0, 2 * Math.PI); ctx.stroke();
        ctx.fillStyle = css("--medium");
        ctx.fillText(p.label, x(p.ts) + 8, py - 8);
      }
      ctx.lineWidth = 1;
    });
    // markers (phase changes, alarms): labels go to the first free row, never over another label
    const rowsEnd = Array(labelRows).fill(-Infinity);
    const labelTop = h - bottomAxis + 4;
    for (const m of [...this.markers].sort((a, b) => a.ts - b.ts)) {
      if (m.ts < t0 || m.ts > t1) continue;
      const mx = x(m.ts);
      ctx.strokeStyle = m.color;
      ctx.setLineDash([4, 3]);
      ctx.beginPath(); ctx.moveTo(mx, 0); ctx.lineTo(mx, labelTop); ctx.stroke();
      ctx.setLineDash([]);
      const width = ctx.measureText(m.label).width + 6;
      const row = rowsEnd.findIndex((end) => mx > end);
      if (row < 0) continue; // no room: the dashed line still shows where it was
      rowsEnd[row] = mx + width;
      ctx.fillStyle = m.color;
      ctx.textAlign = "left";
      ctx.fillText(m.label, mx + 2, labelTop + 6 + row * 13);
    }
    ctx.fillStyle = css("--muted");
    ctx.textAlign = "center";
    const n = Math.max(2, Math.min(8, Math.floor((right - left) / 90)));
    for (let k = 0; k <= n; k++) {
      const t = t0 + ((t1 - t0) * k) / n;
      const opts = t1 - t0 < 900 ? { hour: "2-digit", minute: "2-digit", second: "2-digit" } : { hour: "2-digit", minute: "2-digit" };
      ctx.fillText(new Date(t * 1000).toLocaleTimeString([], opts), Math.max(left + 20, Math.min(x(t), w - 30)), h - 7);
    }
  }
}

const LEFT = 58;

/** Round tick values between lo and hi (about `count` of them): steps of 1, 2, 5, 10, 20, 50, ... */
export function ticks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Math.round(v * 1000) / 1000);
  return out;
}
