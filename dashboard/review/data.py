"""What the review side reads about one session, and its summary kept up to date.

Everything is read through the storage code (``monitor.store``); the figures
come from :mod:`alerts.summary`. A closed session's summary is computed once
when it closes (:class:`SummaryKeeper`) and stored for the session list; an
open session's is computed on demand and not stored (it still changes).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from alerts.baseline import baseline_of
from alerts.rules import Rule, RuleError, default_rules, loads_rules
from alerts.summary import SessionSummary, phase_intervals, session_end, summarise
from monitor.model import Alarm, Phase, PhaseChange, Session, Vital
from monitor.pipeline import AlarmStage
from monitor.store import alarms as alarm_store
from monitor.store import sessions as session_store
from monitor.store import summaries
from monitor.store.readings import read_series

log = logging.getLogger(__name__)

#: Bump when the summary's definitions change: stored summaries of another version are recomputed.
SUMMARY_VERSION = 1


@dataclass(slots=True)
class SessionRecord:
    """Everything stored about one session (``readings``: ts, vital, value, quality; see :func:`read_series`)."""

    session: Session
    closed_at: float | None
    readings: pd.DataFrame
    alarms: list[Alarm]
    alarm_events: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    devices: list[dict[str, Any]]


class _ClosedReadings:
    """The readings of closed sessions, most recently reviewed first.

    Safe to cache: readings bind only to an open session, so a closed session's
    readings never change. Bounded (a 2-hour session at 1 Hz per vital is a few MB).
    """

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, int], pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, engine: Engine, session_id: int) -> pd.DataFrame:
        key = (str(engine.url), session_id)
        with self._lock:
            frame = self._items.get(key)
            if frame is not None:
                self._items.move_to_end(key)
                return frame
        frame = read_series(engine, session_id)
        with self._lock:
            self._items[key] = frame
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return frame

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


closed_readings = _ClosedReadings()


def load_record(engine: Engine, session_id: int, *, cached: bool = True) -> SessionRecord | None:
    session = session_store.get_session(engine, session_id)
    if session is None:
        return None
    alarms = alarm_store.session_alarms(engine, session_id)
    closed_at = next((c.ts for c in session.phases if c.phase in (Phase.DISCHARGED, Phase.ABORTED)), None)
    return SessionRecord(
        session=session,
        closed_at=closed_at,
        readings=closed_readings.get(engine, session_id)
        if closed_at is not None and cached
        else read_series(engine, session_id),
        alarms=alarms,
        alarm_events=alarm_store.alarm_history(engine, [a.id for a in alarms]) if alarms else [],
        notes=session_store.session_notes(engine, session_id),
        devices=summaries.device_events(engine, session_id),
    )


def rules_for(
    engine: Engine, alarm_stage: AlarmStage | None, session_id: int, clinic: list[Rule] | None = None
) -> list[Rule]:
    """The rules the session was judged by: its stored override, else the live engine's, else ``clinic``
    (the configured rule file) or the shipped defaults."""
    override = summaries.rule_override(engine, session_id)
    if override:
        try:
            return loads_rules(override, f"session {session_id} override")
        except RuleError as exc:  # shown with the clinic rules rather than failing the review
            log.warning("session %d: stored rule override unusable: %s", session_id, exc)
    if alarm_stage is not None:
        rules: list[Rule] = alarm_stage.session_rules(session_id)
        return rules
    return list(clinic) if clinic is not None else default_rules()


def summary_of(record: SessionRecord, rules: list[Rule], now: float) -> SessionSummary:
    """``now`` (the service's clock) ends a session still open."""
    return summarise(
        record.session,
        record.readings,
        record.alarms,
        rules,
        record.notes,
        now=None if record.closed_at is not None else now,
    )


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def summary_columns(s: SessionSummary) -> dict[str, Any]:
    """The figures the session list sorts on."""
    peak_sbp = s.peaks.get("sbp")
    low_spo2 = s.lows.get("spo2")
    return {
        "duration_s": s.duration_s,
        "baseline_sbp": s.baselines.get("sbp"),
        "baseline_dbp": s.baselines.get("dbp"),
        "peak_sbp": peak_sbp.value if peak_sbp else None,
        "peak_sbp_rise": _finite(s.peak_sbp_rise),
        "peak_dbp_rise": _finite(s.peak_dbp_rise),
        "min_spo2": low_spo2.value if low_spo2 else None,
        "spo2_below94_s": s.spo2_below_s.get("94"),
        "spo2_below90_s": s.spo2_below_s.get("90"),
        "alarms_high": s.alarm_counts.get("high", 0),
        "alarms_medium": s.alarm_counts.get("medium", 0),
        "alarms_low": s.alarm_counts.get("low", 0),
        "alarms_technical": s.alarm_counts.get("technical", 0),
        "time_to_ready_s": s.time_to_ready_s,
    }


def refresh_summary(
    engine: Engine, alarm_stage: AlarmStage | None, session_id: int, now: float
) -> SessionSummary | None:
    """Compute a session's summary (an open one up to ``now``, the service's clock); store it when closed."""
    record = load_record(engine, session_id)
    if record is None:
        return None
    summary = summary_of(record, rules_for(engine, alarm_stage, session_id), now)
    if summary.closed:
        summaries.save_summary(engine, session_id, SUMMARY_VERSION, summary_columns(summary), summary.to_json())
    return summary


def open_figures(engine: Engine, ids: list[int]) -> dict[int, dict[str, Any]]:
    """List figures of open sessions from SQL aggregates (no full read of 1 Hz series per row of the list)."""
    agg = summaries.open_session_aggregates(engine, ids)
    out: dict[int, dict[str, Any]] = {}
    for sid, figures in agg.items():
        session = session_store.get_session(engine, sid)
        cuff = figures.pop("sbp")
        figures["peak_sbp_rise"] = None
        if session is not None and len(session.phases) > 1 and session.phases[0].phase == Phase.BASELINE:
            start, end = session.phases[0].ts, session.phases[1].ts
            base = baseline_of(
                Vital.SBP, [t for t, _ in cuff if start <= t < end], [v for t, v in cuff if start <= t < end]
            )
            after = [v for t, v in cuff if t >= end]
            if base is not None and after:
                figures["peak_sbp_rise"] = max(after) - base
        out[sid] = figures
    return out


def fill_missing(
    engine: Engine, alarm_stage: AlarmStage | None, ids: list[int] | None, now: float, limit: int | None = None
) -> int:
    """Compute the stored summaries missing among ``ids`` (None: every closed session, newest first).

    Sessions closed before this feature (or while the service crashed) get theirs here;
    ``limit`` bounds the work of one call (a list request fills at most a page's worth).
    """
    missing = summaries.sessions_without_summary(engine, ids, SUMMARY_VERSION)[:limit]
    for sid in missing:
        try:
            refresh_summary(engine, alarm_stage, sid, now)
        except Exception:  # one bad session must not hide the list
            log.exception("summary of session %d failed", sid)
    return len(missing)


class SummaryKeeper:
    """Session listener: when a session closes, its summary is computed and stored.

    Registered after the pipeline's own listener, which waits until every reading
    submitted before the phase change is committed, so the summary sees them all.
    """

    def __init__(self, engine: Engine, alarm_stage: AlarmStage | None) -> None:
        self.engine = engine
        self.alarm_stage = alarm_stage

    async def __call__(self, session: Session, change: PhaseChange) -> None:
        if change.phase not in (Phase.DISCHARGED, Phase.ABORTED):
            return
        try:
            await asyncio.to_thread(refresh_summary, self.engine, self.alarm_stage, session.id, change.ts)
        except Exception:  # the list fills it in later; closing the session must not fail
            log.exception("summary of session %d failed at close", session.id)


def phases_json(record: SessionRecord, end: float) -> list[dict[str, Any]]:
    return [{"phase": p, "start": a, "end": b} for a, b, p in phase_intervals(record.session, end)]


def end_of(record: SessionRecord, now: float) -> float:
    end, _ = session_end(record.session, record.readings, None if record.closed_at is not None else now)
    return end
