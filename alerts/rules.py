"""Alarm rules: the TOML format of spec/alarms.md, validated on load, and the shipped defaults.

A rule file is a list of ``[[rule]]`` tables. Every error names the file, the
rule (by position and id) and the field, so a clinic editing its rules sees at
once what to fix. Validation is strict: an unknown key is an error (a typo in
``delay_s`` must not silently mean "no delay").
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from monitor.model import UNASSIGNED, Phase, Priority, Vital

#: Phases a rule may name: the open phases plus readings bound to no session.
RULE_PHASES: frozenset[str] = frozenset({Phase.BASELINE.value, Phase.INFUSION.value, Phase.RECOVERY.value, UNASSIGNED})
DEFAULT_PHASES: frozenset[str] = frozenset({Phase.BASELINE.value, Phase.INFUSION.value, Phase.RECOVERY.value})
OPS: frozenset[str] = frozenset({"<", "<=", ">", ">="})
_KEYS = frozenset(
    {
        "id",
        "vital",
        "op",
        "limit",
        "baseline_delta",
        "baseline_ratio",
        "priority",
        "delay_s",
        "hysteresis",
        "phases",
        "message",
    }
)


class RuleError(ValueError):
    """A rule file that cannot be used, with a reason a clinician can act on."""


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    vital: Vital
    op: str
    priority: Priority
    limit: float | None = None
    baseline_delta: float | None = None
    baseline_ratio: float | None = None
    delay_s: float = 0.0
    hysteresis: float = 0.0
    phases: frozenset[str] = DEFAULT_PHASES
    message: str = ""

    @property
    def relative(self) -> bool:
        return self.limit is None

    @property
    def upper(self) -> bool:
        """True when the alarm is on high values (``>``/``>=``)."""
        return self.op[0] == ">"

    def limit_for(self, baseline: float | None) -> float | None:
        """The effective limit; None when the rule is relative and there is no baseline (rule inactive)."""
        if self.limit is not None:
            return self.limit
        if baseline is None:
            return None
        if self.baseline_delta is not None:
            return baseline + self.baseline_delta
        assert self.baseline_ratio is not None
        return baseline * self.baseline_ratio

    def clear_threshold(self, limit: float) -> float:
        """With hysteresis, the value the reading must reach (inclusive) to end an episode."""
        return limit - self.hysteresis if self.upper else limit + self.hysteresis

    def to_toml_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "vital": self.vital.value, "op": self.op}
        for key in ("limit", "baseline_delta", "baseline_ratio"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out.update(
            priority=self.priority.value,
            delay_s=self.delay_s,
            hysteresis=self.hysteresis,
            phases=sorted(self.phases),
            message=self.message,
        )
        return out


def _number(where: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RuleError(f"{where}: {key} must be a finite number, not {value!r}")
    return float(value)


def parse_rule(raw: Mapping[str, Any], where: str) -> Rule:
    """One ``[[rule]]`` table -> a validated :class:`Rule` (``where`` prefixes every error)."""
    if not isinstance(raw, Mapping):
        raise RuleError(f"{where}: a rule must be a table")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not rule_id.strip():
        raise RuleError(f"{where}: id is required (a non-empty string)")
    where = f"{where} ({rule_id})"
    try:
        vital = Vital(str(raw.get("vital")))
    except ValueError:
        known = ", ".join(v.value for v in Vital)
        raise RuleError(f"{where}: unknown vital {raw.get('vital')!r} (known: {known})") from None
    op = raw.get("op")
    if op not in OPS:
        raise RuleError(f"{where}: op must be one of < <= > >=, not {op!r}")
    try:
        priority = Priority(str(raw.get("priority")))
    except ValueError:
        raise RuleError(f"{where}: priority must be high, medium or low, not {raw.get('priority')!r}") from None
    given = [key for key in ("limit", "baseline_delta", "baseline_ratio") if raw.get(key) is not None]
    if len(given) != 1:
        what = "none" if not given else " and ".join(given)
        raise RuleError(f"{where}: exactly one of limit, baseline_delta, baseline_ratio is needed (got {what})")
    value = _number(where, given[0], raw[given[0]])
    if given[0] == "baseline_ratio" and value <= 0:
        raise RuleError(f"{where}: baseline_ratio must be positive, not {value}")
    delay = _number(where, "delay_s", raw.get("delay_s", 0))
    hysteresis = _number(where, "hysteresis", raw.get("hysteresis", 0))
    if delay < 0 or hysteresis < 0:
        raise RuleError(f"{where}: delay_s and hysteresis must not be negative")
    phases_raw = raw.get("phases", sorted(DEFAULT_PHASES))
    if isinstance(phases_raw, str) or not isinstance(phases_raw, list) or not phases_raw:
        raise RuleError(f'{where}: phases must be a non-empty list, e.g. ["infusion", "recovery"]')
    bad = [p for p in phases_raw if p not in RULE_PHASES]
    if bad:
        raise RuleError(f"{where}: unknown phase(s) {bad!r} (allowed: {', '.join(sorted(RULE_PHASES))})")
    phases = frozenset(str(p) for p in phases_raw)
    if given[0] != "limit" and UNASSIGNED in phases:
        raise RuleError(f"{where}: a baseline-relative rule cannot apply to unassigned readings (no baseline)")
    message = raw.get("message", rule_id)
    if not isinstance(message, str):
        raise RuleError(f"{where}: message must be a string")
    return Rule(
        id=rule_id.strip(),
        vital=vital,
        op=str(op),
        priority=priority,
        limit=value if given[0] == "limit" else None,
        baseline_delta=value if given[0] == "baseline_delta" else None,
        baseline_ratio=value if given[0] == "baseline_ratio" else None,
        delay_s=delay,
        hysteresis=hysteresis,
        phases=phases,
        message=message,
    )


def parse_rules(tables: Sequence[Mapping[str, Any]], source: str = "rules") -> list[Rule]:
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(tables, start=1):
        rule = parse_rule(raw, f"{source}: rule {index}")
        if rule.id in seen:
            raise RuleError(f"{source}: rule {index}: duplicate id {rule.id!r} (first used by rule {seen[rule.id]})")
        seen[rule.id] = index
        rules.append(rule)
    return rules


def loads_rules(text: str, source: str = "rules") -> list[Rule]:
    """Rules from TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{source}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"rule"})
    if unknown:
        raise RuleError(f"{source}: unknown top-level key(s) {', '.join(unknown)}; rules are [[rule]] tables")
    tables = data.get("rule", [])
    if not isinstance(tables, list):
        raise RuleError(f"{source}: rules must be [[rule]] tables")
    return parse_rules(tables, source)


def load_rules(path: Path | str) -> list[Rule]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"cannot read rule file {path}: {exc.strerror or exc}") from None
    return loads_rules(text, str(path))


def default_rules() -> list[Rule]:
    """The clinic defaults shipped in ``alerts/defaults.toml``."""
    text = resources.files("alerts").joinpath("defaults.toml").read_text(encoding="utf-8")
    return loads_rules(text, "alerts/defaults.toml")


def rules_from_settings(rules_file: Path | None) -> list[Rule]:
    """The rules a service runs with: the configured file, else the shipped defaults."""
    return load_rules(rules_file) if rules_file is not None else default_rules()


def check_unique(rules: Iterable[Rule], source: str = "rules") -> list[Rule]:
    """A rule list (e.g. a session override) with its ids checked for duplicates."""
    out = list(rules)
    ids = [r.id for r in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise RuleError(f"{source}: duplicate id(s) {', '.join(dupes)}")
    return out
