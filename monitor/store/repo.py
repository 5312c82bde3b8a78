"""Repositories: the few synchronous queries the service and the API need (being split by topic:
``readings.py`` ...; the names moved are still importable from here).

They take an Engine and run in a worker thread when called from the event
loop (``asyncio.to_thread``); the hot write path is the batched writer, not here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, update

from monitor.model import (
    Alarm,
    AlarmKind,
    AlarmState,
    Phase,
    PhaseChange,
    Priority,
    Session,
    Vital,
)
from monitor.store import schema
from monitor.store.readings import (
    READING_COLUMNS,
    count_readings,
    gc_paused,
    latest_readings,
    session_readings,
    values_from_source,
)

__all__ = [
    "READING_COLUMNS",
    "count_readings",
    "gc_paused",
    "latest_readings",
    "session_readings",
    "values_from_source",
]


# -- beds ----------------------------------------------------------------------------
def ensure_beds(engine: Engine, beds: dict[str, str]) -> None:
    with engine.begin() as conn:
        known = set(conn.scalars(select(schema.beds.c.id)))
        new = [{"id": b, "label": label, "created": time.time()} for b, label in beds.items() if b not in known]
        if new:
            conn.execute(insert(schema.beds), new)


def list_beds(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {row.id: row.label for row in conn.execute(select(schema.beds).order_by(schema.beds.c.id))}


# -- sessions ------------------------------------------------------------------------
def _session_from_row(row: Any, changes: Iterable[Any]) -> Session:
    return Session(
        id=row.id,
        bed=row.bed_id,
        patient_ref=row.patient_ref,
        phase=Phase(row.phase),
        started=row.started,
        weight_kg=row.weight_kg,
        dose_mg=row.dose_mg,
        rate_mg_per_h=row.rate_mg_per_h,
        phases=[PhaseChange(Phase(c.phase), c.ts, c.user) for c in changes],
    )


def insert_session(engine: Engine, session: Session, user: str) -> int:
    with engine.begin() as conn:
        new_id = conn.execute(
            insert(schema.sessions).values(
                bed_id=session.bed,
                patient_ref=session.patient_ref,
                phase=session.phase.value,
                started=session.started,
                weight_kg=session.weight_kg,
                dose_mg=session.dose_mg,
                rate_mg_per_h=session.rate_mg_per_h,
                created_by=user,
            )
        ).inserted_primary_key
        assert new_id is not None
        new_id = new_id[0]
        for ch in session.phases:
            conn.execute(
                insert(schema.phase_changes).values(session_id=new_id, phase=ch.phase.value, ts=ch.ts, user=ch.user)
            )
        return int(new_id)


def record_phase(engine: Engine, session_id: int, change: PhaseChange, reason: str | None = None) -> None:
    closed = change.phase in (Phase.DISCHARGED, Phase.ABORTED)
    with engine.begin() as conn:
        conn.execute(
            insert(schema.phase_changes).values(
                session_id=session_id, phase=change.phase.value, ts=change.ts, user=change.user
            )
        )
        values: dict[str, Any] = {"phase": change.phase.value}
        if closed:
            values["ended"] = change.ts
            values["end_reason"] = reason
        conn.execute(update(schema.sessions).where(schema.sessions.c.id == session_id).values(**values))


def _load_sessions(conn: Connection, where: Any, limit: int | None = None) -> list[Session]:
    query = select(schema.sessions).where(where).order_by(schema.sessions.c.started.desc())
    if limit:
        query = query.limit(limit)
    rows = list(conn.execute(query))
    if not rows:
        return []
    ids = [r.id for r in rows]
    changes: dict[int, list[Any]] = {i: [] for i in ids}
    for c in conn.execute(
        select(schema.phase_changes)
        .where(schema.phase_changes.c.session_id.in_(ids))
        .order_by(schema.phase_changes.c.ts, schema.phase_changes.c.id)
    ):
        changes[c.session_id].append(c)
    return [_session_from_row(r, changes[r.id]) for r in rows]


def open_sessions(engine: Engine) -> list[Session]:
    with engine.connect() as conn:
        return _load_sessions(conn, schema.sessions.c.ended.is_(None))


def get_session(engine: Engine, session_id: int) -> Session | None:
    with engine.connect() as conn:
        found = _load_sessions(conn, schema.sessions.c.id == session_id)
        return found[0] if found else None


def find_sessions(
    engine: Engine,
    *,
    start: float | None = None,
    end: float | None = None,
    bed: str | None = None,
    patient_ref: str | None = None,
    limit: int = 1000,
) -> list[Session]:
    conds: list[Any] = []
    c = schema.sessions.c
    if start is not None:
        conds.append(c.started >= start)
    if end is not None:
        conds.append(c.started < end)
    if bed:
        conds.append(c.bed_id == bed)
    if patient_ref:
        conds.append(c.patient_ref == patient_ref)
    with engine.connect() as conn:
        return _load_sessions(conn, and_(True, *conds), limit)


def add_note(engine: Engine, session_id: int, ts: float, user: str, text: str, kind: str = "note") -> int:
    with engine.begin() as conn:
        key = conn.execute(
            insert(schema.notes).values(session_id=session_id, ts=ts, user=user, text=text, kind=kind)
        ).inserted_primary_key
        assert key is not None
        return int(key[0])


def session_notes(engine: Engine, session_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(schema.notes).where(schema.notes.c.session_id == session_id).order_by("ts"))
        return [dict(r._mapping) for r in rows]


# -- alarms --------------------------------------------------------------------------
def alarm_from_row(row: Any) -> Alarm:
    return Alarm(
        id=row.id,
        rule_id=row.rule_id,
        kind=AlarmKind(row.kind),
        priority=Priority(row.priority),
        message=row.message,
        started=row.started,
        bed=row.bed_id,
        session_id=row.session_id,
        vital=Vital(row.vital) if row.vital else None,
        state=AlarmState(row.state),
        ended=row.ended,
        value=row.value,
        worst=row.worst,
        limit=row.limit_value,
        acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at,
        silenced_until=row.silenced_until,
        escalated=bool(row.escalated),
    )


def open_alarms(engine: Engine) -> list[Alarm]:
    """Alarms still on screen: not resolved, or resolved high alarms not yet acknowledged (latched)."""
    c = schema.alarms.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(schema.alarms).where(
                (c.state != AlarmState.RESOLVED.value)
                | ((c.priority == Priority.HIGH.value) & c.acknowledged_at.is_(None))
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


# -- audit ---------------------------------------------------------------------------
def write_audit(
    engine: Engine, user: str | None, action: str, target: str | None = None, detail: dict[str, Any] | None = None
) -> None:
    """Who did what, when. Written synchronously: an audited action is not done until it is recorded."""
    with engine.begin() as conn:
        conn.execute(
            insert(schema.audit).values(
                ts=time.time(), user=user, action=action, target=target, detail=json.dumps(detail or {}, default=str)
            )
        )


def read_audit(
    engine: Engine, start: float | None = None, end: float | None = None, limit: int = 5000
) -> list[dict[str, Any]]:
    c = schema.audit.c
    query = select(schema.audit).order_by(c.ts.desc(), c.id.desc()).limit(limit)
    if start is not None:
        query = query.where(c.ts >= start)
    if end is not None:
        query = query.where(c.ts <= end)
    with engine.connect() as conn:
        out = []
        for r in conn.execute(query):
            row = dict(r._mapping)
            row["detail"] = json.loads(row["detail"] or "{}")
            out.append(row)
        return out


# -- users ---------------------------------------------------------------------------
def get_user(engine: Engine, username: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(schema.users).where(schema.users.c.username == username)).first()
        return dict(row._mapping) if row else None


def upsert_user(engine: Engine, username: str, password_hash: str | None, role: str) -> None:
    with engine.begin() as conn:
        exists = conn.execute(select(schema.users.c.id).where(schema.users.c.username == username)).first()
        if exists:
            conn.execute(
                update(schema.users)
                .where(schema.users.c.username == username)
                .values(password_hash=password_hash, role=role, active=True)
            )
        else:
            conn.execute(
                insert(schema.users).values(
                    username=username, password_hash=password_hash, role=role, created=time.time(), active=True
                )
            )


def count_users(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(schema.users)) or 0)


def alarms_between(engine: Engine, start: float | None = None, end: float | None = None) -> list[Alarm]:
    """Alarms that started in [start, end): the input of the alarm committee's statistics."""
    c = schema.alarms.c
    query = select(schema.alarms).order_by(c.started)
    if start is not None:
        query = query.where(c.started >= start)
    if end is not None:
        query = query.where(c.started < end)
    with engine.connect() as conn:
        return [alarm_from_row(r) for r in conn.execute(query)]
