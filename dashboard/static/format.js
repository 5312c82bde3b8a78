// Every number a person reads carries its unit and, where it matters, its time.
"use strict";

export const UNIT = { hr: "bpm", pr: "bpm", spo2: "%", sbp: "mmHg", dbp: "mmHg", map: "mmHg", rr: "/min", etco2: "mmHg" };
export const VITAL_NAME = { hr: "HR", pr: "PR", spo2: "SpO2", sbp: "SYS", dbp: "DIA", map: "MAP", rr: "RR", etco2: "etCO2" };
export const PREFIX = { high: "***", medium: "**", low: "*" };

/** "85 %", "150 mmHg", "72 bpm"; a value without a known vital is a bare number. */
export function withUnit(vital, value) {
  if (value === null || value === undefined) return "";
  const unit = UNIT[vital];
  return unit ? `${Math.round(value)} ${unit}` : String(Math.round(value));
}

export function fmtAge(s) {
  s = Math.max(0, s);
  if (s < 60) return Math.round(s) + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

/** "12:05" (minutes) for a countdown or a timer that runs for minutes to hours. */
export function fmtTimer(s) {
  const neg = s < 0;
  s = Math.abs(Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const body = h ? `${h}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}` : `${m}:${String(sec).padStart(2, "0")}`;
  return (neg ? "-" : "") + body;
}

/** What an alarm measured: "SpO2 85 % (limit 90 %)"; empty for an alarm without a value. */
export function alarmValue(a) {
  if (a.value === null || a.value === undefined) return "";
  const name = VITAL_NAME[a.vital] || "";
  const limit = a.limit !== null && a.limit !== undefined ? ` (limit ${withUnit(a.vital, a.limit)})` : "";
  return `${name ? name + " " : ""}${withUnit(a.vital, a.value)}${limit}`;
}

/** The qualifiers a nurse must read with the alarm: doubtful reading, no session. */
export function alarmFlags(a) {
  const flags = [];
  if (a.doubtful) flags.push("doubtful reading");
  if (a.bed && a.session === null && a.kind === "physiological") flags.push("no session: always-on rule");
  return flags;
}

/** The alarm's state in words: a latched one says it is over but nobody has acknowledged it. */
export function alarmState(a) {
  if (a.state === "resolved") return a.acknowledged_at ? `resolved, acknowledged by ${a.acknowledged_by}` : "resolved, not acknowledged";
  if (a.state === "acknowledged") return `acknowledged by ${a.acknowledged_by}`;
  if (a.state === "silenced") return a.acknowledged_by ? `silenced, acknowledged by ${a.acknowledged_by}` : "silenced";
  return "active";
}
