"""Versioned clinic rule sets: which one is in force, adopting a new one, and following adoptions.

Every version is kept in the store (``monitor/store/rule_sets.py``) with its TOML text, author and time;
the highest is in force and every alarm records the version that raised it (``Alarm.rule_set_version``,
stamped by :class:`alerts.lifecycle.AlarmBook`).

How a version reaches every process: the process that adopts it stores it, applies it to its own
alarm stage and publishes a ``rules`` event (``monitor.events.rule_set_event``) on the bus. Every
process (the single process, the ingest and each web process) subscribes a :class:`RuleSetFollower`,
which applies each newer version it sees; on PostgreSQL the event crosses processes through the event
log like an alarm does (a web process publishes through the ingest, which applies it before it answers).
A process that starts reads the version in force from the store.

At the start of the process that judges (single or ingest), the configured rule file (or the shipped
defaults) is compared with the last configured version: a file edited since is recorded as a new
version and wins, as editing the file and restarting always did; otherwise the latest version
(possibly adopted on screen) stays in force.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from alerts.rules import Rule, RuleError, loads_rules
from monitor.bus import Event
from monitor.events import rule_set_event
from monitor.store import rule_sets as store
from monitor.store.rule_sets import ADOPTED, CONFIGURED, RuleSetRow

log = logging.getLogger(__name__)

#: Author of the versions seeded from the configuration at a start.
SYSTEM_AUTHOR = "configuration"
#: The largest rule file accepted on screen (the shipped defaults are ~3 kB).
MAX_TOML_CHARS = 200_000


@dataclass(frozen=True, slots=True)
class RuleSet:
    """One version with its rules parsed."""

    row: RuleSetRow
    rules: list[Rule]

    @property
    def version(self) -> int:
        return self.row.version

    def event(self) -> Event:
        r = self.row
        return rule_set_event(r.version, r.rules_toml, r.origin, r.author, r.created, r.note)


def configured_text(rules_file: Path | None) -> tuple[str, str]:
    """``(text, where)`` of the configured rule file, else of the shipped defaults."""
    if rules_file is None:
        return resources.files("alerts").joinpath("defaults.toml").read_text(encoding="utf-8"), "alerts/defaults.toml"
    try:
        return Path(rules_file).read_text(encoding="utf-8"), str(rules_file)
    except OSError as exc:
        raise RuleError(f"cannot read rule file {rules_file}: {exc.strerror or exc}") from None


def parse_version(row: RuleSetRow) -> RuleSet:
    return RuleSet(row, loads_rules(row.rules_toml, f"rule set version {row.version}"))


def in_force_at_start(engine: Engine, rules_file: Path | None, now: float) -> tuple[RuleSet, bool]:
    """The version to judge by when the judging process starts; True when this start recorded it."""
    text, where = configured_text(rules_file)
    loads_rules(text, where)  # a broken file stops the start, as it always did
    seeded = store.latest_version(engine, CONFIGURED)
    if seeded is None or seeded.sha256 != store.text_digest(text):
        row = store.insert_version(engine, text, CONFIGURED, SYSTEM_AUTHOR, now, f"from {where} at start")
        return parse_version(row), True
    latest = store.latest_version(engine)
    assert latest is not None
    return parse_version(latest), False


def current(engine: Engine) -> RuleSet | None:
    """The version in force as stored (a web process's start), None before the first."""
    row = store.latest_version(engine)
    return None if row is None else parse_version(row)


def adopt(engine: Engine, rules_toml: str, author: str, note: str, now: float) -> RuleSet:
    """Validate ``rules_toml`` (as a rule file is) and store it as the next version; raises RuleError."""
    if len(rules_toml) > MAX_TOML_CHARS:
        raise RuleError(f"proposed rules: longer than {MAX_TOML_CHARS} characters")
    rules = loads_rules(rules_toml, "proposed rules")
    if not rules:
        raise RuleError("proposed rules: no [[rule]] table (a clinic without alarm rules is not allowed)")
    return RuleSet(store.insert_version(engine, rules_toml, ADOPTED, author, now, note), rules)


class RuleSetFollower:
    """A bus subscriber: applies every newer ``rules`` event to this process's alarm stage.

    Versions only go forward (going back is a new version with the old text), so an event seen
    twice (the adopting process applies at once, then sees its own event) or late changes nothing.
    """

    def __init__(self, stage: Any) -> None:
        self.stage = stage

    def __call__(self, event: Event) -> None:
        if event.get("type") != "rules":
            return
        version = int(event["version"])
        held = self.stage.rule_set_version
        if held is not None and version <= held:
            return
        try:
            rules = loads_rules(str(event["rules_toml"]), f"rule set version {version}")
        except RuleError:  # validated when adopted: only a newer program's format could get here
            log.exception("rule set version %d not applied: this process keeps version %s", version, held)
            return
        self.stage.set_rules(rules, version=version)
        log.info("rule set version %d in force (%s by %s)", version, event.get("origin"), event.get("author"))
