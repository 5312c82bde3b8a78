// Alarm tones through the Web Audio API, one pattern per priority (after IEC 60601-1-8:
// high: two bursts of five fast pulses, medium: three slower pulses, low: one or two pulses).
// Browsers start audio only after a click: until then the page shows a prompt to enable sound.
"use strict";

const PATTERN = {
  high: { freq: 880, pulses: [0, 0.2, 0.4, 0.9, 1.1], dur: 0.15, every: 6 },
  medium: { freq: 660, pulses: [0, 0.35, 0.7], dur: 0.2, every: 12 },
  low: { freq: 520, pulses: [0, 0.35], dur: 0.25, every: 30 },
};

export class AlarmAudio {
  constructor() {
    this.ctx = null;
    this.last = { high: 0, medium: 0, low: 0 };
    this.playing = null; // priority sounding now (for the page and tests)
  }

  get enabled() { return !!this.ctx && this.ctx.state === "running"; }

  async enable() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return false;
    this.ctx = this.ctx || new Ctx();
    await this.ctx.resume();
    return this.enabled;
  }

  /** Called every second with the alarms on screen: sound the highest priority that is active (not silenced, not acknowledged). */
  update(alarms, now) {
    const sounding = alarms.filter((a) => a.state === "active");
    const top = ["high", "medium", "low"].find((p) => sounding.some((a) => a.priority === p)) || null;
    this.playing = top;
    if (!top || !this.enabled) return top;
    const p = PATTERN[top];
    if (now - this.last[top] >= p.every) {
      this.last[top] = now;
      this.beep(p);
    }
    return top;
  }

  beep(p) {
    const t = this.ctx.currentTime + 0.02;
    for (const offset of p.pulses) {
      const osc = this.ctx.createOscillator();
      const gain = this.ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = p.freq;
      gain.gain.setValueAtTime(0, t + offset);
      gain.gain.linearRampToValueAtTime(0.3, t + offset + 0.02);
      gain.gain.setValueAtTime(0.3, t + offset + p.dur - 0.03);
      gain.gain.linearRampToValueAtTime(0, t + offset + p.dur);
      osc.connect(gain).connect(this.ctx.destination);
      osc.start(t + offset);
      osc.stop(t + offset + p.dur + 0.01);
    }
  }
}
