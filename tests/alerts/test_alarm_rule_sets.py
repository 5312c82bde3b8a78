"""Versioned clinic rule sets: the version stamped on new alarms, rules withdrawn mid-episode, the
version in force at a start (the configured file against what was adopted), following adoptions."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from alerts.engine import AlarmEngine
from alerts.rule_sets import RuleSetFollower, adopt, current, in_force_at_start
from alerts.rules import RuleError, loads_rules
from monitor.model import Phase
from monitor.store import rule_sets as store
from tests.alerts.alarm_helpers import Feeder, rule, transitions

LOW_90 = '[[rule]]\nid = "spo2-low"\nvital = "spo2"\nop = "<"\nlimit = 90\npriority = "high"\n'
LOW_85 = '[[rule]]\nid = "spo2-low"\nvital = "spo2"\nop = "<"\nlimit = 85\npriority = "high"\n'
HR_HIGH = '[[rule]]\nid = "hr-high"\nvital = "hr"\nop = ">"\nlimit = 120\npriority = "medium"\n'


def test_new_alarms_carry_the_version_in_force_and_old_ones_keep_theirs() -> None:
    engine = AlarmEngine([rule(id="spo2-low", limit=90)])
    engine.set_rules(loads_rules(LOW_90), version=1)
    feeder = Feeder(engine, phase=Phase.INFUSION)
    [started] = feeder.feed("spo2", [88.0])
    assert started.alarm.rule_set_version == 1
    engine.set_rules(loads_rules(LOW_90 + HR_HIGH), version=2)
    [hr] = feeder.feed("hr", [130.0], start=2.0)
    assert hr.alarm.rule_set_version == 2
    [open_spo2] = [a for a in engine.active_alarms() if a.rule_id == "spo2-low"]
    assert open_spo2.rule_set_version == 1, "the version that raised it, not the one in force now"
    assert engine.rule_set_version == 2


def test_a_tighter_limit_applies_to_new_alarms_at_once() -> None:
    engine = AlarmEngine(loads_rules(LOW_90))
    feeder = Feeder(engine)
    assert transitions(feeder.feed("spo2", [88.0, 95.0])) == [
        ("spo2-low", "started", 0.0),
        ("spo2-low", "resolved", 1.0),
    ]
    engine.set_rules(loads_rules(LOW_85), version=7)
    assert feeder.feed("spo2", [88.0, 95.0], start=10.0) == [], "88 % no longer alarms under the adopted set"
    [started] = feeder.feed("spo2", [84.0], start=20.0)
    assert started.alarm.limit == 85.0 and started.alarm.rule_set_version == 7


def test_an_episode_of_a_withdrawn_rule_ends_when_its_readings_clear_and_never_starts_again() -> None:
    engine = AlarmEngine(loads_rules(LOW_90 + HR_HIGH))
    feeder = Feeder(engine)
    assert transitions(feeder.feed("hr", [130.0])) == [("hr-high", "started", 0.0)]
    engine.set_rules(loads_rules(LOW_90), version=2)  # hr-high withdrawn while its alarm is open
    assert feeder.feed("hr", [135.0], start=1.0) == [], "the open episode goes on (not left open forever)"
    assert transitions(feeder.feed("hr", [100.0], start=2.0)) == [("hr-high", "resolved", 2.0)]
    assert feeder.feed("hr", [140.0, 140.0], start=3.0) == [], "a withdrawn rule raises nothing new"
    assert engine.active_alarms() == []


def test_a_pending_run_of_a_withdrawn_rule_ends_without_an_alarm() -> None:
    delayed = LOW_90.replace('priority = "high"', 'priority = "high"\ndelay_s = 10')
    engine = AlarmEngine(loads_rules(delayed))
    feeder = Feeder(engine)
    assert feeder.feed("spo2", [88.0, 88.0], step=5.0) == []  # 5 s into a 10 s delay
    engine.set_rules(loads_rules(HR_HIGH), version=2)
    assert feeder.feed("spo2", [88.0, 88.0], start=10.0, step=5.0) == []


def test_the_follower_applies_only_newer_versions() -> None:
    engine = AlarmEngine(loads_rules(LOW_90))
    follow = RuleSetFollower(engine)
    event = {"type": "rules", "version": 3, "rules_toml": LOW_85, "origin": "adopted", "author": "admin", "ts": 0.0}
    follow(event)
    assert engine.rule_set_version == 3 and engine.rules[0].limit == 85.0
    follow({**event, "version": 2, "rules_toml": LOW_90})  # late: an older version changes nothing
    follow({"type": "alarm"})
    assert engine.rule_set_version == 3 and engine.rules[0].limit == 85.0


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
def test_the_configured_file_seeds_a_version_and_an_adopted_one_stays_until_the_file_changes(
    migrated_engine: Engine, tmp_path: Path
) -> None:
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(LOW_90, encoding="utf-8")
    first, recorded = in_force_at_start(migrated_engine, rules_file, 100.0)
    assert (first.version, first.row.origin, recorded) == (1, "configured", True)
    again, recorded = in_force_at_start(migrated_engine, rules_file, 200.0)
    assert (again.version, recorded) == (1, False), "an unchanged file is not a new version"
    adopted = adopt(migrated_engine, LOW_85, "admin", "committee 2026-11", 300.0)
    assert adopted.version == 2 and adopted.rules[0].limit == 85.0
    after_restart, recorded = in_force_at_start(migrated_engine, rules_file, 400.0)
    assert (after_restart.version, after_restart.row.author, recorded) == (2, "admin", False)
    rules_file.write_text(LOW_90 + HR_HIGH, encoding="utf-8")
    edited, recorded = in_force_at_start(migrated_engine, rules_file, 500.0)
    assert (edited.version, edited.row.origin, recorded) == (3, "configured", True)
    current_set = current(migrated_engine)
    assert current_set is not None and [r.id for r in current_set.rules] == ["spo2-low", "hr-high"]
    rows = store.versions(migrated_engine)
    assert [(r.version, r.origin, r.author, r.created) for r in rows] == [
        (1, "configured", "configuration", 100.0),
        (2, "adopted", "admin", 300.0),
        (3, "configured", "configuration", 500.0),
    ]
    assert rows[1].rules_toml == LOW_85 and rows[1].note == "committee 2026-11"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_proposal_that_is_not_a_valid_rule_file_is_refused_and_not_stored(migrated_engine: Engine) -> None:
    with pytest.raises(RuleError, match=r"proposed rules: rule 1 \(spo2-low\): op must be"):
        adopt(migrated_engine, LOW_90.replace('"<"', '"<<"'), "admin", "", 1.0)
    with pytest.raises(RuleError, match="no \\[\\[rule\\]\\] table"):
        adopt(migrated_engine, "# nothing\n", "admin", "", 1.0)
    assert store.versions(migrated_engine) == []
