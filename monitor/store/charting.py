"""SQL of charting: the nurse's decisions on chart rows, the EHR outbox, and their audit records.

A decision, its audit record and the outbox entries it files are written in ONE transaction: a row
accepted is a row queued for every destination, or nothing happened at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from monitor.store import schema


class ChartConflict(Exception):
    """The row changed since the nurse saw it (another decision came first)."""


@dataclass(frozen=True, slots=True)
class Decision:
    session_id: int
    row_key: int
    ts: float
    phase: str
    kind: str
    status: str  # accepted | edited | rejected
    values: dict[str, Any]
    original: dict[str, Any]
    reason: str | None
    user: str
    decided_at: float


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    destination: str
    session_id: int
    row_key: int
    version: int
    payload: dict[str, Any]
    attempts: int


def decisions(engine: Engine, session_id: int) -> dict[int, dict[str, Any]]:
    """The session's decided rows by row key (values and original decoded)."""
    c = schema.chart_rows.c
    with engine.connect() as conn:
        rows = conn.execute(select(schema.chart_rows).where(c.session_id == session_id).order_by(c.ts))
        out: dict[int, dict[str, Any]] = {}
        for r in rows:
            row = dict(r._mapping)
            row["values"] = json.loads(row["values"])
            row["original"] = json.loads(row["original"])
            out[int(row["row_key"])] = row
        return out


def decide(
    engine: Engine,
    decision: Decision,
    *,
    expect_version: int,
    destinations: Sequence[str],
    payload: dict[str, Any] | None,
    audit_action: str,
    audit_detail: dict[str, Any],
) -> int:
    """Record a decision (``expect_version`` 0: the row is still a draft), audit it and, when
    ``payload`` is given, queue it for each destination. Returns the row's new version."""
    c = schema.chart_rows.c
    version = expect_version + 1
    values = json.dumps(decision.values)
    try:
        with engine.begin() as conn:
            if expect_version == 0:
                conn.execute(
                    insert(schema.chart_rows).values(
                        session_id=decision.session_id,
                        row_key=decision.row_key,
                        ts=decision.ts,
                        phase=decision.phase,
                        kind=decision.kind,
                        status=decision.status,
                        version=version,
                        values=values,
                        original=json.dumps(decision.original),
                        reason=decision.reason,
                        user=decision.user,
                        decided_at=decision.decided_at,
                    )
                )
            else:
                done = conn.execute(
                    update(schema.chart_rows)
                    .where(
                        and_(
                            c.session_id == decision.session_id,
                            c.row_key == decision.row_key,
                            c.version == expect_version,
                        )
                    )
                    .values(
                        status=decision.status,
                        version=version,
                        values=values,
                        reason=decision.reason,
                        user=decision.user,
                        decided_at=decision.decided_at,
                    )
                )
                if done.rowcount != 1:
                    raise ChartConflict("the row was changed by someone else: reload the chart")
            if payload is not None:
                for destination in destinations:
                    _enqueue(conn, decision, version, destination, payload)
            conn.execute(
                insert(schema.audit).values(
                    ts=decision.decided_at,
                    user=decision.user,
                    action=audit_action,
                    target=f"session:{decision.session_id}/chart:{decision.row_key}",
                    detail=json.dumps({**audit_detail, "version": version}, default=str),
                )
            )
    except IntegrityError:
        raise ChartConflict("the row was decided by someone else: reload the chart") from None
    return version


def _enqueue(conn: Any, decision: Decision, version: int, destination: str, payload: dict[str, Any]) -> None:
    o = schema.ehr_outbox.c
    # Anything queued before for this row and destination makes this one a correction (OBX-11 C).
    earlier = conn.scalar(
        select(func.count())
        .select_from(schema.ehr_outbox)
        .where(
            and_(
                o.session_id == decision.session_id,
                o.row_key == decision.row_key,
                o.destination == destination,
            )
        )
    )
    conn.execute(
        insert(schema.ehr_outbox).values(
            destination=destination,
            session_id=decision.session_id,
            row_key=decision.row_key,
            version=version,
            payload=json.dumps({**payload, "version": version, "correction": bool(earlier)}),
            state="pending",
            attempts=0,
            created=decision.decided_at,
        )
    )


def pending(engine: Engine, destination: str, limit: int = 100) -> list[OutboxEntry]:
    """The destination's next entries to send, oldest first."""
    o = schema.ehr_outbox.c
    query = (
        select(o.id, o.destination, o.session_id, o.row_key, o.version, o.payload, o.attempts)
        .where(and_(o.destination == destination, o.state == "pending"))
        .order_by(o.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [
            OutboxEntry(r.id, r.destination, r.session_id, r.row_key, r.version, json.loads(r.payload), r.attempts)
            for r in conn.execute(query)
        ]


def mark_sent(engine: Engine, entry_id: int, now: float) -> None:
    _finish(engine, entry_id, "sent", None, now)


def mark_failed(engine: Engine, entry_id: int, reason: str, now: float) -> None:
    _finish(engine, entry_id, "failed", reason, now)


def _finish(engine: Engine, entry_id: int, state: str, reason: str | None, now: float) -> None:
    o = schema.ehr_outbox.c
    with engine.begin() as conn:
        conn.execute(
            update(schema.ehr_outbox)
            .where(o.id == entry_id)
            .values(state=state, last_error=reason, done_at=now, attempts=o.attempts + 1)
        )


def note_attempt(engine: Engine, entry_id: int, error: str) -> None:
    """A delivery that failed for a transient reason: counted, the reason kept, still pending."""
    o = schema.ehr_outbox.c
    with engine.begin() as conn:
        conn.execute(
            update(schema.ehr_outbox).where(o.id == entry_id).values(attempts=o.attempts + 1, last_error=error[:2000])
        )


def deliveries(engine: Engine, session_id: int) -> dict[int, dict[str, dict[str, Any]]]:
    """Per row key and destination: the newest entry's state, version, attempts and reason."""
    o = schema.ehr_outbox.c
    query = (
        select(o.row_key, o.destination, o.version, o.state, o.attempts, o.last_error, o.done_at)
        .where(o.session_id == session_id)
        .order_by(o.id)
    )
    out: dict[int, dict[str, dict[str, Any]]] = {}
    with engine.connect() as conn:
        for r in conn.execute(query):
            out.setdefault(int(r.row_key), {})[r.destination] = {
                "state": r.state,
                "version": r.version,
                "attempts": r.attempts,
                "reason": r.last_error,
                "at": r.done_at,
            }
    return out


def filed_payloads(engine: Engine, session_id: int, destination: str) -> list[dict[str, Any]]:
    """The newest queued payload of each row of a session for one destination, in row order."""
    o = schema.ehr_outbox.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(o.row_key, o.payload)
            .where(and_(o.session_id == session_id, o.destination == destination))
            .order_by(o.id)
        )
        newest = {int(r.row_key): json.loads(r.payload) for r in rows}
    return [newest[k] for k in sorted(newest)]


def outbox_counts(engine: Engine) -> dict[tuple[str, str], int]:
    """Entries by (destination, state), for /metrics."""
    o = schema.ehr_outbox.c
    with engine.connect() as conn:
        rows = conn.execute(select(o.destination, o.state, func.count()).group_by(o.destination, o.state))
        return {(r[0], r[1]): int(r[2]) for r in rows}
