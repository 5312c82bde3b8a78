"""Alarms as stored: per-session rule overrides (the alarms' own rows follow from ``repo.py``)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Engine, insert, select

from monitor.store import schema


def insert_rule_override(engine: Engine, session_id: int, rules_json: str, user: str) -> None:
    """Append a session's rules as JSON ("" = back to the clinic rules); the latest row wins."""
    with engine.begin() as conn:
        conn.execute(
            insert(schema.rule_overrides).values(session_id=session_id, rules=rules_json, user=user, ts=time.time())
        )


def rule_override_rows(engine: Engine, session_ids: Sequence[int]) -> list[tuple[int, str]]:
    """``(session_id, rules_json)`` of every stored override of these sessions, oldest first."""
    c = schema.rule_overrides.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.session_id, c.rules).where(c.session_id.in_(list(session_ids))).order_by(c.id))
        return [(int(sid), str(text or "")) for sid, text in rows]
