"""Missed protocol checkpoints raise technical alarms through the lifecycle, on a fake clock.

"BP due at 40 min not taken" starts low when the checkpoint's window closes, turns medium 5 min later,
ends when a cuff reading takes it late, is acknowledged like any alarm and is filed with its session.
"""

from __future__ import annotations

from alarm_helpers import BED, reading

from alerts.engine import AlarmEngine
from monitor.clock import FakeClock
from monitor.model import AlarmKind, AlarmState, Phase, PhaseChange, Priority, Session
from monitor.protocols import shipped_protocols

T0 = 1_700_000_000.0
MIN = 60.0


def _checkpoint_changes(changes: list) -> list[tuple[str, str, str]]:  # type: ignore[type-arg]
    return [
        (c.alarm.message, c.alarm.priority.value, c.transition)
        for c in changes
        if c.alarm.kind == AlarmKind.TECHNICAL and c.alarm.rule_id.startswith("checkpoint-bp-")
    ]


def _esketamine(engine: AlarmEngine, clock: FakeClock) -> Session:
    session = Session(
        7,
        BED,
        "PT",
        Phase.BASELINE,
        clock.now(),
        phases=[PhaseChange(Phase.BASELINE, clock.now(), "nurse")],
        protocol="in-esketamine",
    )
    engine.register_session(session)
    return session


def _phase(engine: AlarmEngine, session: Session, phase: Phase, ts: float) -> list:  # type: ignore[type-arg]
    change = PhaseChange(phase, ts, "nurse")
    session.phase = phase
    session.phases.append(change)
    return engine.on_phase(session, change)


def _cuff(engine: AlarmEngine, ts: float, sbp: float = 128) -> list:  # type: ignore[type-arg]
    return engine.judge([reading("sbp", sbp, ts, session=7), reading("dbp", 80, ts, session=7)])


def test_bp_due_at_40_min_not_taken_starts_low_turns_medium_and_ends_when_taken_late() -> None:
    clock = FakeClock(T0)
    engine = AlarmEngine(protocols=shipped_protocols())
    session = _esketamine(engine, clock)
    clock.set(T0 + 5 * MIN)
    _cuff(engine, clock.now())  # the pre-dose BP
    dosing = T0 + 10 * MIN
    _phase(engine, session, Phase.INFUSION, dosing)
    clock.set(dosing + 20 * MIN)
    _phase(engine, session, Phase.RECOVERY, clock.now())
    out = []
    for minute in range(20, 46):  # the service ticks every clock second; minutes suffice here
        clock.set(dosing + minute * MIN)
        out += engine.tick(clock.now())
    assert _checkpoint_changes(out) == [], "not overdue before 40 + 5 min"
    clock.set(dosing + 45 * MIN + 1)
    started = _checkpoint_changes(engine.tick(clock.now()))
    assert started == [("BP due at 40 min not taken", "low", "started")]
    alarm = next(a for a in engine.active_alarms() if a.rule_id.startswith("checkpoint"))
    assert alarm.session_id == session.id and alarm.bed == BED and alarm.started == dosing + 45 * MIN
    engine.acknowledge(alarm.id, "nurse", clock.now())
    clock.set(dosing + 49 * MIN)
    assert _checkpoint_changes(engine.tick(clock.now())) == []
    clock.set(dosing + 50 * MIN)
    raised = _checkpoint_changes(engine.tick(clock.now()))
    assert raised == [("BP due at 40 min not taken", "medium", "priority-raised")]
    again = next(a for a in engine.active_alarms() if a.id == alarm.id)
    assert again.state == AlarmState.ACTIVE and again.acknowledged_at is None, "worse than when acknowledged"
    clock.set(dosing + 51 * MIN)
    assert _checkpoint_changes(_cuff(engine, clock.now())) == []  # the reading is judged; the tick sees it
    ended = _checkpoint_changes(engine.tick(clock.now()))
    assert ended == [("BP due at 40 min not taken", "medium", "resolved")]
    assert not any(a.rule_id.startswith("checkpoint") for a in engine.active_alarms())


def test_no_pre_dose_bp_alarms_at_dosing_and_a_bp_on_time_at_40_min_raises_nothing() -> None:
    clock = FakeClock(T0)
    engine = AlarmEngine(protocols=shipped_protocols())
    session = _esketamine(engine, clock)
    dosing = T0 + 10 * MIN
    _phase(engine, session, Phase.INFUSION, dosing)
    clock.set(dosing + 1)
    assert _checkpoint_changes(engine.tick(clock.now())) == [("BP before dosing not taken", "low", "started")]
    _cuff(engine, dosing + 38 * MIN)
    out = []
    for minute in range(1, 60):
        clock.set(dosing + minute * MIN)
        out += engine.tick(clock.now())
    # Unanswered, the pre-dose alarm turns medium after 5 min (and escalates as a medium alarm 3 min later);
    # the reading at 38 min takes it, late, and takes the 40-min checkpoint on time: nothing more.
    assert _checkpoint_changes(out) == [
        ("BP before dosing not taken", "medium", "priority-raised"),
        ("BP before dosing not taken", "medium", "escalated"),
        ("BP before dosing not taken", "medium", "resolved"),
    ]


def test_the_session_end_ends_its_checkpoint_alarm_and_a_session_without_protocol_has_none() -> None:
    clock = FakeClock(T0)
    engine = AlarmEngine(protocols=shipped_protocols())
    session = _esketamine(engine, clock)
    _phase(engine, session, Phase.INFUSION, T0 + 10 * MIN)
    clock.set(T0 + 11 * MIN)
    engine.tick(clock.now())
    out = _phase(engine, session, Phase.ABORTED, T0 + 12 * MIN)
    # Ended with the session (a low alarm does not latch: nothing left to file), never left on the chair.
    assert _checkpoint_changes(out) == [("BP before dosing not taken", "low", "resolved")]
    assert not any(a.rule_id.startswith("checkpoint") for a in engine.active_alarms())
    plain = Session(8, "chair-2", "PT", Phase.INFUSION, T0, phases=[PhaseChange(Phase.INFUSION, T0, "nurse")])
    engine.register_session(plain)
    assert _checkpoint_changes(engine.tick(T0 + 3 * 3600)) == []


def test_the_protocol_sets_the_cuff_cycle_and_its_pre_dose_review_rules() -> None:
    engine = AlarmEngine(protocols=shipped_protocols())
    clock = FakeClock(T0)
    session = _esketamine(engine, clock)
    rules = {r.id: r for r in engine.session_rules(session.id)}
    assert rules["predose-sbp-review"].priority == Priority.LOW and rules["predose-sbp-review"].phases == {"baseline"}
    assert "spo2-critical" in rules, "the clinic's rules stay"
    out = engine.judge([reading("sbp", 152, T0 + 60, session=7)])
    assert [(c.alarm.rule_id, c.transition) for c in out] == [("predose-sbp-review", "started")]
    # Dosing (10 min) has no cuff cycle: no NIBP-overdue there however long it lasts.
    _phase(engine, session, Phase.INFUSION, T0 + 10 * MIN)
    late = engine.tick(T0 + 40 * MIN)
    assert not any(c.alarm.rule_id == "nibp-overdue" for c in late)


def test_after_a_restart_a_checkpoint_taken_before_it_stays_taken() -> None:
    clock = FakeClock(T0)
    dosing = T0 + 10 * MIN
    session = Session(
        7,
        BED,
        "PT",
        Phase.RECOVERY,
        T0,
        phases=[
            PhaseChange(Phase.BASELINE, T0, "nurse"),
            PhaseChange(Phase.INFUSION, dosing, "nurse"),
            PhaseChange(Phase.RECOVERY, dosing + 10 * MIN, "nurse"),
        ],
        protocol="in-esketamine",
    )
    clock.set(dosing + 60 * MIN)
    forgetful = AlarmEngine(protocols=shipped_protocols())  # a new process that did not see the readings
    forgetful.register_session(session)
    missed = {c.alarm.message for c in forgetful.tick(clock.now()) if c.alarm.rule_id.startswith("checkpoint")}
    assert missed == {"BP before dosing not taken", "BP due at 40 min not taken"}
    restarted = AlarmEngine(protocols=shipped_protocols())
    restarted.register_session(session)
    restarted.load_cuff_times(session.id, [T0 + 5 * MIN, dosing + 41 * MIN])  # as build_service restores them
    assert not any(c.alarm.rule_id.startswith("checkpoint") for c in restarted.tick(clock.now()))
