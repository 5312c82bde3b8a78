"""Device associations (monitor on chair, from the screen) and claims of a monitor's earlier readings."""

from __future__ import annotations

from sqlalchemy import Engine, func, insert, select, update

from monitor.binding import Association
from monitor.model import Quality
from monitor.store import schema


def insert_association(engine: Engine, assoc: Association) -> int:
    with engine.begin() as conn:
        result = conn.execute(
            insert(schema.device_associations).values(
                device=assoc.device, bed_id=assoc.bed, started=assoc.start, started_by=assoc.user
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def end_association(engine: Engine, assoc_id: int, ended: float, user: str) -> None:
    c = schema.device_associations.c
    with engine.begin() as conn:
        conn.execute(
            update(schema.device_associations)
            .where(c.id == assoc_id, c.ended.is_(None))
            .values(ended=ended, ended_by=user)
        )


def open_associations(engine: Engine) -> list[Association]:
    """Associations not ended (reloaded at start), oldest first."""
    c = schema.device_associations.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.id, c.device, c.bed_id, c.started, c.started_by).where(c.ended.is_(None)).order_by(c.started)
        ).all()
    return [Association(r.device, r.bed_id, r.started, r.started_by, id=r.id) for r in rows]


def last_device_per_bed(engine: Engine) -> dict[str, str]:
    """The monitor last associated with each chair (preselected when the chair's next session starts)."""
    c = schema.device_associations.c
    latest = select(c.bed_id, func.max(c.id).label("id")).group_by(c.bed_id).subquery()
    with engine.connect() as conn:
        rows = conn.execute(select(c.bed_id, c.device).join(latest, c.id == latest.c.id)).all()
    return {r.bed_id: r.device for r in rows}


def claim_readings(
    engine: Engine, source: str, bed: str, session_id: int, start: float, end: float
) -> list[tuple[float, str, float, str, str]]:
    """Bind ``source``'s unassigned readings stamped in ``[start, end)`` to the chair and its session.

    Quarantined readings are never claimed (they came from a device that was not the
    chair's). Returns the claimed rows (ts, vital, value, unit, quality) in time order.
    """
    c = schema.readings.c
    where = (
        c.source == source,
        c.bed_id.is_(None),
        c.session_id.is_(None),
        c.ts >= start,
        c.ts < end,
        c.quality != Quality.QUARANTINED.value,
    )
    with engine.begin() as conn:
        rows = conn.execute(select(c.ts, c.vital, c.value, c.unit, c.quality).where(*where).order_by(c.ts, c.id)).all()
        if rows:
            conn.execute(update(schema.readings).where(*where).values(bed_id=bed, session_id=session_id))
    return [(float(r.ts), str(r.vital), float(r.value), str(r.unit), str(r.quality)) for r in rows]


def move_session_start(engine: Engine, session_id: int, old_start: float, new_start: float) -> None:
    """Claimed readings earlier than the session: its start (and its baseline phase) begin with them."""
    s, p = schema.sessions.c, schema.phase_changes.c
    with engine.begin() as conn:
        conn.execute(update(schema.sessions).where(s.id == session_id).values(started=new_start))
        conn.execute(
            update(schema.phase_changes)
            .where(p.session_id == session_id, p.phase == "baseline", p.ts == old_start)
            .values(ts=new_start)
        )
