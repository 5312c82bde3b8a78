"""Alarms as stored: per-session rule overrides, the actionable answer (the alarms' own rows follow from
``repo.py``)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Engine, insert, select, update

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


def record_actionable(engine: Engine, alarm_id: str, actionable: bool, user: str, ts: float) -> bool:
    """Store the answer to "was this alarm actionable?" and its event (who, when); False: no such alarm.

    A targeted update, not the alarm's whole row: the answer is an annotation the engine does not hold
    (it may come after the alarm left the screens), and the engine's later rewrites of the row keep a
    stored answer (``transaction._upsert_alarm``), so it needs no trip through the ingest process.
    """
    c = schema.alarms.c
    with engine.begin() as conn:
        state = conn.scalar(select(c.state).where(c.id == alarm_id))
        if state is None:
            return False
        conn.execute(update(schema.alarms).where(c.id == alarm_id).values(actionable=actionable))
        conn.execute(
            insert(schema.alarm_events).values(
                alarm_id=alarm_id,
                ts=ts,
                transition="actionable" if actionable else "not-actionable",
                state=state,
                user=user,
            )
        )
    return True
