"""SQL of the integrator's view: observation codes seen per sender (table ``hl7_codes``).

The HL7 listener counts codes in memory; every few seconds the service adds
those counts here in one transaction (:func:`add_counts`), so the
per-message path never touches this table. ``ivmon hl7 codes`` and the admin
page read it with :func:`list_codes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, case, select
from sqlalchemy.dialects import postgresql, sqlite

from monitor.store import schema

#: Rows one listing returns at most (a sender sending random codes cannot make a page unbounded).
MAX_ROWS = 2000


@dataclass(slots=True, frozen=True)
class CodeCount:
    """Counts of one code from one sender since the last flush."""

    sender: str
    obx3: str
    obx6: str
    code: str
    label: str
    code_system: str
    unit: str
    count: int
    example_value: str
    outcome: str
    flagged: bool


def add_counts(engine: Engine, counts: Sequence[CodeCount], now: float) -> None:
    """Add the counts (one upsert for the lot): new codes are inserted, known ones counted on."""
    if not counts:
        return
    t = schema.hl7_codes
    upsert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    stmt = upsert(t)
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["sender", "obx3", "obx6"],
        set_={
            "count": t.c.count + excluded.count,
            "example_value": case((excluded.example_value != "", excluded.example_value), else_=t.c.example_value),
            "outcome": excluded.outcome,
            "flagged": excluded.flagged,
            "last_seen": excluded.last_seen,
        },
    )
    rows = [
        {
            "sender": c.sender,
            "obx3": c.obx3,
            "obx6": c.obx6,
            "code": c.code,
            "label": c.label,
            "code_system": c.code_system,
            "unit": c.unit,
            "count": c.count,
            "example_value": c.example_value,
            "outcome": c.outcome,
            "flagged": c.flagged,
            "first_seen": now,
            "last_seen": now,
        }
        for c in counts
    ]
    with engine.begin() as conn:
        conn.execute(stmt, rows)


def list_codes(engine: Engine, since: float | None = None, limit: int = MAX_ROWS) -> list[dict[str, Any]]:
    """Codes seen (at or after ``since``): flagged ones first, then by sender and count."""
    t = schema.hl7_codes
    query = select(t).order_by(t.c.flagged.desc(), t.c.sender, t.c.count.desc(), t.c.id)
    if since is not None:
        query = query.where(t.c.last_seen >= since)
    with engine.connect() as conn:
        rows = conn.execute(query.limit(max(1, min(limit, MAX_ROWS)))).mappings().all()
    return [
        {
            "sender": r["sender"],
            "code": r["code"],
            "label": r["label"],
            "system": r["code_system"],
            "unit": r["unit"],
            "count": int(r["count"]),
            "example_value": r["example_value"],
            "outcome": r["outcome"],
            "flagged": bool(r["flagged"]),
            "first_seen": r["first_seen"],
            "last_seen": r["last_seen"],
        }
        for r in rows
    ]
