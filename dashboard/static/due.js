// What the session's protocol makes due, counted down on the server's clock: next cuff reading, next
// assessment, planned end of the infusion. The times come from GET /api/sessions/{id}/schedule (the same
// arithmetic that raises "BP due at 40 min not taken"); a page refreshes them every 30 s of clock time and
// whenever a cuff reading or a session change arrives.
"use strict";

import { fmtClock, getJSON, serverNow } from "./common.js";
import { fmtTimer } from "./format.js";

const REFRESH_S = 30;

export class Schedules {
  constructor(onChange) {
    this.byId = new Map(); // session id -> { data, fetched, pending }
    this.onChange = onChange;
  }

  /** The schedule of session ``id`` (null until fetched); fetches again when old or marked stale. */
  get(id) {
    const entry = this.byId.get(id);
    const now = serverNow();
    if (!entry || (!entry.pending && (entry.stale || now - entry.fetched > REFRESH_S))) this.fetch(id, now);
    return entry?.data ?? null;
  }

  /** Something changed (a cuff reading, a phase, an assessment): fetch again at the next look. */
  stale(id) {
    const entry = this.byId.get(id);
    if (entry) entry.stale = true;
  }

  async fetch(id, now) {
    const entry = this.byId.get(id) || {};
    this.byId.set(id, { ...entry, pending: true, stale: false, fetched: now });
    try {
      const data = await getJSON(`/api/sessions/${id}/schedule`);
      this.byId.set(id, { data, pending: false, stale: false, fetched: serverNow() });
    } catch (e) {
      this.byId.set(id, { ...entry, pending: false, stale: true, fetched: now });
    }
    this.onChange();
  }
}

const inOrAgo = (due, now) => (due >= now ? `in ${fmtTimer(due - now)}` : `overdue ${fmtTimer(now - due)}`);

/** The lines a tile or the bed page shows: next cuff, next assessment, the infusion's end. */
export function dueLines(schedule, now) {
  if (!schedule) return { nibp: "", assessment: "", end: "", overrun: false };
  const nibp = schedule.next_nibp
    ? `Next BP ${inOrAgo(schedule.next_nibp.due, now)} · ${schedule.next_nibp.reason}` : "";
  const a = schedule.next_assessment;
  const assessment = a ? `Next assessment ${inOrAgo(a.due, now)} · ${a.label}` : "";
  let end = "";
  let overrun = false;
  const planned = schedule.planned_infusion_end;
  if (planned != null && schedule.phase === "infusion") {
    overrun = now > planned;
    end = overrun
      ? `Running ${fmtTimer(now - planned)} past the planned end (${fmtClock(planned)})`
      : `Planned end ${fmtClock(planned)} (in ${fmtTimer(planned - now)})`;
  }
  return { nibp, assessment, end, overrun };
}

/** One line per checkpoint: "BP due at 40 min · taken 10:41" / "· due in 3:00" / "· NOT TAKEN (overdue 2:00)". */
export function checkpointLines(schedule, now) {
  if (!schedule) return [];
  return schedule.checkpoints.map((c) => {
    let state;
    if (c.status === "taken") state = `taken ${fmtClock(c.taken_at)}`;
    else if (c.status === "late") state = `taken late ${fmtClock(c.taken_at)}`;
    else if (c.status === "pending") state = "when the infusion starts";
    else if (c.status === "overdue") state = `NOT TAKEN (overdue ${fmtTimer(now - c.window[1])})`;
    else state = `due ${inOrAgo(c.due, now)}`;
    return { text: `${c.label} · ${state}`, status: c.status };
  });
}
