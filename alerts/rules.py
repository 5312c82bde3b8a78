"""Alarm rules: the TOML format of spec/alarms.md, validated on load (pydantic), and the shipped defaults.

A rule file is a list of ``[[rule]]`` tables, each validated by :class:`RuleSpec`. Every error names
the file, the rule (by position and id) and the field, so a clinic editing its rules sees at once what
to fix. Validation is strict: an unknown key is an error (a typo in ``delay_s`` must not silently mean
"no delay").
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

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


def _number(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number, not {value!r}")
    return float(value)


class RuleSpec(BaseModel):
    """One ``[[rule]]`` table as written in a rule file, validated field by field.

    Every check raises the message a clinician reads (:func:`parse_rule` prefixes the file, the rule's
    position and id); the engine then runs on the plain :class:`Rule` built from it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default=None, validate_default=True)
    vital: Vital = Field(default=None, validate_default=True)
    op: str = Field(default=None, validate_default=True)
    priority: Priority = Field(default=None, validate_default=True)
    limit: float | None = None
    baseline_delta: float | None = None
    baseline_ratio: float | None = None
    delay_s: float = 0.0
    hysteresis: float = 0.0
    phases: frozenset[str] = Field(default=None, validate_default=True)
    message: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _a_table_with_known_keys(cls, raw: Any) -> Any:
        if not isinstance(raw, Mapping):
            raise ValueError("a rule must be a table")
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
        if "message" not in raw and isinstance(raw.get("id"), str):
            return {**raw, "message": raw["id"]}  # the id as written is the default message
        return raw

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("id is required (a non-empty string)")
        return value.strip()

    @field_validator("vital", mode="before")
    @classmethod
    def _vital(cls, value: object) -> Vital:
        try:
            return Vital(str(value))
        except ValueError:
            known = ", ".join(v.value for v in Vital)
            raise ValueError(f"unknown vital {value!r} (known: {known})") from None

    @field_validator("op", mode="before")
    @classmethod
    def _op(cls, value: object) -> str:
        if value not in OPS:
            raise ValueError(f"op must be one of < <= > >=, not {value!r}")
        return str(value)

    @field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, value: object) -> Priority:
        try:
            return Priority(str(value))
        except ValueError:
            raise ValueError(f"priority must be high, medium or low, not {value!r}") from None

    @field_validator("limit", "baseline_delta", "baseline_ratio", mode="before")
    @classmethod
    def _optional_number(cls, value: object, info: ValidationInfo) -> float | None:
        return None if value is None else _number(str(info.field_name), value)

    @field_validator("delay_s", "hysteresis", mode="before")
    @classmethod
    def _not_negative(cls, value: object, info: ValidationInfo) -> float:
        number = _number(str(info.field_name), value)
        if number < 0:
            raise ValueError("delay_s and hysteresis must not be negative")
        return number

    @field_validator("phases", mode="before")
    @classmethod
    def _phases(cls, value: object) -> frozenset[str]:
        if value is None:
            return DEFAULT_PHASES
        if isinstance(value, str) or not isinstance(value, list) or not value:
            raise ValueError('phases must be a non-empty list, e.g. ["infusion", "recovery"]')
        bad = [p for p in value if p not in RULE_PHASES]
        if bad:
            raise ValueError(f"unknown phase(s) {bad!r} (allowed: {', '.join(sorted(RULE_PHASES))})")
        return frozenset(str(p) for p in value)

    @field_validator("message", mode="before")
    @classmethod
    def _message(cls, value: object) -> str | None:
        if value is not None and not isinstance(value, str):
            raise ValueError("message must be a string")
        return value

    @model_validator(mode="after")
    def _one_threshold(self) -> RuleSpec:
        given = [key for key in ("limit", "baseline_delta", "baseline_ratio") if getattr(self, key) is not None]
        if len(given) != 1:
            what = "none" if not given else " and ".join(given)
            raise ValueError(f"exactly one of limit, baseline_delta, baseline_ratio is needed (got {what})")
        if self.baseline_ratio is not None and self.baseline_ratio <= 0:
            raise ValueError(f"baseline_ratio must be positive, not {self.baseline_ratio}")
        if self.limit is None and UNASSIGNED in self.phases:
            raise ValueError("a baseline-relative rule cannot apply to unassigned readings (no baseline)")
        return self

    def to_rule(self) -> Rule:
        return Rule(
            id=self.id,
            vital=self.vital,
            op=self.op,
            priority=self.priority,
            limit=self.limit,
            baseline_delta=self.baseline_delta,
            baseline_ratio=self.baseline_ratio,
            delay_s=self.delay_s,
            hysteresis=self.hysteresis,
            phases=self.phases,
            message=self.id if self.message is None else self.message,
        )


_BEFORE_ID = ("a rule must be a table", "unknown key(s)", "id is required")


def _reason(error: ValidationError) -> str:
    """The first problem, in the words of the validator that found it."""
    first = error.errors(include_url=False)[0]
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, ValueError):
        return str(cause)
    field = ".".join(str(part) for part in first["loc"])
    return f"{field}: {first['msg']}" if field else str(first["msg"])


def parse_rule(raw: Mapping[str, Any], where: str) -> Rule:
    """One ``[[rule]]`` table -> a validated :class:`Rule` (``where`` prefixes every error)."""
    try:
        return RuleSpec.model_validate(raw).to_rule()
    except ValidationError as exc:
        rule_id = raw.get("id") if isinstance(raw, Mapping) else None
        reason = _reason(exc)
        # As the checks run: the table and its keys first, then the id, then everything else under its id.
        named = isinstance(rule_id, str) and rule_id.strip() and not reason.startswith(_BEFORE_ID)
        raise RuleError(f"{where} ({rule_id}): {reason}" if named else f"{where}: {reason}") from None


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


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(float(value))


def rules_to_toml(rules: Iterable[Rule]) -> str:
    """A rule file's text for ``rules`` (what :func:`loads_rules` reads back as the same rules)."""
    blocks = []
    for rule in rules:
        lines = ["[[rule]]", *(f"{key} = {_toml_value(value)}" for key, value in rule.to_toml_dict().items())]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def default_rules() -> list[Rule]:
    """The clinic defaults shipped in ``alerts/defaults.toml``."""
    text = resources.files("alerts").joinpath("defaults.toml").read_text(encoding="utf-8")
    return loads_rules(text, "alerts/defaults.toml")


def rules_from_settings(rules_file: Path | None) -> list[Rule]:
    """The rules a service runs with: the configured file, else the shipped defaults."""
    return load_rules(rules_file) if rules_file is not None else default_rules()


def protocol_rule_tables(protocols: Mapping[str, Any]) -> dict[str, list[Rule]]:
    """Each protocol's ``alarm_rules`` (``monitor.protocols.Protocol``), validated; an error names the template."""
    out: dict[str, list[Rule]] = {}
    for protocol_id, protocol in protocols.items():
        if protocol.alarm_rules:
            out[protocol_id] = parse_rules(protocol.alarm_rules, f"protocol {protocol_id}: alarm_rules")
    return out


def merge_rules(clinic: Sequence[Rule], changes: Sequence[Rule]) -> list[Rule]:
    """The clinic's rules with ``changes`` replacing those of the same id and adding the others."""
    by_id = {r.id: r for r in changes}
    merged = [by_id.pop(r.id, r) for r in clinic]
    return [*merged, *by_id.values()]


def check_unique(rules: Iterable[Rule], source: str = "rules") -> list[Rule]:
    """A rule list (e.g. a session override) with its ids checked for duplicates."""
    out = list(rules)
    ids = [r.id for r in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise RuleError(f"{source}: duplicate id(s) {', '.join(dupes)}")
    return out
