"""Where stored time ends: the latest instant any reading or session change is stamped with."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from monitor.store import schema


def latest_stamp(engine: Engine) -> float | None:
    """The latest reading or phase change time stored (None: an empty database): an index read and a small table."""
    with engine.connect() as conn:
        stamps = [
            conn.scalar(select(func.max(schema.readings.c.ts))),
            conn.scalar(select(func.max(schema.phase_changes.c.ts))),
        ]
    known = [float(s) for s in stamps if s is not None]
    return max(known) if known else None
