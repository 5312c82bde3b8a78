"""Alarms as stored: the alarms on screen and of a session, their history, per-session rule overrides,
the actionable answer, the alarm committee's tables. (The writer stores alarm changes with the
batch they belong to: ``monitor/store/transaction.py``.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine, insert, select, update

from monitor.events import alarm_from_row
from monitor.model import Alarm, AlarmState, Priority
from monitor.store import schema


def insert_rule_override(engine: Engine, session_id: int, rules_json: str, user: str, ts: float) -> None:
    """Append a session's rules as JSON ("" = back to the clinic rules); the latest row wins."""
    with engine.begin() as conn:
        conn.execute(insert(schema.rule_overrides).values(session_id=session_id, rules=rules_json, user=user, ts=ts))


def rule_override_rows(engine: Engine, session_ids: Sequence[int]) -> list[tuple[int, str]]:
    """``(session_id, rules_json)`` of every stored override of these sessions, oldest first."""
    c = schema.rule_overrides.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.session_id, c.rules).where(c.session_id.in_(list(session_ids))).order_by(c.id))
        return [(int(sid), str(text or "")) for sid, text in rows]


def record_actionable(engine: Engine, alarm_id: str, actionable: bool, user: str, ts: float) -> bool:
    """Store the answer to "was this alarm actionable?" and its event (who, when); False: no such alarm.

    A targeted update, not the alarm's whole row: the answer is an annotation the engine does not hold
    (it may come after the alarm left the screens), and the engine's later rewrites of the row keep a
    stored answer (``transaction._upsert_alarm``), so it needs no trip through the ingest process.
    """
    c = schema.alarms.c
    with engine.begin() as conn:
        state = conn.scalar(select(c.state).where(c.id == alarm_id))
        if state is None:
            return False
        conn.execute(update(schema.alarms).where(c.id == alarm_id).values(actionable=actionable))
        conn.execute(
            insert(schema.alarm_events).values(
                alarm_id=alarm_id,
                ts=ts,
                transition="actionable" if actionable else "not-actionable",
                state=state,
                user=user,
            )
        )
    return True


#: Columns of :func:`alarm_table` (the alarm committee's report reads them straight into pandas).
ALARM_TABLE_COLUMNS = (
    "id",
    "kind",
    "rule_id",
    "priority",
    "bed_id",
    "session_id",
    "started",
    "ended",
    "acknowledged_at",
    "escalated",
    "actionable",
    "rule_set_version",
)


#: Column types of an alarm frame: nullable where a value may be missing (an unanswered alarm is <NA>,
#: not False; a row without a version is <NA>, not NaN).
ALARM_DTYPES: dict[str, str | type] = {
    "started": float,
    "ended": float,
    "acknowledged_at": float,
    "escalated": bool,
    "actionable": "boolean",
    "rule_set_version": "Int64",
}


def alarm_table(engine: Engine, start: float, end: float) -> pd.DataFrame:
    """Alarms that started in [start, end) as one frame (no objects per row), oldest first."""
    c = schema.alarms.c
    query = (
        select(*(c[name] for name in ALARM_TABLE_COLUMNS))
        .where((c.started >= start) & (c.started < end))
        .order_by(c.started, c.id)
    )
    with engine.connect() as conn:
        # The driver's plain tuples: pandas probing each Row object's attributes costs more than the query.
        # (SQLite's booleans come back as 0/1; the types below make them booleans again.)
        rows = conn.execute(query).cursor.fetchall()
    frame = pd.DataFrame.from_records(rows, columns=list(ALARM_TABLE_COLUMNS))
    return frame.astype({**ALARM_DTYPES, "session_id": "Int64"})


def rule_override_changes(engine: Engine, start: float, end: float) -> list[tuple[int, str, float, bool]]:
    """``(session_id, user, ts, cleared)`` of every session rule change in [start, end), oldest first."""
    c = schema.rule_overrides.c
    query = select(c.session_id, c.user, c.ts, c.rules).where((c.ts >= start) & (c.ts < end)).order_by(c.ts, c.id)
    with engine.connect() as conn:
        return [(int(sid), str(user), float(ts), not text) for sid, user, ts, text in conn.execute(query)]


def open_alarms(engine: Engine) -> list[Alarm]:
    """Alarms still on screen: not resolved, or resolved high alarms not yet acknowledged (latched); not filed."""
    c = schema.alarms.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(schema.alarms).where(
                (
                    (c.state != AlarmState.RESOLVED.value)
                    | ((c.priority == Priority.HIGH.value) & c.acknowledged_at.is_(None))
                )
                & c.filed.is_(None)
            )
        )
        return [alarm_from_row(r) for r in rows]


def session_alarms(engine: Engine, session_id: int) -> list[Alarm]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(schema.alarms).where(schema.alarms.c.session_id == session_id).order_by(schema.alarms.c.started)
        )
        return [alarm_from_row(r) for r in rows]


def alarm_history(engine: Engine, alarm_ids: Sequence[str]) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(schema.alarm_events)
            .where(schema.alarm_events.c.alarm_id.in_(list(alarm_ids)))
            .order_by(schema.alarm_events.c.ts, schema.alarm_events.c.id)
        )
        return [dict(r._mapping) for r in rows]


def alarms_between(
    engine: Engine, start: float | None = None, end: float | None = None, limit: int | None = None
) -> list[Alarm]:
    """Alarms that started in [start, end) (the first ``limit``): the input of the alarm committee's statistics."""
    c = schema.alarms.c
    query = select(schema.alarms).order_by(c.started).limit(limit)
    if start is not None:
        query = query.where(c.started >= start)
    if end is not None:
        query = query.where(c.started < end)
    with engine.connect() as conn:
        return [alarm_from_row(r) for r in conn.execute(query)]
