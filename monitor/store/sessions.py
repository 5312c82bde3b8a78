"""Beds, infusion sessions with their phase changes, and session notes."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select, update

from monitor.events import session_from_json
from monitor.model import DischargeRecord, Phase, PhaseChange, Session
from monitor.store import schema


# -- beds ------------------------------------------------------------------------------
def ensure_beds(engine: Engine, beds: dict[str, str]) -> None:
    with engine.begin() as conn:
        known = set(conn.scalars(select(schema.beds.c.id)))
        # machine time: when the bed was configured.
        new = [{"id": b, "label": label, "created": time.time()} for b, label in beds.items() if b not in known]
        if new:
            conn.execute(insert(schema.beds), new)


def list_beds(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {row.id: row.label for row in conn.execute(select(schema.beds).order_by(schema.beds.c.id))}


# -- sessions ------------------------------------------------------------------------
#: DischargeRecord field -> column of ``sessions``.
_DISCHARGE_COLUMNS = {
    "escort_relation": "escort_relation",
    "escort_name": "escort_name",
    "reason": "discharge_reason",
    "decided_by": "discharge_decided_by",
}


def _session_from_row(row: Any, changes: Iterable[Any]) -> Session:
    """A session from its row and its phase changes, through the one Session mapping (``monitor.events``)."""
    data = dict(row._mapping)
    data["bed"] = data.pop("bed_id")
    discharge = {key: data.pop(column) for key, column in _DISCHARGE_COLUMNS.items()}
    data["discharge"] = discharge if any(v is not None for v in discharge.values()) else None
    data["phases"] = [{"phase": c.phase, "ts": c.ts, "user": c.user} for c in changes]
    return session_from_json(data)


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
                protocol=session.protocol,
                dose_mg_per_kg=session.dose_mg_per_kg,
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


def record_phase(
    engine: Engine,
    session_id: int,
    change: PhaseChange,
    reason: str | None = None,
    discharge: DischargeRecord | None = None,
) -> None:
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
        if discharge is not None:
            values.update({column: getattr(discharge, key) for key, column in _DISCHARGE_COLUMNS.items()})
        conn.execute(update(schema.sessions).where(schema.sessions.c.id == session_id).values(**values))


def mark_ready(engine: Engine, session_id: int, ts: float) -> bool:
    """Record when the discharge criteria were first seen met; a later sighting changes nothing."""
    c = schema.sessions.c
    with engine.begin() as conn:
        done = conn.execute(update(schema.sessions).where(c.id == session_id, c.ready_at.is_(None)).values(ready_at=ts))
        return bool(done.rowcount)


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


def add_note(
    engine: Engine, session_id: int, ts: float, user: str, text: str, kind: str = "note", category: str | None = None
) -> int:
    """A note; an adverse event (``kind`` "adverse") carries its ``category``."""
    with engine.begin() as conn:
        key = conn.execute(
            insert(schema.notes).values(
                session_id=session_id, ts=ts, user=user, text=text, kind=kind, category=category
            )
        ).inserted_primary_key
        assert key is not None
        return int(key[0])


def session_notes(engine: Engine, session_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(schema.notes).where(schema.notes.c.session_id == session_id).order_by("ts"))
        return [dict(r._mapping) for r in rows]


def session_chairs(engine: Engine, start: float, end: float) -> list[tuple[str, float]]:
    """``(bed_id, started)`` of every session started in [start, end): the chair-days of a period."""
    c = schema.sessions.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.bed_id, c.started).where((c.started >= start) & (c.started < end)))
        return [(str(bed), float(started)) for bed, started in rows]
