// No page hides an alarm: every signed-in page keeps every chair's alarms from /ws/live, shows them in
// the alarm bar (central view) or a compact strip (other pages) with the same Acknowledge / Silence,
// sounds the same tones, and shows the "connection lost" banner (with its own tone after 10 s).
"use strict";

import { AlarmStrip, ASK_MS, sortForScreen } from "./alarmstrip.js";
import { AlarmAudio } from "./audio.js";
import { onScreen, post } from "./common.js";
import { setClass, setHidden, setText } from "./dom.js";
import { fmtAge } from "./format.js";

const DOCK = `
<div class="alarmdock">
  <button id="sound" type="button" class="sound">Sound is off: click to enable alarm sound</button>
  <span id="audio-paused" class="audio-paused" hidden></span>
  <section id="alarmbar" class="strip compact" aria-label="Alarms of every chair" hidden></section>
</div>`;

/** The page's alarm elements; pages without them (bed page, review) get the compact dock after their header. */
function dockElements() {
  if (!document.getElementById("banner")) {
    const banner = document.createElement("div");
    Object.assign(banner, { id: "banner", className: "banner", textContent: "Connection lost: data not current" });
    banner.setAttribute("role", "alert");
    document.body.prepend(banner); // the banner spans the page's top, above everything
  }
  if (!document.getElementById("alarmbar")) {
    const header = document.querySelector("body > header");
    const holder = document.createElement("div");
    holder.innerHTML = DOCK;
    const dock = holder.firstElementChild;
    if (header) header.after(dock); else document.body.prepend(dock);
  }
  const get = (id) => document.getElementById(id);
  return { bar: get("alarmbar"), sound: get("sound"), paused: get("audio-paused"), banner: get("banner") };
}

export class AlarmWatch {
  /** `onChange` is called when the page should render again (e.g. after an acknowledge). */
  constructor(onChange) {
    this.alarms = new Map();
    this.labels = new Map();
    this.pending = new Set(); // "id:action" in flight: a double click sends one request
    // Alarms acknowledged here whose actionable answer is offered: id -> {until (performance.now()), alarm}.
    // One that left the screens with its acknowledgement keeps its row (greyed) until then.
    this.asking = new Map();
    this.onChange = onChange;
    this.audio = new AlarmAudio();
    this.lostSince = null; // when the connection was last seen lost (seconds), null while current
    this.els = dockElements();
    this.strip = new AlarmStrip(this.els.bar, {
      labelOf: (bed) => this.labels.get(bed) || bed,
      onAct: (id, what) => this.act(id, what),
      onRelease: () => this.onChange(),
      asking: (id) => (this.asking.get(id)?.until ?? 0) > performance.now(),
    });
    this.els.sound.addEventListener("click", async () => { await this.audio.enable(); this.onChange(); });
  }

  label(bed) { return this.labels.get(bed) || bed; }

  set(a) {
    if (onScreen(a)) this.alarms.set(a.id, a); else this.alarms.delete(a.id);
  }

  /** Take what concerns alarms from a /ws/live message; true when something changed. */
  apply(msg) {
    switch (msg.type) {
      case "batch": return msg.messages.map((m) => this.apply(m)).some(Boolean);
      case "snapshot":
        for (const b of msg.beds) this.labels.set(b.id, b.label || b.id);
        this.alarms.clear();
        for (const a of msg.alarms) this.set(a);
        return true;
      case "alarm": this.set(msg.alarm); return true;
      default: return false;
    }
  }

  async act(id, what) {
    const answer = what === "actionable" || what === "not-actionable";
    const key = answer ? `${id}:answer` : `${id}:${what}`;
    if (this.pending.has(key)) return;
    this.pending.add(key);
    try {
      const url = `/api/alarms/${encodeURIComponent(id)}/${answer ? "actionable" : what}`;
      const res = await post(url, answer ? { actionable: what === "actionable" } : undefined);
      if (res.ok && answer) {
        this.answered(id, what === "actionable");
      } else if (res.ok) {
        const a = await res.json();
        if (a.state) this.set(a);
        if (what === "acknowledge" && a.state && a.actionable == null) {
          this.asking.set(id, { until: performance.now() + ASK_MS, alarm: a });
        }
      } else if (res.status === 404) {
        this.alarms.delete(id); // no longer on screen anywhere
      }
    } finally {
      this.pending.delete(key);
      this.onChange();
    }
  }

  /** The answer is stored: shown on the row, no longer offered. */
  answered(id, actionable) {
    for (const a of [this.alarms.get(id), this.asking.get(id)?.alarm]) if (a) a.actionable = actionable;
    const held = this.asking.get(id);
    if (held) held.until = 0;
  }

  /** The alarms in screen order, with those acknowledged here while their answer is offered. */
  list() {
    const now = performance.now();
    const shown = new Map(this.alarms);
    for (const [id, { until, alarm }] of this.asking) {
      if (until <= now) this.asking.delete(id);
      else if (!shown.has(id)) shown.set(id, alarm);
    }
    return sortForScreen([...shown.values()]);
  }

  /** Draw the strip, the sound prompt, the banner; sound what is due. `current`: the live data is current. */
  render(now, current, alarms = this.list()) {
    this.strip.render(alarms, now);
    // Tones and the lost connection run on this machine's time (the server's clock may be a demo's, faster).
    const real = performance.now() / 1000;
    if (current) this.lostSince = null; else if (this.lostSince === null) this.lostSince = real;
    const lostFor = current ? 0 : real - this.lostSince;
    const { sound, paused, banner } = this.els;
    setHidden(banner, current);
    setClass(document.body, "disconnected", !current);
    const sounding = this.audio.update(alarms, real, lostFor);
    const silenced = alarms.filter((a) => a.silenced_until && a.silenced_until > now);
    setHidden(paused, !silenced.length);
    if (silenced.length) setText(paused, `AUDIO PAUSED (${silenced.length}) · ${fmtAge(Math.max(...silenced.map((a) => a.silenced_until)) - now)}`);
    const audio = this.audio;
    setHidden(sound, audio.enabled);
    setText(sound, audio.blocked ? "The browser blocks alarm sound: click anywhere to allow it" : "Sound is off: click to enable alarm sound");
    setClass(sound, "blocked", audio.blocked);
    setClass(sound, "urgent", !!sounding);
  }
}
