"""An alarm belongs to its patient's session: the session's end files its alarms; doubtful readings say so."""

from __future__ import annotations

from alarm_helpers import BED, Feeder, reading, rule

from alerts.engine import AlarmEngine
from alerts.replay import replay
from monitor.model import FILED_SESSION_ENDED, AlarmKind, AlarmState, Phase, Quality, Vital


def _phys(changes: list) -> list:  # type: ignore[type-arg]
    return [c for c in changes if c.alarm.kind is AlarmKind.PHYSIOLOGICAL]


def test_discharge_ends_open_alarms_and_files_latched_ones_with_who_and_when() -> None:
    engine = AlarmEngine([rule(id="low", priority="high"), rule(id="low-med", limit=94, priority="medium")])
    f = Feeder(engine)
    f.feed("spo2", [80, 80, 97])  # both episodes end at t=2; the high one latches
    f.feed("spo2", [92, 92], start=3)  # the medium one is open again
    latched = [a for a in engine.active_alarms() if a.state is AlarmState.RESOLVED]
    assert [a.rule_id for a in latched] == ["low"]
    f.phase(Phase.RECOVERY, 5)
    out = f.phase(Phase.DISCHARGED, 10)
    filed = [c for c in out if c.transition == "ended-with-session"]
    assert [c.alarm.rule_id for c in filed] == ["low"]  # the latched one; the medium one simply ends
    assert all(c.user == "nurse" and c.ts == 10 and c.alarm.filed == FILED_SESSION_ENDED for c in filed)
    assert any(c.transition == "resolved" and c.alarm.rule_id == "low-med" and c.ts == 10 for c in out)
    assert engine.active_alarms() == [], "nothing of the discharged patient stays on the chair"
    assert not any(a.needs_attention for a in (c.alarm for c in filed))


def test_an_always_on_episode_ends_with_the_session_and_a_new_one_says_no_session() -> None:
    engine = AlarmEngine([rule(id="crit", limit=85, phases=["baseline", "infusion", "recovery", "unassigned"])])
    f = Feeder(engine)
    f.feed("spo2", [80, 80])
    out = f.phase(Phase.ABORTED, 2)
    assert [c.transition for c in _phys(out)] == ["resolved", "ended-with-session"]
    (started,) = engine.judge([reading("spo2", 80, 3, session=None)])
    assert started.transition == "started" and started.alarm.session_id is None and started.alarm.bed == BED
    # The offline replay agrees: the session's end cuts the always-on episode in two.
    episodes = replay(
        _frame([(0, 80), (1, 80), (3, 80)]),
        [rule(id="crit", limit=85, phases=["baseline", "infusion", "recovery", "unassigned"])],
        [("infusion", 0.0), ("aborted", 2.0)],
    )
    assert [(e.start, e.end) for e in episodes] == [(0.0, 2.0), (3.0, None)]


def test_an_alarm_raised_by_a_questionable_measurement_is_doubtful() -> None:
    engine = AlarmEngine([rule(id="sbp-low", vital="sbp", op="<=", limit=90)])
    Feeder(engine)
    out = engine.judge(
        [
            reading(Vital.SBP, 40, 1),
            reading(Vital.DBP, 10, 1, quality=Quality.QUESTIONABLE),  # the cuff flagged the measurement
        ]
    )
    (started,) = _phys(out)
    assert started.alarm.doubtful is True
    other = AlarmEngine([rule(id="sbp-low", vital="sbp", op="<=", limit=90)])
    Feeder(other)
    (clean,) = _phys(other.judge([reading(Vital.SBP, 40, 1)]))
    assert clean.alarm.doubtful is False


def _frame(points: list[tuple[float, float]]) -> dict[str, list[float]]:
    """A trace as the replay takes it: a ts column and one column per vital."""
    return {"ts": [t for t, _ in points], "spo2": [v for _, v in points]}
