"""SQL of what happened at the chair besides the readings: scale assessments, drugs given, the ketamine
dose actually given, and the optional identifiers printed on the infusion record.

Each change is written with its audit record in one transaction (an unaudited entry cannot exist).
Audit records of identifiers name the fields entered, never their values (they identify a person).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, delete, insert, select

from monitor.store import schema
from monitor.store.audit import insert_audit


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change, and the audit detail that goes with it (the client address)."""

    user: str
    detail: dict[str, Any]


def insert_audited(
    engine: Engine, table: Table, values: dict[str, Any], actor: Actor, action: str, target: str, **detail: Any
) -> int:
    """One row by ``actor`` and its audit record (with the row's id) in one transaction; the new id."""
    with engine.begin() as conn:
        key = conn.execute(insert(table).values(**values, user=actor.user)).inserted_primary_key
        assert key is not None
        insert_audit(conn, actor.user, action, target, {**actor.detail, **detail, "id": key[0]})
        return int(key[0])


def add_assessment(
    engine: Engine,
    actor: Actor,
    session_id: int,
    ts: float,
    scale: str,
    score: float,
    items: list[float] | None,
    recorded: float,
) -> int:
    values = {"session_id": session_id, "ts": ts, "scale": scale, "score": score, "recorded": recorded}
    values["items"] = None if items is None else json.dumps(items)
    return insert_audited(engine, schema.assessments, values, actor, "assessment", f"session:{session_id}", scale=scale)


def session_assessments(engine: Engine, session_id: int) -> list[dict[str, Any]]:
    c = schema.assessments.c
    with engine.connect() as conn:
        rows = conn.execute(select(schema.assessments).where(c.session_id == session_id).order_by(c.ts, c.id))
        out = []
        for r in rows:
            row = dict(r._mapping)
            row["items"] = None if row["items"] is None else json.loads(row["items"])
            out.append(row)
        return out


def add_medication(
    engine: Engine,
    actor: Actor,
    session_id: int,
    ts: float,
    drug: str,
    dose: float,
    unit: str,
    route: str,
    recorded: float,
) -> int:
    values = {"session_id": session_id, "ts": ts, "drug": drug, "dose": dose, "unit": unit, "route": route}
    values["recorded"] = recorded
    return insert_audited(engine, schema.medications, values, actor, "medication", f"session:{session_id}", drug=drug)


def session_medications(engine: Engine, session_id: int) -> list[dict[str, Any]]:
    c = schema.medications.c
    with engine.connect() as conn:
        rows = conn.execute(select(schema.medications).where(c.session_id == session_id).order_by(c.ts, c.id))
        return [dict(r._mapping) for r in rows]


def set_given_dose(
    engine: Engine, actor: Actor, session_id: int, dose_mg: float, computed_mg: float | None, reason: str, ts: float
) -> None:
    """The nurse's figure for the dose given (replacing an earlier entry; the audit keeps both)."""
    with engine.begin() as conn:
        conn.execute(delete(schema.given_doses).where(schema.given_doses.c.session_id == session_id))
        conn.execute(
            insert(schema.given_doses).values(
                session_id=session_id, dose_mg=dose_mg, computed_mg=computed_mg, reason=reason, user=actor.user, ts=ts
            )
        )
        insert_audit(
            conn,
            actor.user,
            "given_dose",
            f"session:{session_id}",
            {**actor.detail, "dose_mg": dose_mg, "computed_mg": computed_mg, "reason": reason},
        )


def given_dose_entry(engine: Engine, session_id: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(schema.given_doses).where(schema.given_doses.c.session_id == session_id)).first()
        return None if row is None else dict(row._mapping)


def set_identity(
    engine: Engine,
    actor: Actor,
    session_id: int,
    name: str | None,
    birth_date: str | None,
    mrn: str | None,
    ts: float,
) -> None:
    fields = {"name": name, "birth_date": birth_date, "mrn": mrn}
    with engine.begin() as conn:
        conn.execute(delete(schema.session_identities).where(schema.session_identities.c.session_id == session_id))
        conn.execute(insert(schema.session_identities).values(session_id=session_id, user=actor.user, ts=ts, **fields))
        # Which fields were entered, never what they say.
        entered = sorted(k for k, v in fields.items() if v)
        insert_audit(conn, actor.user, "session_identity", f"session:{session_id}", {**actor.detail, "fields": entered})


def identity(engine: Engine, session_id: int) -> dict[str, Any] | None:
    t = schema.session_identities
    with engine.connect() as conn:
        row = conn.execute(select(t.c.name, t.c.birth_date, t.c.mrn).where(t.c.session_id == session_id)).first()
        return None if row is None else dict(row._mapping)


def session_row(engine: Engine, session_id: int) -> dict[str, Any] | None:
    """Every stored column of a session (protocol, discharge and escort columns included where the
    schema has them): the printed records read what is there and say "not recorded" for the rest."""
    with engine.connect() as conn:
        row = conn.execute(select(schema.sessions).where(schema.sessions.c.id == session_id)).first()
        return None if row is None else dict(row._mapping)


def user_roles(engine: Engine, usernames: list[str]) -> dict[str, str]:
    """The role of each named user that exists (the records print who acted in which role)."""
    if not usernames:
        return {}
    u = schema.users.c
    with engine.connect() as conn:
        return {r.username: r.role for r in conn.execute(select(u.username, u.role).where(u.username.in_(usernames)))}
