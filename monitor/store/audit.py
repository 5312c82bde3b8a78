"""The audit trail: who did what, when (acknowledgements, silences, rule changes, session edits, logins)."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from monitor.store import schema


def write_audit(
    engine: Engine, user: str | None, action: str, target: str | None = None, detail: dict[str, Any] | None = None
) -> None:
    """Who did what, when. Written synchronously: an audited action is not done until it is recorded."""
    with engine.begin() as conn:
        insert_audit(conn, user, action, target, detail)


def insert_audit(
    conn: Connection, user: str | None, action: str, target: str | None = None, detail: dict[str, Any] | None = None
) -> None:
    """The audit record inside the caller's transaction: the change and its record commit together."""
    conn.execute(
        insert(schema.audit).values(
            # machine time: the audit trail is stamped by the machine (the same as the clinic's clock but in a demo).
            ts=time.time(),
            user=user,
            action=action,
            target=target,
            detail=json.dumps(detail or {}, default=str),
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
