"""Readings as stored: a session's series for review, the screens' latest values, a bed's trend.

The hot write path is the batched writer (``monitor/store/writer.py``); these are the reads. They take
an Engine and run in a worker thread when called from the event loop (``asyncio.to_thread``).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, case, func, select

from monitor.model import Quality, Vital
from monitor.store import schema


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while 10^5 row tuples are made (they form no cycles).

    Those allocations trigger full collections that walk every live object: measured
    on a 2-hour session, 145 ms instead of 53 ms. Re-enabled by whoever paused it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


READING_COLUMNS = ["ts", "vital", "value", "unit", "quality", "source"]


@gc_paused()
def session_readings(
    engine: Engine,
    session_id: int,
    vitals: Sequence[str] | None = None,
    start: float | None = None,
    end: float | None = None,
) -> pd.DataFrame:
    """The session's readings as stored, in time then storage order (columns ``READING_COLUMNS``).

    Built column-wise from the driver's cursor: SQLAlchemy Row objects cost twice the fetch
    for the 10^5 plain values of a long session.
    """
    c = schema.readings.c
    query = select(c.ts, c.vital, c.value, c.unit, c.quality, c.source).where(c.session_id == session_id)
    if vitals:
        query = query.where(c.vital.in_(list(vitals)))
    if start is not None:
        query = query.where(c.ts >= start)
    if end is not None:
        query = query.where(c.ts <= end)
    query = query.order_by(c.ts, c.id)
    with engine.connect() as conn:
        rows = conn.execute(query).cursor.fetchall()
    if not rows:
        return pd.DataFrame(
            {k: pd.Series(dtype="float64" if k in ("ts", "value") else "object") for k in READING_COLUMNS}
        )
    ts, vital, value, unit, quality, source = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "ts": np.fromiter(ts, dtype=np.float64, count=len(rows)),
            "vital": np.array(vital, dtype=object),
            "value": np.fromiter(value, dtype=np.float64, count=len(rows)),
            "unit": np.array(unit, dtype=object),
            "quality": np.array(quality, dtype=object),
            "source": np.array(source, dtype=object),
        }
    )


def latest_readings(engine: Engine, since: float) -> list[Any]:
    """The latest reading per (bed or source, vital) since ``since``: the screens' state after a restart."""
    c = schema.readings.c
    newest = (
        select(c.source, c.vital, func.max(c.id).label("id"))
        .where(c.ts >= since)
        .group_by(c.source, c.vital)
        .subquery()
    )
    with engine.connect() as conn:
        return list(conn.execute(select(schema.readings).join(newest, newest.c.id == c.id)))


def count_readings(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(schema.readings)) or 0)


_VITALS = [v.value for v in Vital]
_QUALITIES = [q.value for q in Quality]


@gc_paused()
def read_series(engine: Engine, session_id: int) -> pd.DataFrame:
    """The session's readings for review and summary: ts, vital, value, quality (no unit, no source).

    Vital and quality come back from the database as small integer codes, so a
    row costs two floats and no strings: about three times faster for a long session.
    """
    c = schema.readings.c
    vital = case({v: i for i, v in enumerate(_VITALS)}, value=c.vital, else_=-1)
    quality = case({q: i for i, q in enumerate(_QUALITIES)}, value=c.quality, else_=-1)
    query = select(c.ts, c.value, vital, quality).where(c.session_id == session_id).order_by(c.ts, c.id)
    with engine.connect() as conn:
        rows = conn.execute(query).cursor.fetchall()
    n = len(rows)
    if n == 0:
        return session_readings(engine, session_id)[["ts", "vital", "value", "quality"]]
    ts, value, vcode, qcode = zip(*rows, strict=True)
    codes = np.fromiter(vcode, dtype=np.int64, count=n)
    qualities = np.fromiter(qcode, dtype=np.int64, count=n)
    if (codes < 0).any() or (qualities < 0).any():  # a value this code does not know: read it as stored
        return session_readings(engine, session_id)[["ts", "vital", "value", "quality"]]
    return pd.DataFrame(
        {
            "ts": np.fromiter(ts, dtype=np.float64, count=n),
            "vital": np.array(_VITALS, dtype=object)[codes],
            "value": np.fromiter(value, dtype=np.float64, count=n),
            "quality": np.array(_QUALITIES, dtype=object)[qualities],
        }
    )


def values_from_source(engine: Engine, source: str) -> list[float]:
    """Values stored from one device, in time order (diagnostics and tests)."""
    c = schema.readings.c
    with engine.connect() as conn:
        return [float(v) for v in conn.scalars(select(c.value).where(c.source == source).order_by(c.ts, c.id))]


def valid_points(
    engine: Engine, bed: str, start: float, end: float | None = None, vitals: Sequence[str] | None = None
) -> list[Any]:
    """``(ts, vital, value)`` rows of the valid readings of ``bed`` from ``start``, oldest first."""
    c = schema.readings.c
    query = select(c.ts, c.vital, c.value).where(c.bed_id == bed, c.ts >= start, c.quality == Quality.VALID.value)
    if end is not None:
        query = query.where(c.ts <= end)
    if vitals:
        query = query.where(c.vital.in_(list(vitals)))
    with engine.connect() as conn:
        return list(conn.execute(query.order_by(c.ts, c.id)).all())
