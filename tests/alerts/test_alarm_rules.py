from __future__ import annotations

from pathlib import Path

import pytest

from alerts.rules import RuleError, RuleSpec, default_rules, load_rules, loads_rules, parse_rule
from monitor.model import UNASSIGNED, Priority, Vital

GOOD = """
[[rule]]
id = "x"
vital = "spo2"
op = "<"
limit = 90
priority = "high"
"""


def _one(**fields: object) -> str:
    base: dict[str, object] = {"id": "r1", "vital": "hr", "op": ">", "limit": 100, "priority": "medium"}
    base.update(fields)
    lines = ["[[rule]]"]
    for key, value in base.items():
        if value is None:
            continue
        if isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(repr(v).replace(chr(39), chr(34)) for v in value)}]")
        else:
            lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def test_defaults_load_and_cover_the_spec_table() -> None:
    rules = {r.id: r for r in default_rules()}
    assert len(rules) == 16
    assert rules["spo2-low"].delay_s == 15 and rules["spo2-low"].priority == Priority.HIGH
    assert UNASSIGNED in rules["spo2-critical"].phases and UNASSIGNED in rules["hr-low-critical"].phases
    assert rules["bp-rise"].relative and rules["bp-rise"].baseline_delta == 40
    assert rules["bp-severe-dia"].vital == Vital.DBP and rules["bp-severe-dia"].limit == 110
    assert rules["bp-prestart-stop-sys"].phases == frozenset({"baseline"})


def test_minimal_rule_gets_defaults() -> None:
    (rule,) = loads_rules(GOOD)
    assert rule.delay_s == 0 and rule.hysteresis == 0
    assert rule.phases == frozenset({"baseline", "infusion", "recovery"})
    assert rule.message == "x"


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"vital": "temp"}, "unknown vital 'temp'"),
        ({"op": "=="}, "op must be one of"),
        ({"priority": "urgent"}, "priority must be"),
        ({"limit": None}, "exactly one of limit, baseline_delta, baseline_ratio is needed (got none)"),
        ({"baseline_delta": 10}, "got limit and baseline_delta"),
        ({"phases": ["infusion", "sleep"]}, "unknown phase(s) ['sleep']"),
        ({"phases": []}, "phases must be a non-empty list"),
        ({"delay_s": -1}, "must not be negative"),
        ({"delay": 5}, "unknown key(s) delay"),
        ({"limit": None, "baseline_ratio": 0}, "baseline_ratio must be positive"),
        ({"limit": None, "baseline_delta": 5, "phases": ["infusion", "unassigned"]}, "cannot apply to unassigned"),
        ({"limit": "high"}, "limit must be a finite number"),
    ],
)
def test_validation_errors_say_what_is_wrong(fields: dict[str, object], needle: str) -> None:
    with pytest.raises(RuleError) as err:
        loads_rules(_one(**fields), "clinic.toml")
    assert needle in str(err.value)
    assert str(err.value).startswith("clinic.toml: rule 1")


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(RuleError, match=r"rule 2: duplicate id 'r1' \(first used by rule 1\)"):
        loads_rules(_one() + _one(), "f.toml")


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="not valid TOML"):
        loads_rules("[[rule]\nid=1")
    with pytest.raises(RuleError, match="cannot read rule file"):
        load_rules(tmp_path / "absent.toml")
    path = tmp_path / "r.toml"
    path.write_text(GOOD)
    assert load_rules(path)[0].id == "x"


def test_a_rule_table_is_validated_by_its_pydantic_model() -> None:
    spec = RuleSpec.model_validate({"id": "hr-hi", "vital": "hr", "op": ">", "priority": "high", "limit": 120})
    assert spec.to_rule() == loads_rules('[[rule]]\nid="hr-hi"\nvital="hr"\nop=">"\npriority="high"\nlimit=120\n')[0]
    assert set(RuleSpec.model_json_schema()["properties"]) == {
        "id",
        "vital",
        "op",
        "priority",
        "limit",
        "baseline_delta",
        "baseline_ratio",
        "delay_s",
        "hysteresis",
        "phases",
        "message",
    }


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"vital": "hr"}, "f: rule 1: id is required (a non-empty string)"),
        (
            {"id": "a", "vital": "hr", "op": ">", "priority": "high", "limit": 1, "lmit": 2},
            "f: rule 1: unknown key(s) lmit",
        ),
        (
            {"id": "a", "vital": "hr", "op": ">", "priority": "high", "limit": 1, "delay_s": -1},
            "f: rule 1 (a): delay_s",
        ),
    ],
)
def test_errors_name_the_rule_once_its_id_is_known(table: dict[str, object], message: str) -> None:
    with pytest.raises(RuleError) as err:
        parse_rule(table, "f: rule 1")
    assert str(err.value).startswith(message)
