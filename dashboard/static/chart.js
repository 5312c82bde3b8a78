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

  plotWidth() { return this.canvas.clientWidth - 60; }

  current() { return this.view || this.extent; }

  setExtent(t0, t1) { this.extent = [t0, t1]; }

  zoom(factor, px) {
    const [t0, t1] = this.current();
    const at = t0 + ((px - 50) / this.plotWidth()) * (t1 - t0);
    const span = Math.max(60, (t1 - t0) * factor);
    const f = (at - t0) / (t1 - t0);
    this.view = [at - f * span, at + (1 - f) * span];
    this.draw();
  }

  draw() {
    const [ctx, w, h] = fit(this.canvas);
    const [t0, t1] = this.current();
    const left = 50, right = w - 10, ph = (h - 24) / this.panels.length;
    const x = (t) => left + ((t - t0) / (t1 - t0)) * (right - left);
    ctx.font = "11px system-ui, sans-serif";
    this.panels.forEach((panel, i) => {
      const top = i * ph + 4, bottom = top + ph - 8;
      const lists = panel.series.map((s) => (this.data[s.key] || []).filter((p) => p[0] >= t0 && p[0] <= t1));
      const r = range(lists, 2, panel.floor || 10) || [0, 100];
      const y = (v) => bottom - ((v - r[0]) / (r[1] - r[0])) * (bottom - top);
      ctx.strokeStyle = "#2d3640";
      ctx.strokeRect(left, top, right - left, bottom - top);
      ctx.fillStyle = css("--muted");
      ctx.fillText(panel.title, left + 4, top + 12);
      ctx.fillText(Math.round(r[1]), 4, top + 10);
      ctx.fillText(Math.round(r[0]), 4, bottom);
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
    });
    for (const m of this.markers) {
      if (m.ts < t0 || m.ts > t1) continue;
      ctx.strokeStyle = m.color;
      ctx.setLineDash([4, 3]);
      ctx.beginPath(); ctx.moveTo(x(m.ts), 0); ctx.lineTo(x(m.ts), h - 20); ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = m.color;
      ctx.fillText(m.label, x(m.ts) + 3, h - 24);
    }
    ctx.fillStyle = css("--muted");
    const ticks = 6;
    for (let k = 0; k <= ticks; k++) {
      const t = t0 + ((t1 - t0) * k) / ticks;
      const opts = t1 - t0 < 900 ? { hour: "2-digit", minute: "2-digit", second: "2-digit" } : { hour: "2-digit", minute: "2-digit" };
      const label = new Date(t * 1000).toLocaleTimeString([], opts);
      ctx.fillText(label, Math.min(x(t) - 14, w - 40), h - 6);
    }
  }
}
