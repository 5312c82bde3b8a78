"""The event log of a multi-process site: screen events by ``seq``, and PostgreSQL NOTIFY/LISTEN.

The ingest appends (through the batched writer, or :func:`insert_event` for its restart marker), web
processes read what follows their last ``seq``; the transient part is pruned to the resume window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, text

from monitor.store import schema


def newest_seq(engine: Engine) -> int:
    """The highest stored seq (0 for an empty log)."""
    with engine.connect() as conn:
        return int(conn.scalar(select(func.max(schema.events.c.seq))) or 0)


def insert_event(engine: Engine, seq: int, ts: float, kind: str, payload: str) -> None:
    with engine.begin() as conn:
        conn.execute(insert(schema.events).values(seq=seq, ts=ts, type=kind, payload=payload))


def events_after(engine: Engine, after: int, limit: int) -> list[tuple[int, float, str]]:
    """``(seq, ts, payload)`` of the events past ``after``, oldest first."""
    ev = schema.events
    with engine.connect() as conn:
        rows = conn.execute(
            select(ev.c.seq, ev.c.ts, ev.c.payload).where(ev.c.seq > after).order_by(ev.c.seq).limit(limit)
        ).all()
    return [(int(r[0]), float(r[1]), str(r[2])) for r in rows]


def prune_events(engine: Engine, cutoff: float, transient_types: Sequence[str]) -> int:
    """Drop transient events older than ``cutoff`` (never the newest event: it carries the seq on restart)."""
    ev = schema.events
    with engine.begin() as conn:
        newest = conn.scalar(select(func.max(ev.c.seq)))
        if newest is None:
            return 0
        result = conn.execute(
            delete(ev).where(ev.c.ts < cutoff, ev.c.type.in_(list(transient_types)), ev.c.seq < newest)
        )
        return int(result.rowcount or 0)


def notify(conn: Connection, channel: str, payload: str) -> None:
    """NOTIFY ``channel`` when this transaction commits (PostgreSQL only; a no-op elsewhere)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:ch, :p)"), {"ch": channel, "p": payload})


async def listen(conn: Any, channel: str) -> None:
    """LISTEN on a psycopg async connection (``channel`` is one of the project's constant names)."""
    if not channel.replace("_", "").isalnum():
        raise ValueError(f"not a channel name: {channel!r}")
    await conn.execute(f"LISTEN {channel}")
