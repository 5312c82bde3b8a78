// Alarm tones through the Web Audio API, one pattern per priority (after IEC 60601-1-8:
// high: two bursts of five fast pulses, medium: three slower pulses, low: one or two pulses), and a
// distinct low two-tone for a lost connection (the screen itself is no longer watching).
// Browsers start audio only after a user gesture: the choice "sound on" is kept for the browser's
// session (sessionStorage), and on a new page the sound resumes at the first click or key; until
// then the page shows a flashing prompt that the browser blocks the sound.
"use strict";

const PATTERN = {
  high: { freq: [880], pulses: [0, 0.2, 0.4, 0.9, 1.1], dur: 0.15, every: 6 },
  medium: { freq: [660], pulses: [0, 0.35, 0.7], dur: 0.2, every: 12 },
  low: { freq: [520], pulses: [0, 0.35], dur: 0.25, every: 30 },
  connection: { freq: [392, 294], pulses: [0, 0.5, 1.0, 1.5], dur: 0.4, every: 10 },
};
const KEY = "ivmon.sound";
/** Connection lost for this long (seconds): the technical tone sounds. */
export const CONNECTION_TONE_AFTER_S = 10;

export class AlarmAudio {
  constructor() {
    this.ctx = null;
    this.last = { high: -Infinity, medium: -Infinity, low: -Infinity, connection: -Infinity };
    this.playing = null; // what sounds now: a priority, "connection", or null (for the page and tests)
    this.beeps = { high: 0, medium: 0, low: 0, connection: 0 }; // patterns started (tests, debugging)
    this.wanted = sessionStorage.getItem(KEY) === "on";
    if (this.wanted) {
      // Resume at the first gesture anywhere on the page: a nurse's first click also unblocks the sound.
      const resume = () => { this.start(); };
      document.addEventListener("pointerdown", resume, true);
      document.addEventListener("keydown", resume, true);
      this.start();
    }
  }

  get enabled() { return !!this.ctx && this.ctx.state === "running"; }

  /** The nurse turned sound on but the browser has not let it start yet. */
  get blocked() { return this.wanted && !this.enabled; }

  start() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return Promise.resolve(false);
    this.ctx = this.ctx || new Ctx();
    if (this.ctx.state === "running") return Promise.resolve(true);
    return this.ctx.resume().then(() => this.enabled, () => false);
  }

  async enable() {
    this.wanted = true;
    sessionStorage.setItem(KEY, "on");
    return this.start();
  }

  /**
   * Called with the alarms on screen: sound the highest priority that is active (not silenced, not
   * acknowledged); a connection lost for CONNECTION_TONE_AFTER_S sounds its own tone instead (the
   * alarms on screen may be out of date).
   */
  update(alarms, now, lostFor = 0) {
    let top = null;
    if (lostFor >= CONNECTION_TONE_AFTER_S) top = "connection";
    else {
      const sounding = alarms.filter((a) => a.state === "active");
      top = ["high", "medium", "low"].find((p) => sounding.some((a) => a.priority === p)) || null;
    }
    this.playing = top;
    if (!top || !this.enabled) return top;
    const p = PATTERN[top];
    if (now - this.last[top] >= p.every) {
      this.last[top] = now;
      this.beeps[top]++;
      this.beep(p);
    }
    return top;
  }

  beep(p) {
    const t = this.ctx.currentTime + 0.02;
    p.pulses.forEach((offset, i) => {
      const osc = this.ctx.createOscillator();
      const gain = this.ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = p.freq[i % p.freq.length];
      gain.gain.setValueAtTime(0, t + offset);
      gain.gain.linearRampToValueAtTime(0.3, t + offset + 0.02);
      gain.gain.setValueAtTime(0.3, t + offset + p.dur - 0.03);
      gain.gain.linearRampToValueAtTime(0, t + offset + p.dur);
      osc.connect(gain).connect(this.ctx.destination);
      osc.start(t + offset);
      osc.stop(t + offset + p.dur + 0.01);
    });
  }
}
