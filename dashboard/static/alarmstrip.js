// The alarm bar (central view) and the compact alarm strip (every other signed-in page): one row per
// alarm, keyed by the alarm's id. A render changes only the text and classes that changed; a row and
// its buttons live as long as their alarm, so a press and release on a button always land on the same
// node (a bar rebuilt while data streams loses clicks). While the pointer is over the strip (moved in the
// last STILL_MS, or pressed), no row moves: a new alarm is added at the end, an ended one stays in its
// place greyed with its buttons disabled, and the order is put right when the pointer leaves or rests,
// so a press never lands on another alarm than the one the nurse aimed at.
// After an acknowledgement, the row offers the one-tap answer "Actionable" / "Not actionable" for
// ASK_MS (optional: nothing waits for it). Its place is kept in every row from the start (hidden, not
// removed), so the buttons appearing never shift Acknowledge or Silence under the pointer.
"use strict";

import { placeInOrder, setAttr, setClass, setDisabled, setHidden, setText } from "./dom.js";
import { alarmFlags, alarmState, alarmValue, fmtAge, PREFIX } from "./format.js";

const RANK = { high: 3, medium: 2, low: 1 };
const HOLD_MS = 1500;
const STILL_MS = 3000;
/** How long the actionable answer is offered after an acknowledgement. */
export const ASK_MS = 10000;

/** The order on screen: current alarms by priority then age, then the resolved (latched) ones. */
export function sortForScreen(list) {
  return list.sort((a, b) =>
    (a.state === "resolved") - (b.state === "resolved") || RANK[b.priority] - RANK[a.priority] || a.started - b.started || (a.id < b.id ? -1 : 1));
}

function span(cls) {
  const s = document.createElement("span");
  s.className = cls;
  return s;
}

function button(cls, act, text) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.dataset.act = act;
  b.textContent = text;
  return b;
}

export class AlarmStrip {
  /**
   * @param container the element holding the rows (its children are owned by the strip)
   * @param labelOf bed id -> the chair's label
   * @param onAct (alarmId, "acknowledge" | "silence" | "actionable" | "not-actionable") -> Promise
   * @param onRelease called when a held render may go ahead
   * @param asking alarmId -> true while its actionable answer is offered
   */
  constructor(container, { labelOf, onAct, onRelease, asking = () => false }) {
    this.container = container;
    this.labelOf = labelOf;
    this.onAct = onAct;
    this.asking = asking;
    this.rows = new Map(); // alarm id -> {row, parts}
    this.pressed = 0; // time a pointer went down in the strip (0: none)
    // One listener for every button, now and later: nothing to re-attach when a row changes.
    container.addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-act]");
      const row = b && b.closest("[data-alarm]");
      if (!row || b.disabled) return;
      this.onAct(row.dataset.alarm, b.dataset.act);
    });
    this.moved = 0; // last time the pointer moved over the strip (0: not over it)
    container.addEventListener("pointerdown", () => { this.pressed = performance.now(); });
    container.addEventListener("pointermove", () => { this.moved = performance.now(); });
    container.addEventListener("pointerleave", () => { this.moved = 0; onRelease(); });
    const release = () => { if (this.pressed) { this.pressed = 0; onRelease(); } };
    window.addEventListener("pointerup", release, true);
    window.addEventListener("pointercancel", release, true);
  }

  /** Rows stay where they are: the pointer is over the strip, or pressed in it. */
  get holding() {
    const now = performance.now();
    return (this.pressed > 0 && now - this.pressed < HOLD_MS) || (this.moved > 0 && now - this.moved < STILL_MS);
  }

  makeRow(a) {
    const row = document.createElement("div");
    row.dataset.alarm = a.id;
    row.setAttribute("role", "group");
    const parts = {
      prio: span("prio"), kind: span("kind"), msg: span("msg"), value: span("value"), flags: span("flags"),
      state: span("state"), esc: span("esc"), paused: span("paused"), age: span("age"),
      ack: button("ack", "acknowledge", "Acknowledge"), silence: button("silence", "silence", "Silence 2 min"),
      ask: span("ask"), yes: button("yes", "actionable", "Actionable"), no: button("no", "not-actionable", "Not actionable"),
    };
    parts.esc.textContent = "ESCALATED";
    parts.ask.append(parts.yes, parts.no);
    parts.ask.setAttribute("aria-label", "Was this alarm actionable?");
    const { yes, no, ...shown } = parts;
    row.append(...Object.values(shown));
    return { row, parts };
  }

  /** Show `alarms` (already in screen order, see sortForScreen). */
  render(alarms, now) {
    const hold = this.holding;
    const wanted = new Set(alarms.map((a) => a.id));
    const fresh = [];
    for (const a of alarms) {
      let entry = this.rows.get(a.id);
      if (!entry) {
        entry = this.makeRow(a);
        this.rows.set(a.id, entry);
        fresh.push(entry.row);
      }
      this.update(entry, a, now);
      setClass(entry.row, "gone", false);
    }
    if (hold) {
      // Nothing moves under the pointer: ended alarms keep their place (greyed, buttons off), new ones go last.
      for (const [id, entry] of this.rows) {
        if (wanted.has(id)) continue;
        setClass(entry.row, "gone", true);
        setDisabled(entry.parts.ack, true);
        setDisabled(entry.parts.silence, true);
        this.offer(entry.parts, false);
      }
      for (const row of fresh) this.container.append(row);
      setHidden(this.container, !this.rows.size);
      return;
    }
    for (const [id, entry] of this.rows) if (!wanted.has(id)) { entry.row.remove(); this.rows.delete(id); }
    placeInOrder(this.container, alarms.map((a) => this.rows.get(a.id).row));
    setHidden(this.container, !alarms.length);
  }

  update({ row, parts }, a, now) {
    const label = a.bed ? this.labelOf(a.bed) : a.source ? `unassigned monitor ${a.source.device}` : a.kind === "technical" ? "whole site" : "unassigned device";
    setAttr(row, "class", `alarm ${a.priority} ${a.kind} ${a.state}${a.doubtful ? " doubtful" : ""}`);
    setAttr(row, "data-bed", a.bed || "");
    setAttr(row, "aria-label", `${PREFIX[a.priority]} ${label}: ${a.message}`);
    setText(parts.prio, PREFIX[a.priority]);
    setText(parts.kind, a.kind === "physiological" ? "" : a.kind === "device" ? "DEVICE" : "TECHNICAL");
    setText(parts.msg, `${label}: ${a.message}`);
    setText(parts.value, alarmValue(a));
    const answer = a.actionable == null ? [] : [a.actionable ? "actionable" : "not actionable"];
    setText(parts.flags, [...alarmFlags(a), ...answer].join(" · "));
    setText(parts.state, alarmState(a));
    setHidden(parts.esc, !(a.escalated && a.state !== "resolved"));
    const paused = a.silenced_until && a.silenced_until > now;
    setHidden(parts.paused, !paused);
    if (paused) setText(parts.paused, `audio paused ${fmtAge(a.silenced_until - now)}`);
    setText(parts.age, fmtAge(now - a.started));
    setDisabled(parts.ack, !!a.acknowledged_at && a.state !== "silenced");
    setDisabled(parts.silence, a.state === "resolved");
    this.offer(parts, this.asking(a.id) && a.actionable == null);
  }

  /** Show (or hide, keeping its place) the one-tap actionable answer. */
  offer(parts, open) {
    setClass(parts.ask, "open", open);
    setDisabled(parts.yes, !open);
    setDisabled(parts.no, !open);
  }
}
