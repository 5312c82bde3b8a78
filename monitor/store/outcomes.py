"""SQL of a patient's course of treatment: follow-up outcome scores, and per-session figures of the
patient's sessions read in a few queries (side effects by category, assessment extremes, dose entries)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, func, select

from monitor.store import schema
from monitor.store.assessments import Actor, insert_audited


def add_outcome(
    engine: Engine, actor: Actor, patient_ref: str, scale: str, score: float, day: str, recorded: float
) -> int:
    # The audit names the record, not the patient's score (the outcome table holds it, under access control).
    values = {"patient_ref": patient_ref, "scale": scale, "score": score, "date": day, "recorded": recorded}
    return insert_audited(engine, schema.outcomes, values, actor, "outcome", f"patient:{patient_ref}", scale=scale)


def patient_outcomes(engine: Engine, patient_ref: str) -> list[dict[str, Any]]:
    c = schema.outcomes.c
    with engine.connect() as conn:
        rows = conn.execute(select(schema.outcomes).where(c.patient_ref == patient_ref).order_by(c.date, c.id))
        return [dict(r._mapping) for r in rows]


def summaries_of(engine: Engine, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The stored review figures of these sessions (closed ones; an open session has none yet)."""
    if not ids:
        return {}
    m = schema.session_summaries.c
    with engine.connect() as conn:
        rows = conn.execute(select(schema.session_summaries).where(m.session_id.in_(list(ids))))
        return {int(r.session_id): {k: v for k, v in r._mapping.items() if k != "figures"} for r in rows}


def side_effects(engine: Engine, ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Adverse events per session and category (a note without a category counts as "other")."""
    if not ids:
        return {}
    n = schema.notes.c
    query = (
        select(n.session_id, n.category, func.count())
        .where(n.session_id.in_(list(ids)), n.kind == "adverse")
        .group_by(n.session_id, n.category)
    )
    out: dict[int, dict[str, int]] = {}
    with engine.connect() as conn:
        for sid, category, count in conn.execute(query):
            key = category or "other"
            out.setdefault(int(sid), {})[key] = out.get(int(sid), {}).get(key, 0) + int(count)
    return out


def assessment_extremes(engine: Engine, ids: Sequence[int]) -> dict[int, dict[str, dict[str, float]]]:
    """Per session and scale, the lowest and highest score and how many were taken."""
    if not ids:
        return {}
    a = schema.assessments.c
    query = (
        select(a.session_id, a.scale, func.min(a.score), func.max(a.score), func.count())
        .where(a.session_id.in_(list(ids)))
        .group_by(a.session_id, a.scale)
    )
    out: dict[int, dict[str, dict[str, float]]] = {}
    with engine.connect() as conn:
        for sid, scale, low, high, count in conn.execute(query):
            out.setdefault(int(sid), {})[str(scale)] = {"min": float(low), "max": float(high), "count": int(count)}
    return out


def given_dose_entries(engine: Engine, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    g = schema.given_doses.c
    with engine.connect() as conn:
        rows = conn.execute(select(schema.given_doses).where(g.session_id.in_(list(ids))))
        return {int(r.session_id): dict(r._mapping) for r in rows}
