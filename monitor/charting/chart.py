"""The chart of a session as the flowsheet shows it: draft rows merged with the nurse's decisions and
each row's delivery to the EHR destinations; and the nurse's actions on it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from monitor.charting.draft import CHART_VITALS, SOURCES, ChartingPlan, DraftRow, draft_rows
from monitor.model import Session
from monitor.store import charting as store
from monitor.store import readings as reading_store

#: Values a nurse may enter, by charted vital (inclusive bounds): a typo must not become the record.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "hr": (20.0, 300.0),
    "spo2": (50.0, 100.0),
    "sbp": (40.0, 300.0),
    "dbp": (20.0, 200.0),
    "map": (25.0, 250.0),
}
ACTIONS = ("accept", "edit", "reject")


class ChartError(ValueError):
    """A nurse's action that cannot apply (unknown row, missing reason, implausible value)."""


@dataclass(frozen=True, slots=True)
class ChartContext:
    """What a chart needs besides the database: the plan and the configured destinations."""

    plan: ChartingPlan
    destinations: tuple[str, ...]


def draft(engine: Engine, session: Session, plan: ChartingPlan, now: float) -> list[DraftRow]:
    vitals = sorted({s for sources in SOURCES.values() for s in sources})
    readings = reading_store.session_readings(engine, session.id, vitals=vitals, start=session.started - plan.window_s)
    return draft_rows(session, readings, plan, now)


def _values_json(row: DraftRow) -> dict[str, Any]:
    return {v: c.as_json() for v, c in row.values.items() if c is not None}


def row_status(decided: Mapping[str, Any] | None, delivered: Mapping[str, Mapping[str, Any]]) -> str:
    """draft, rejected, accepted/edited (pending), failed (any destination refused it) or filed (all took it)."""
    if decided is None:
        return "draft"
    status = str(decided["status"])
    if status == "rejected" or not delivered:
        return status
    current = [d for d in delivered.values() if d["version"] == decided["version"]]
    if any(d["state"] == "failed" for d in current):
        return "failed"
    if current and len(current) == len(delivered) and all(d["state"] == "sent" for d in current):
        return "filed"
    return status


def chart(engine: Engine, session: Session, ctx: ChartContext, now: float) -> list[dict[str, Any]]:
    """Every row of the session's chart, oldest first, as the API returns it."""
    rows = {r.row: r for r in draft(engine, session, ctx.plan, now)}
    decided = store.decisions(engine, session.id)
    delivered = store.deliveries(engine, session.id)
    out: list[dict[str, Any]] = []
    for key in sorted(set(rows) | set(decided)):
        d = decided.get(key)
        r = rows.get(key)
        values = d["values"] if d is not None else _values_json(r) if r is not None else {}
        deliveries = delivered.get(key, {})
        out.append(
            {
                "row": key,
                "ts": d["ts"] if d is not None else r.ts if r is not None else key / 1000,
                "phase": d["phase"] if d is not None else r.phase if r is not None else "",
                "kind": d["kind"] if d is not None else r.kind if r is not None else "",
                "status": row_status(d, deliveries),
                "values": {v: values.get(v) for v in CHART_VITALS},
                "missing": [v for v in CHART_VITALS if values.get(v) is None],
                "original": d["original"] if d is not None and d["status"] == "edited" else None,
                "reason": d["reason"] if d is not None else None,
                "user": d["user"] if d is not None else None,
                "decided_at": d["decided_at"] if d is not None else None,
                "version": d["version"] if d is not None else 0,
                "delivery": deliveries,
            }
        )
    return out


def payload(
    session: Session, row: Mapping[str, Any], values: Mapping[str, Any], user: str, now: float
) -> dict[str, Any]:
    """What the outbox keeps for the encoders: everything a message needs, frozen at the decision."""
    return {
        "session": session.id,
        "bed": session.bed,
        "patient_ref": session.patient_ref,
        "session_started": session.started,
        "row": row["row"],
        "ts": row["ts"],
        "phase": row["phase"],
        "values": {v: values[v] for v in CHART_VITALS if values.get(v) is not None},
        "user": user,
        "decided_at": now,
    }


def _edited_values(current: Mapping[str, Any], row_ts: float, changes: Mapping[str, float | None]) -> dict[str, Any]:
    out = {v: current[v] for v in CHART_VITALS if current.get(v) is not None}
    for vital, value in changes.items():
        if vital not in CHART_VITALS:
            raise ChartError(f"unknown vital {vital!r} (one of {', '.join(CHART_VITALS)})")
        if value is None:  # the nurse removes a value from the record
            out.pop(vital, None)
            continue
        low, high = PLAUSIBLE[vital]
        if not math.isfinite(value) or not low <= value <= high:
            raise ChartError(f"{vital} {value} is outside {low:g}-{high:g}")
        before = current.get(vital)
        # An edited value keeps the measurement time of what it corrects (or the row's time).
        out[vital] = {
            "value": float(value),
            "ts": before["ts"] if before else row_ts,
            "vital": before["vital"] if before else vital,
        }
    return out


def _same_values(seen: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """The values the nurse saw (``{vital: number|null}``) are those the server would chart."""
    for vital in CHART_VITALS:
        shown = seen.get(vital)
        now = values.get(vital)
        if (shown is None) != (now is None):
            return False
        if shown is not None and now is not None and float(shown) != float(now["value"]):
            return False
    return True


def act(
    engine: Engine,
    session: Session,
    ctx: ChartContext,
    row_key: int,
    action: str,
    user: str,
    now: float,
    *,
    values: Mapping[str, float | None] | None = None,
    reason: str | None = None,
    seen: Mapping[str, Any] | None = None,
    rows: Sequence[dict[str, Any]] | None = None,
) -> int:
    """Apply one nurse action to one row; returns the row's new version.

    ``seen``: for accept, the values on the nurse's screen; accepted only if they are still the
    row's values (data that arrived since must be seen before it is charted). ``rows``: the chart,
    when the caller already has it (accept all).
    """
    if action not in ACTIONS:
        raise ChartError(f"unknown action {action!r}")
    reason = (reason or "").strip() or None
    if action in ("edit", "reject") and reason is None:
        raise ChartError(f"{action} needs a reason")
    current = next(
        (r for r in (rows if rows is not None else chart(engine, session, ctx, now)) if r["row"] == row_key), None
    )
    if current is None:
        raise LookupError(f"no chart row {row_key} in session {session.id}")
    decided = current["version"] > 0
    values_now = {v: c for v, c in current["values"].items() if c is not None}
    if action == "accept":
        if decided:
            raise store.ChartConflict(f"row {row_key} is already {current['status']}")
        if seen is not None and not _same_values(seen, values_now):
            raise store.ChartConflict("the row's values changed since they were shown: review them again")
        status, new_values = "accepted", values_now
    elif action == "edit":
        if current["status"] == "rejected":
            raise store.ChartConflict("a row rejected as artefact cannot be edited")
        if not values:
            raise ChartError("edit needs the new values")
        status, new_values = "edited", _edited_values(values_now, current["ts"], values)
    else:
        if decided:
            raise store.ChartConflict(f"row {row_key} is already {current['status']}: edit it instead")
        status, new_values = "rejected", values_now
    decision = store.Decision(
        session_id=session.id,
        row_key=row_key,
        ts=current["ts"],
        phase=current["phase"],
        kind=current["kind"],
        status=status,
        values=new_values,
        original=values_now if not decided else {},
        reason=reason,
        user=user,
        decided_at=now,
    )
    if status != "rejected" and not new_values:
        # A row with no value would be queued as an empty message; a row withdrawn needs the EHR's own way.
        raise ChartError("nothing to chart on this row: reject it, or edit a value in")
    files = status != "rejected"
    return store.decide(
        engine,
        decision,
        expect_version=int(current["version"]),
        destinations=ctx.destinations,
        payload=payload(session, current, new_values, user, now) if files else None,
        audit_action=f"chart_{action}",
        audit_detail={"values": new_values, "before": values_now, "reason": reason},
    )
