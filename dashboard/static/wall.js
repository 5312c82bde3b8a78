// Wall mode: every chair on one screen without scrolling (12 at 1920x1080, 8 on a 1024x768 tablet),
// the alarm bar included. The grid's columns and rows are chosen for the space that is left below the
// header and the alarm bar; the tiles drop their sparklines when they get small (CSS container queries).
"use strict";

const KEY = "ivmon.wall";
const IDEAL = { w: 330, h: 250 }; // a tile's comfortable size: the layout keeps close to its shape

export function bedOrder(beds) {
  return beds.sort((a, b) => (a.label || a.id).localeCompare(b.label || b.id, undefined, { numeric: true }) || a.id.localeCompare(b.id));
}

export function wallWanted() {
  const q = new URLSearchParams(location.search).get("wall");
  if (q !== null) localStorage.setItem(KEY, q === "0" ? "off" : "on");
  return localStorage.getItem(KEY) === "on";
}

export function setWall(on) {
  localStorage.setItem(KEY, on ? "on" : "off");
  document.body.classList.toggle("wall", on);
}

/** Columns and rows for `n` tiles in `w` x `h` pixels: the most even fit to the ideal tile shape. */
export function bestGrid(n, w, h) {
  let best = { cols: 1, rows: n, score: -1 };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const score = Math.min(w / cols / IDEAL.w, h / rows / IDEAL.h);
    if (score > best.score) best = { cols, rows, score };
  }
  return best;
}

export function layoutWall(tiles, n) {
  if (!document.body.classList.contains("wall") || !n) return;
  const top = tiles.getBoundingClientRect().top + window.scrollY;
  const avail = Math.max(200, window.innerHeight - top);
  const { cols, rows } = bestGrid(n, tiles.clientWidth, avail);
  const set = (k, v) => { if (tiles.style.getPropertyValue(k) !== v) tiles.style.setProperty(k, v); };
  set("--cols", String(cols));
  set("--rows", String(rows));
  set("--avail", `${avail}px`);
}
