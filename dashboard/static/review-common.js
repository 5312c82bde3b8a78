// Shared by the review pages: fetch with login redirect, time and number formatting (local time).
"use strict";

const Review = (() => {
  async function getJSON(url) {
    const res = await fetch(url, { headers: { Accept: "application/json" } });
    if (res.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); throw new Error("login"); }
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error(body.detail || res.statusText);
    }
    return res.json();
  }
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  // Plotly takes date strings as wall-clock times: give it local time, to the millisecond.
  function plotTime(ts) {
    const d = new Date(ts * 1000);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }
  function dateTime(ts) {
    if (ts == null) return "–";
    const d = new Date(ts * 1000);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }
  function clock(ts) {
    if (ts == null) return "–";
    const d = new Date(ts * 1000);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function duration(s) {
    if (s == null) return "–";
    s = Math.round(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return h ? `${h} h ${pad(m)} min` : m ? `${m} min ${pad(sec)} s` : `${sec} s`;
  }
  function num(x, digits = 0) { return x == null ? "–" : Number(x).toFixed(digits); }
  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }
  async function who() {
    try {
      const me = await getJSON("/api/me");
      const w = document.getElementById("who");
      if (w) w.textContent = `${me.username} (${me.role})`;
    } catch (e) { /* the page redirects on 401 */ }
  }
  return { getJSON, plotTime, dateTime, clock, duration, num, el, who };
})();
