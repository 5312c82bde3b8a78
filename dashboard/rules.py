"""Per-session rule overrides: what a role may change, storage, and restoring them after a restart.

A session override replaces the clinic rules for that session only. The
clinic's always-on rules (those that also judge readings with no session,
e.g. SpO2 < 85) guard every patient; an override may not drop or change them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine

from alerts.cases import stored_overrides
from alerts.rules import Rule, RuleError, parse_rules
from monitor.model import UNASSIGNED
from monitor.store import alarms as alarm_store


def protected(clinic: Sequence[Rule]) -> list[Rule]:
    """The clinic rules no session override may remove or loosen."""
    return [r for r in clinic if UNASSIGNED in r.phases]


def parse_override(tables: Sequence[Mapping[str, Any]], clinic: Sequence[Rule], session_id: int) -> list[Rule]:
    """Validate an override (rule tables as in the TOML file); raises :class:`RuleError` with the reason."""
    rules = parse_rules(tables, f"session {session_id} rules")
    given = {r.id: r for r in rules}
    for keep in protected(clinic):
        if given.get(keep.id) != keep:
            raise RuleError(
                f"session {session_id} rules: the always-on clinic rule {keep.id!r} must stay unchanged "
                "(it protects every patient, with or without a session)"
            )
    return rules


def save_override(engine: Engine, session_id: int, rules: Sequence[Rule] | None, user: str, ts: float) -> None:
    """Append the session's new rules (None: back to the clinic rules) at ``ts`` (the service's clock);
    the latest row wins."""
    text = "" if rules is None else json.dumps([r.to_toml_dict() for r in rules])
    alarm_store.insert_rule_override(engine, session_id, text, user, ts)


def load_overrides(engine: Engine, session_ids: Sequence[int]) -> dict[int, list[Rule] | None]:
    """The latest override of each session (None where it was cleared)."""
    return stored_overrides(engine, session_ids)


def restore_overrides(engine: Engine, alarm_stage: Any, session_ids: Sequence[int]) -> int:
    """Re-apply stored overrides of open sessions to the alarm engine; returns how many."""
    applied = 0
    for sid, rules in load_overrides(engine, session_ids).items():
        if rules is not None:
            alarm_stage.set_session_rules(sid, rules)
            applied += 1
    return applied
