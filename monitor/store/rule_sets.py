"""The clinic rule set's versions: every one kept with its TOML text, author and time (``rule_sets``).

The highest version is in force. A version is never changed or deleted; going back to an older rule
set adopts its text again as a new version, so "which rules raised this alarm" always has one answer
(``alarms.rule_set_version``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, desc, insert, select

from monitor.store import schema

#: ``origin`` of a version: adopted by an admin, or seeded at a start from the configured rule file
#: (or the shipped defaults) when its text differs from the last one seeded.
ADOPTED = "adopted"
CONFIGURED = "configured"


@dataclass(frozen=True, slots=True)
class RuleSetRow:
    version: int
    rules_toml: str
    sha256: str
    origin: str
    author: str
    created: float
    note: str


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _row(r: Any) -> RuleSetRow:
    m = r._mapping
    return RuleSetRow(
        int(m["version"]),
        str(m["rules_toml"]),
        str(m["sha256"]),
        str(m["origin"]),
        str(m["author"]),
        float(m["created"]),
        str(m["note"] or ""),
    )


def insert_version(
    engine: Engine, rules_toml: str, origin: str, author: str, created: float, note: str = ""
) -> RuleSetRow:
    """Append a version (numbered by the database: two adoptions at once get two numbers)."""
    digest = text_digest(rules_toml)
    values = {
        "rules_toml": rules_toml,
        "sha256": digest,
        "origin": origin,
        "author": author,
        "created": created,
        "note": note,
    }
    with engine.begin() as conn:
        stmt = insert(schema.rule_sets).values(**values).returning(schema.rule_sets.c.version)
        version = conn.execute(stmt).scalar_one()
    return RuleSetRow(int(version), rules_toml, digest, origin, author, created, note)


def latest_version(engine: Engine, origin: str | None = None) -> RuleSetRow | None:
    """The version in force (the highest), or the highest of one ``origin``; None before the first."""
    c = schema.rule_sets.c
    query = select(schema.rule_sets).order_by(desc(c.version)).limit(1)
    if origin is not None:
        query = query.where(c.origin == origin)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else _row(row)


def get_version(engine: Engine, version: int) -> RuleSetRow | None:
    with engine.connect() as conn:
        row = conn.execute(select(schema.rule_sets).where(schema.rule_sets.c.version == version)).first()
    return None if row is None else _row(row)


def versions(engine: Engine, start: float | None = None, end: float | None = None) -> list[RuleSetRow]:
    """Every version created in [start, end) (all without bounds), oldest first."""
    c = schema.rule_sets.c
    query = select(schema.rule_sets).order_by(c.version)
    if start is not None:
        query = query.where(c.created >= start)
    if end is not None:
        query = query.where(c.created < end)
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(query)]
