"""Queries of the review side: the session list with its summary figures, a patient's history, events.

The list is one SQL query (sessions LEFT JOIN session_summaries) with filters,
a whitelisted sort and a page, so it stays fast for tens of thousands of
sessions; the figures themselves are computed elsewhere (``alerts.summary``)
and stored here, one row per session.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, delete, func, insert, literal, select

from monitor.store import schema

#: Figures kept as columns (sortable); the whole summary is in ``figures`` (JSON).
SUMMARY_COLUMNS: tuple[str, ...] = (
    "duration_s",
    "baseline_sbp",
    "baseline_dbp",
    "peak_sbp",
    "peak_sbp_rise",
    "peak_dbp_rise",
    "min_spo2",
    "spo2_below94_s",
    "spo2_below90_s",
    "alarms_high",
    "alarms_medium",
    "alarms_low",
    "alarms_technical",
    "time_to_ready_s",
)

SORTABLE: tuple[str, ...] = (
    "started",
    "bed",
    "patient_ref",
    "dose_mg",
    "duration_s",
    "peak_sbp_rise",
    "min_spo2",
    "alarms_high",
    "alarms_medium",
    "alarms_low",
)


def save_summary(engine: Engine, session_id: int, version: int, columns: Mapping[str, Any], figures: Any) -> None:
    """Store (replace) the summary of one session."""
    row = {k: columns.get(k) for k in SUMMARY_COLUMNS}
    for k in ("alarms_high", "alarms_medium", "alarms_low", "alarms_technical"):
        row[k] = int(row[k] or 0)
    with engine.begin() as conn:
        conn.execute(delete(schema.session_summaries).where(schema.session_summaries.c.session_id == session_id))
        conn.execute(
            insert(schema.session_summaries).values(
                session_id=session_id,
                version=version,
                # machine time: when the summary was computed.
                computed=time.time(),
                figures=json.dumps(figures, default=str),
                **row,
            )
        )


def load_summary(engine: Engine, session_id: int, version: int) -> dict[str, Any] | None:
    """The stored summary (the ``figures`` JSON) if it is of ``version``."""
    c = schema.session_summaries.c
    with engine.connect() as conn:
        row = conn.execute(select(c.figures, c.version).where(c.session_id == session_id)).first()
    if row is None or row.version != version:
        return None
    figures: dict[str, Any] = json.loads(row.figures)
    return figures


def _plain(row: Any) -> dict[str, Any]:
    """A row as a dict with plain ``str`` keys (SQLAlchemy's quoted names upset JSON encoders)."""
    return {str(k): v for k, v in row._mapping.items()}


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def list_sessions(
    engine: Engine,
    *,
    start: float | None = None,
    end: float | None = None,
    bed: str | None = None,
    patient_ref: str | None = None,
    sort: str = "started",
    descending: bool = True,
    limit: int = 100,
    offset: int = 0,
    now: float,
) -> tuple[int, list[dict[str, Any]]]:
    """(total matching, one page of rows) with the summary columns (None where not computed yet)."""
    s, m = schema.sessions.c, schema.session_summaries.c
    duration = (func.coalesce(s.ended, literal(now)) - s.started).label("duration_s")
    conds: list[ColumnElement[bool]] = []
    if start is not None:
        conds.append(s.started >= start)
    if end is not None:
        conds.append(s.started < end)
    if bed:
        conds.append(s.bed_id == bed)
    if patient_ref:
        conds.append(s.patient_ref.like(_like_prefix(patient_ref), escape="\\"))
    where = and_(literal(True), *conds)
    keys: dict[str, Any] = {
        "started": s.started,
        "bed": s.bed_id,
        "patient_ref": s.patient_ref,
        "dose_mg": s.dose_mg,
        "duration_s": duration,
        "peak_sbp_rise": m.peak_sbp_rise,
        "min_spo2": m.min_spo2,
        "alarms_high": m.alarms_high,
        "alarms_medium": m.alarms_medium,
        "alarms_low": m.alarms_low,
    }
    if sort not in keys:
        raise ValueError(f"cannot sort by {sort!r} (one of: {', '.join(SORTABLE)})")
    key = keys[sort]
    order = [(key.desc() if descending else key.asc()).nulls_last(), s.id.desc() if descending else s.id.asc()]
    query = (
        select(
            s.id,
            s.bed_id,
            s.patient_ref,
            s.phase,
            s.started,
            s.ended,
            s.dose_mg,
            s.rate_mg_per_h,
            s.weight_kg,
            duration,
            m.version,
            *(m[c] for c in SUMMARY_COLUMNS if c != "duration_s"),
        )
        .select_from(schema.sessions.outerjoin(schema.session_summaries, m.session_id == s.id))
        .where(where)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )
    with engine.connect() as conn:
        total = int(conn.scalar(select(func.count()).select_from(schema.sessions).where(where)) or 0)
        rows = [_plain(r) for r in conn.execute(query)]
    return total, rows


def open_session_aggregates(engine: Engine, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """For open sessions: lowest valid SpO2, alarm counts, and the valid cuff readings (few) for the BP rise."""
    r, a = schema.readings.c, schema.alarms.c
    out: dict[int, dict[str, Any]] = {
        i: {"min_spo2": None, "alarms_high": 0, "alarms_medium": 0, "alarms_low": 0, "alarms_technical": 0, "sbp": []}
        for i in ids
    }
    with engine.connect() as conn:
        for sid, low in conn.execute(
            select(r.session_id, func.min(r.value))
            .where(r.session_id.in_(list(ids)), r.vital == "spo2", r.quality == "valid")
            .group_by(r.session_id)
        ):
            out[sid]["min_spo2"] = low
        for sid, kind, priority, count in conn.execute(
            select(a.session_id, a.kind, a.priority, func.count())
            .where(a.session_id.in_(list(ids)))
            .group_by(a.session_id, a.kind, a.priority)
        ):
            key = "alarms_technical" if kind == "technical" else f"alarms_{priority}"
            out[sid][key] = out[sid].get(key, 0) + int(count)
        for sid, ts, value in conn.execute(
            select(r.session_id, r.ts, r.value)
            .where(r.session_id.in_(list(ids)), r.vital == "sbp", r.quality == "valid")
            .order_by(r.session_id, r.ts, r.id)
        ):
            out[sid]["sbp"].append((ts, value))
    return out


def patient_history(engine: Engine, patient_ref: str) -> list[dict[str, Any]]:
    """Every session of one patient reference, oldest first, with its peak BP rise."""
    s, m = schema.sessions.c, schema.session_summaries.c
    query = (
        select(
            s.id,
            s.bed_id,
            s.started,
            s.ended,
            s.phase,
            s.dose_mg,
            m.peak_sbp,
            m.peak_sbp_rise,
            m.peak_dbp_rise,
            m.baseline_sbp,
            m.alarms_high,
            m.alarms_medium,
            m.alarms_low,
        )
        .select_from(schema.sessions.outerjoin(schema.session_summaries, m.session_id == s.id))
        .where(s.patient_ref == patient_ref)
        .order_by(s.started, s.id)
    )
    with engine.connect() as conn:
        return [_plain(r) for r in conn.execute(query)]


def sessions_without_summary(engine: Engine, ids: Sequence[int] | None, version: int) -> list[int]:
    """Of ``ids`` (None: all), the closed sessions whose stored summary is missing or of another version."""
    s, m = schema.sessions.c, schema.session_summaries.c
    if ids is not None and not ids:
        return []
    query = (
        select(s.id)
        .select_from(schema.sessions.outerjoin(schema.session_summaries, m.session_id == s.id))
        .where(s.ended.is_not(None), (m.version.is_(None)) | (m.version != version))
        .order_by(s.started.desc())
    )
    if ids is not None:
        query = query.where(s.id.in_(list(ids)))
    with engine.connect() as conn:
        return [int(i) for i in conn.scalars(query)]


def device_events(engine: Engine, session_id: int) -> list[dict[str, Any]]:
    c = schema.device_events.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.ts, c.source, c.state, c.vital, c.detail).where(c.session_id == session_id).order_by(c.ts, c.id)
        )
        return [_plain(r) for r in rows]


def rule_override(engine: Engine, session_id: int) -> str | None:
    """The latest rule override (TOML) of a session, if any."""
    c = schema.rule_overrides.c
    with engine.connect() as conn:
        text: str | None = conn.scalar(
            select(c.rules).where(c.session_id == session_id).order_by(c.ts.desc(), c.id.desc()).limit(1)
        )
    return text
