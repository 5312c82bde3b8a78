// Shared by the pages: API calls with the CSRF header, formatting, and the live connection.
"use strict";

export const PRIORITY = { high: 3, medium: 2, low: 1 };
export const PREFIX = { high: "***", medium: "**", low: "*" };
export const HEARTBEAT_LOST_S = 10;

/**
 * The server's clinical clock: its time and rate (clock seconds per real second), from the snapshot
 * and every heartbeat. Ages and staleness on screen are counted on it, so they run as the server's
 * do, also in a demo at --speed 30; before the first message it is this machine's clock.
 */
const serverClock = { ts: null, at: 0, rate: 1 };

export function serverNow() {
  if (serverClock.ts === null) return Date.now() / 1000;
  return serverClock.ts + (performance.now() / 1000 - serverClock.at) * serverClock.rate;
}

function readServerClock(msg) {
  if (msg.type === "batch") { for (const m of msg.messages || []) readServerClock(m); return; }
  if ((msg.type === "snapshot" || msg.type === "heartbeat") && typeof msg.ts === "number") {
    serverClock.ts = msg.ts;
    serverClock.at = performance.now() / 1000;
    serverClock.rate = typeof msg.rate === "number" && msg.rate > 0 ? msg.rate : 1;
  }
}

export function cookie(name) {
  const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
  return m ? decodeURIComponent(m[1]) : null;
}

function toLogin() {
  location.href = "/login?next=" + encodeURIComponent(location.pathname);
}

export async function getJSON(url) {
  const res = await fetch(url, { headers: { Accept: "application/json" } });
  if (res.status === 401) { toLogin(); throw new Error("login required"); }
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.json();
}

export async function send(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: { "Content-Type": "application/json", "X-CSRF-Token": cookie("ivmon_csrf") || "" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) toLogin();
  return res;
}

export const post = (url, body) => send("POST", url, body || {});

export async function errorText(res) {
  const body = await res.json().catch(() => ({}));
  const d = body.detail;
  if (Array.isArray(d)) return d.map((e) => `${(e.loc || []).slice(-1)[0]}: ${e.msg}`).join("; ");
  return d || `${res.status} ${res.statusText}`;
}

export function fmtAge(s) {
  s = Math.max(0, s);
  if (s < 60) return Math.round(s) + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

export function fmtClock(ts) {
  return new Date(ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function byId(id) { return document.getElementById(id); }

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The alarm is on screen: active, silenced, acknowledged, or a latched high alarm not yet acknowledged. */
export function onScreen(a) {
  if (a.filed) return false; // ended with its session: filed, never carried to the next patient or chair
  return a.state !== "resolved" || (a.priority === "high" && !a.acknowledged_at);
}

export function sortAlarms(list) {
  return list.sort((a, b) => PRIORITY[b.priority] - PRIORITY[a.priority] || a.started - b.started);
}

export async function whoAmI() {
  const me = await getJSON("/api/me");
  const who = byId("who");
  if (who) who.textContent = `${me.username} (${me.role})`;
  const review = byId("review-link");
  if (review) review.hidden = me.role === "nurse"; // the review pages are for clinicians and admins
  const out = byId("logout");
  if (out) out.onclick = async () => { await post("/api/logout"); location.href = "/login"; };
  return me;
}

/**
 * /ws/live with resume: after a drop it reconnects with ?since=SEQ&epoch=E and gets what it
 * missed (or a fresh snapshot). No message for HEARTBEAT_LOST_S (the server sends a heartbeat
 * every 5 s) counts as a drop: the socket is closed and reopened.
 */
export class LiveConnection {
  constructor(onMessage, onStatus) {
    this.onMessage = onMessage;
    this.onStatus = onStatus || (() => {});
    this.seq = 0;
    this.epoch = null;
    this.ws = null;
    this.lastMessage = 0;
    this.attempt = 0;
    this.connected = false;
    setInterval(() => this.watch(), 1000);
  }

  get current() {
    return this.connected && Date.now() / 1000 - this.lastMessage <= HEARTBEAT_LOST_S;
  }

  connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const q = this.epoch ? `?since=${this.seq}&epoch=${this.epoch}` : "";
    // The central view's open socket keeps its login from the idle timeout (dashboard/revocation.py).
    const view = location.pathname === "/" ? `${q ? "&" : "?"}view=central` : "";
    const ws = new WebSocket(`${proto}://${location.host}/ws/live${q}${view}`);
    this.ws = ws;
    ws.onopen = () => { this.attempt = 0; this.opened = true; };
    this.opened = false;
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      readServerClock(msg);
      if (msg.type === "snapshot" || msg.type === "resume") {
        this.epoch = msg.epoch || null;
        this.seq = msg.seq || 0; // a new server's seq may be lower: the snapshot replaces everything
        this.connected = true;
      } else if (msg.seq) {
        this.seq = Math.max(this.seq, msg.seq);
      }
      this.onMessage(msg);
      // Only a message the page could apply counts as contact: otherwise the banner comes up.
      this.lastMessage = Date.now() / 1000;
      this.onStatus(this.current);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.connected = false;
      this.onStatus(false);
      if (ev.code === 4001) { location.href = "/login"; return; } // logged out elsewhere
      if (!this.opened && this.attempt > 1) {
        // Refused at the handshake more than once: a server that is up but no longer knows this login?
        fetch("/api/me").then((r) => { if (r.status === 401) location.href = "/login?next=" + encodeURIComponent(location.pathname); }, () => {});
      }
      // Backoff with jitter, at most 5 s: the page must recover by itself, soon.
      const delay = Math.min(5000, 500 * 2 ** this.attempt++) * (0.75 + Math.random() * 0.5);
      setTimeout(() => this.connect(), delay);
    };
  }

  watch() {
    if (this.ws && this.connected && Date.now() / 1000 - this.lastMessage > HEARTBEAT_LOST_S) {
      // A silent socket may never finish closing: drop it and open a new one.
      const ws = this.ws;
      this.ws = null;
      this.connected = false;
      try { ws.close(); } catch (e) { /* already closing */ }
      setTimeout(() => this.connect(), 1000);
    }
    this.onStatus(this.current);
  }
}
