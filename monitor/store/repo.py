"""The alarms' rows (the last topic still here), and an index of the names moved to the topic modules.

All SQL lives in ``monitor/store``, one module per topic: ``readings``, ``sessions`` (beds, sessions,
notes), ``alarms`` (rule overrides), ``audit``, ``auth`` (users, logins), ``events`` and ``commands``
(the multi-process log), ``summaries``. The names moved out of here are still importable from
``repo`` so that work in progress elsewhere keeps running; new code imports the topic module.
They take an Engine and run in a worker thread when called from the event loop (``asyncio.to_thread``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select

from monitor.events import alarm_from_row
from monitor.model import (
    Alarm,
    AlarmState,
    Priority,
)
from monitor.store import schema
from monitor.store.audit import read_audit, write_audit
from monitor.store.auth import count_users, get_user
from monitor.store.readings import (
    READING_COLUMNS,
    count_readings,
    gc_paused,
    latest_readings,
    session_readings,
    values_from_source,
)
from monitor.store.sessions import (
    add_note,
    ensure_beds,
    find_sessions,
    get_session,
    insert_session,
    list_beds,
    open_sessions,
    record_phase,
    session_notes,
)

__all__ = [
    "READING_COLUMNS",
    "add_note",
    "count_readings",
    "count_users",
    "ensure_beds",
    "find_sessions",
    "gc_paused",
    "get_session",
    "get_user",
    "insert_session",
    "latest_readings",
    "list_beds",
    "open_sessions",
    "read_audit",
    "record_phase",
    "session_notes",
    "session_readings",
    "values_from_source",
    "write_audit",
]


# -- alarms --------------------------------------------------------------------------
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
