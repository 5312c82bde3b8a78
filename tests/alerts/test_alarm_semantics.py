"""One test per clause of spec/alarms.md "Exact semantics", on the live engine."""

from __future__ import annotations

from alarm_helpers import Feeder, rule, transitions

from alerts.engine import AlarmEngine
from monitor.model import Phase, Quality, Vital


def test_clause_1_only_valid_readings_count() -> None:
    f = Feeder(AlarmEngine([rule(id="low")]))
    # questionable and invalid readings below the limit neither start ...
    assert f.feed("spo2", [80, 80, 80], quality=Quality.QUESTIONABLE) == []
    assert f.feed("spo2", [60, 60], start=3, quality=Quality.INVALID) == []
    out = f.feed("spo2", [85], start=5)
    assert transitions(out) == [("low", "started", 5)]
    # ... nor end anything
    assert f.feed("spo2", [99, 99], start=6, quality=Quality.QUESTIONABLE) == []
    assert transitions(f.feed("spo2", [99], start=8)) == [("low", "resolved", 8)]


def test_clause_2_and_7_phase_scope_and_phase_change_ends_episode() -> None:
    f = Feeder(AlarmEngine([rule(id="inf", phases=["infusion"])]), phase=Phase.BASELINE)
    assert f.feed("spo2", [80, 80], start=0) == []  # baseline: out of scope
    f.phase(Phase.INFUSION, 10)
    assert transitions(f.feed("spo2", [80], start=10)) == [("inf", "started", 10)]
    out = f.phase(Phase.RECOVERY, 12.5)
    assert transitions(out) == [("inf", "resolved", 12.5)]
    assert f.feed("spo2", [80, 80], start=13) == []  # recovery: out of scope


def test_clause_3_4_delay_starts_at_first_reading_delay_after_run_start() -> None:
    f = Feeder(AlarmEngine([rule(id="d", delay_s=15)]))
    out = f.feed("spo2", [88] * 20, start=100, step=4)  # 100, 104, ..., 112 (<15 s), 116 (>=15 s)
    assert transitions(out)[0] == ("d", "started", 116)
    assert out[0].alarm.started == 116


def test_clause_5_run_ending_before_delay_gives_no_alarm() -> None:
    f = Feeder(AlarmEngine([rule(id="d", delay_s=15)]))
    assert f.feed("spo2", [88] * 10 + [95] + [88] * 10) == []  # two 10-reading runs, neither lasts 15 s
    out = f.feed("spo2", [88] * 16, start=21)
    assert transitions(out) == [("d", "started", 26)]  # the second run (from 11) goes on and reaches 15 s


def test_clause_6_hysteresis_ends_only_past_limit_by_margin() -> None:
    f = Feeder(AlarmEngine([rule(id="h", hysteresis=2)]))
    f.feed("spo2", [89], start=0)
    # 90, 91 are back past the limit but inside the band: still active; 92 = limit + 2 ends it
    assert f.feed("spo2", [90, 91, 88.5, 91.9], start=1) == []
    assert transitions(f.feed("spo2", [92], start=5)) == [("h", "resolved", 5)]
    assert f.changes[-1].alarm.worst == 88.5


def test_clause_6_hysteresis_band_ends_a_pending_run() -> None:
    f = Feeder(AlarmEngine([rule(id="h", hysteresis=2, delay_s=5)]))
    assert f.feed("spo2", [89, 89, 91, 89, 89, 89, 89, 89]) == []  # 91 ends the run (clause 5 uses the limit)
    assert transitions(f.feed("spo2", [89], start=8)) == [("h", "started", 8)]


def test_upper_limits_inclusive_and_strict() -> None:
    f = Feeder(
        AlarmEngine([rule(id="ge", vital="sbp", op=">=", limit=180), rule(id="gt", vital="sbp", op=">", limit=180)])
    )
    assert transitions(f.feed("sbp", [180], start=0)) == [("ge", "started", 0)]
    assert transitions(f.feed("sbp", [181], start=300)) == [("gt", "started", 300)]
    assert sorted(transitions(f.feed("sbp", [179], start=600))) == [("ge", "resolved", 600), ("gt", "resolved", 600)]


def test_clause_8_baseline_relative_rule_inactive_without_baseline() -> None:
    engine = AlarmEngine(
        [rule(id="rise", vital="sbp", op=">=", limit=None, baseline_delta=40, phases=["infusion", "recovery"])]
    )
    f = Feeder(engine, phase=Phase.BASELINE)
    f.feed("sbp", [120], start=0)  # one cuff reading: not enough for an NIBP baseline
    f.phase(Phase.INFUSION, 600)
    assert engine.baseline(1, Vital.SBP) is None
    assert engine.inactive_rules(1) == [("rise", "no sbp baseline yet")]
    assert f.feed("sbp", [200], start=700) == []


def test_clause_8_baseline_is_median_of_baseline_phase() -> None:
    engine = AlarmEngine(
        [
            rule(id="rise", vital="sbp", op=">=", limit=None, baseline_delta=40, phases=["infusion", "recovery"]),
            rule(id="hr-ratio", vital="hr", op=">", limit=None, baseline_ratio=1.2, phases=["infusion"]),
        ]
    )
    f = Feeder(engine, phase=Phase.BASELINE)
    f.feed("sbp", [118, 130, 122], start=0, step=200)
    f.feed("hr", [70] * 30, start=0, step=1)  # 29 s of hr: too short for a continuous baseline
    f.phase(Phase.INFUSION, 600)
    assert engine.baseline(1, Vital.SBP) == 122
    assert engine.baseline(1, Vital.HR) is None
    assert f.feed("sbp", [161], start=700) == []
    out = f.feed("sbp", [162], start=1000)
    assert transitions(out) == [("rise", "started", 1000)] and out[0].alarm.limit == 162


def test_clause_9_two_rules_on_one_vital_are_independent() -> None:
    engine = AlarmEngine(
        [rule(id="low", limit=90, priority="high", delay_s=15), rule(id="border", limit=94, priority="medium")]
    )
    f = Feeder(engine)
    out = f.feed("spo2", [92, 88] + [88] * 15 + [93, 95])
    assert transitions(out) == [
        ("border", "started", 0),
        ("low", "started", 16),
        ("low", "resolved", 17),
        ("border", "resolved", 18),
    ]
    assert [a.rule_id for a in engine.active_alarms()] == ["low"]  # latched high alarm, unacknowledged


def test_pr_judged_by_hr_rules_only_without_hr_source() -> None:
    engine = AlarmEngine([rule(id="tachy", vital="hr", op=">", limit=130)])
    f = Feeder(engine)
    f.feed("hr", [80], start=0)
    assert f.feed("pr", [150], start=10) == []  # hr connected (valid hr 10 s ago): pr is not judged
    out = f.feed("pr", [150], start=31)
    assert transitions(out) == [("tachy", "started", 31)] and out[0].alarm.vital == Vital.PR
    f.feed("hr", [80], start=40)
    assert transitions(f.feed("pr", [150], start=41)) == [("tachy", "resolved", 41)]


def test_unassigned_readings_only_judged_by_always_on_rules() -> None:
    engine = AlarmEngine([rule(id="crit", limit=85, phases=["infusion", "unassigned"]), rule(id="low", limit=90)])
    out = engine.judge([_unbound(80, 0)])
    assert transitions(out) == [("crit", "started", 0)] and out[0].alarm.bed == "chair-1"


def _unbound(value: float, ts: float):  # type: ignore[no-untyped-def]
    from alarm_helpers import reading

    return reading("spo2", value, ts, session=None)


def test_session_override_replaces_clinic_rules_for_that_session_only() -> None:
    import pytest

    from alerts.rules import RuleError

    engine = AlarmEngine([rule(id="low", limit=90)])
    f = Feeder(engine)
    engine.set_session_rules(1, [rule(id="low", limit=88)])
    assert f.feed("spo2", [89], start=0) == []  # the session's own limit
    assert transitions(engine.judge([_unbound(89, 1)])) == []  # unassigned readings: clinic rule, not in phases
    engine.clear_session_rules(1)
    assert transitions(f.feed("spo2", [89], start=2)) == [("low", "started", 2)]
    with pytest.raises(RuleError, match="duplicate id"):
        engine.set_session_rules(1, [rule(id="a"), rule(id="a")])
