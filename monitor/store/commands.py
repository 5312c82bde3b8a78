"""The ``commands`` table: user actions a web process hands to the ingest process, and their answers.

Each change NOTIFYs the other side in the same transaction (:func:`monitor.store.events.notify`).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy import Engine, insert, select, update

from monitor.store import schema
from monitor.store.events import notify


def insert_command(engine: Engine, kind: str, payload: dict[str, Any], user: str, channel: str) -> int:
    """Queue a command as ``pending``; returns its id."""
    # machine time: command ages are compared across processes.
    row = {"ts": time.time(), "kind": kind, "payload": orjson.dumps(payload).decode(), "user": user}
    with engine.begin() as conn:
        inserted = conn.execute(insert(schema.commands).values(status="pending", **row))
        command_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
        notify(conn, channel, str(command_id))
    return command_id


def command_status(engine: Engine, command_id: int) -> tuple[str, str | None]:
    c = schema.commands.c
    with engine.connect() as conn:
        row = conn.execute(select(c.status, c.result).where(c.id == command_id)).one()
    return str(row[0]), row[1]


def withdraw_command(engine: Engine, command_id: int) -> bool:
    """Expire a command nobody took yet; False when the ingest already took it."""
    c = schema.commands.c
    with engine.begin() as conn:
        result = conn.execute(
            update(schema.commands)
            .where(c.id == command_id, c.status == "pending")
            # machine time: command ages are compared across processes.
            .values(status="expired", done_ts=time.time(), result='{"error": "withdrawn: no answer in time"}')
        )
        return bool(result.rowcount)


def claim_commands(engine: Engine) -> list[tuple[int, float, str, str, str]]:
    """Take every pending command: ``(id, ts, kind, payload, user)``, oldest first."""
    c = schema.commands.c
    # One statement: a command withdrawn by its web process meanwhile is not taken.
    with engine.begin() as conn:
        rows = conn.execute(
            update(schema.commands)
            .where(c.status == "pending")
            .values(status="running")
            .returning(c.id, c.ts, c.kind, c.payload, c.user)
        ).all()
    return sorted((int(r[0]), float(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows)


def finish_command(engine: Engine, command_id: int, status: str, result: dict[str, Any], channel: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(schema.commands)
            .where(schema.commands.c.id == command_id)
            # machine time: command ages are compared across processes.
            .values(status=status, result=orjson.dumps(result).decode(), done_ts=time.time())
        )
        notify(conn, channel, str(command_id))
