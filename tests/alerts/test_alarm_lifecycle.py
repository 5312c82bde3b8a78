"""Acknowledge, audio pause and re-sound, latching, escalation timing, restart: all on a controllable clock."""

from __future__ import annotations

import copy

import pytest
from alarm_helpers import Feeder, rule

from alerts.engine import AlarmEngine
from monitor.config import AlarmSettings
from monitor.model import AlarmChange, AlarmKind, AlarmState


def _phys(engine: AlarmEngine, now: float) -> list[AlarmChange]:
    """Physiological changes only (the technical signal-lost alarms of these sparse feeds are tested elsewhere)."""
    return [c for c in engine.tick(now) if c.alarm.kind == AlarmKind.PHYSIOLOGICAL]


def _started(engine: AlarmEngine, priority: str = "high", value: float = 80, ts: float = 0) -> tuple[Feeder, str]:
    engine.set_rules([rule(id="low", priority=priority)])
    f = Feeder(engine)
    (change,) = f.feed("spo2", [value], start=ts)
    return f, change.alarm.id


def test_acknowledge_marks_user_and_time() -> None:
    engine = AlarmEngine([])
    _, alarm_id = _started(engine)
    (ack,) = engine.acknowledge(alarm_id, "nurse", 12)
    assert ack.transition == "acknowledged" and ack.user == "nurse"
    assert (ack.alarm.state, ack.alarm.acknowledged_by, ack.alarm.acknowledged_at) == (
        AlarmState.ACKNOWLEDGED,
        "nurse",
        12,
    )
    assert engine.acknowledge(alarm_id, "nurse", 13) == []
    with pytest.raises(KeyError):
        engine.acknowledge("nope", "nurse", 1)


def test_silence_then_resound_when_still_active() -> None:
    engine = AlarmEngine([], AlarmSettings(silence_s=120))
    _, alarm_id = _started(engine, priority="medium")
    (sil,) = engine.silence(alarm_id, "nurse", 10)
    assert sil.alarm.state == AlarmState.SILENCED and sil.alarm.silenced_until == 130
    assert [c.transition for c in _phys(engine, 129)] == []
    (back,) = _phys(engine, 130)
    assert back.transition == "resounded" and back.alarm.state == AlarmState.ACTIVE
    (short,) = engine.silence(alarm_id, "nurse", 140, seconds=30)
    assert short.alarm.silenced_until == 170


def test_silenced_alarm_that_resolves_does_not_resound() -> None:
    engine = AlarmEngine([])
    f, alarm_id = _started(engine, priority="medium")
    engine.silence(alarm_id, "nurse", 1)
    f.feed("spo2", [97], start=5)
    assert [c.transition for c in _phys(engine, 500)] == []
    assert [a for a in engine.active_alarms() if a.kind == AlarmKind.PHYSIOLOGICAL] == []  # medium: no latching


def test_high_alarm_latches_until_acknowledged() -> None:
    engine = AlarmEngine([])
    f, alarm_id = _started(engine)
    (res,) = f.feed("spo2", [97], start=5)
    assert res.transition == "resolved" and res.alarm.ended == 5
    (shown,) = engine.active_alarms()
    assert shown.id == alarm_id and shown.state == AlarmState.RESOLVED and shown.needs_attention
    (ack,) = engine.acknowledge(alarm_id, "nurse", 9)
    assert ack.alarm.state == AlarmState.RESOLVED and ack.alarm.acknowledged_by == "nurse"
    assert engine.active_alarms() == []


def test_escalation_at_60_s_high_and_180_s_medium() -> None:
    engine = AlarmEngine([rule(id="hi", priority="high", limit=90), rule(id="med", priority="medium", limit=94)])
    f = Feeder(engine)
    f.feed("spo2", [80], start=100)
    assert [c for c in _phys(engine, 159.9) if c.transition == "escalated"] == []
    (esc,) = [c for c in _phys(engine, 160) if c.transition == "escalated"]
    assert esc.alarm.rule_id == "hi" and esc.alarm.escalated
    assert [c for c in _phys(engine, 200) if c.transition == "escalated"] == []  # once only
    (esc,) = [c for c in _phys(engine, 280) if c.transition == "escalated"]
    assert esc.alarm.rule_id == "med"


def test_acknowledged_alarm_does_not_escalate_but_silenced_one_does() -> None:
    engine = AlarmEngine([rule(id="a", limit=90), rule(id="b", limit=94)])
    f = Feeder(engine)
    changes = f.feed("spo2", [80], start=0)
    ids = {c.alarm.rule_id: c.alarm.id for c in changes}
    engine.acknowledge(ids["a"], "nurse", 10)
    engine.silence(ids["b"], "nurse", 10, seconds=600)
    escalated = [c.alarm.rule_id for c in _phys(engine, 60) if c.transition == "escalated"]
    assert escalated == ["b"]


def test_restart_restores_alarm_state() -> None:
    engine = AlarmEngine([rule(id="low", delay_s=0, hysteresis=1)])
    f = Feeder(engine)
    f.feed("spo2", [85, 84], start=0)
    latched = AlarmEngine([rule(id="other", vital="hr", op=">", limit=130)])
    g = Feeder(latched)
    g.feed("hr", [150, 80], start=0)
    stored = [copy.copy(a) for a in engine.active_alarms() + latched.active_alarms()]
    # A new process: same rules, state loaded from storage.
    fresh = AlarmEngine([rule(id="low", delay_s=0, hysteresis=1), rule(id="other", vital="hr", op=">", limit=130)])
    fresh.restore(stored, now=20)
    f2 = Feeder(fresh)
    assert {a.rule_id for a in fresh.active_alarms()} == {"low", "other"}
    assert f2.feed("spo2", [83], start=2) == []  # the episode goes on: no second "started"
    (res,) = f2.feed("spo2", [91], start=3)
    assert res.transition == "resolved" and res.alarm.id == stored[0].id and res.alarm.worst == 83
    other = next(a for a in fresh.active_alarms() if a.rule_id == "other")
    (ack,) = fresh.acknowledge(other.id, "nurse", 10)
    assert ack.alarm.state == AlarmState.RESOLVED


def test_restart_restores_technical_alarms_that_can_still_end() -> None:
    from alarm_helpers import BED, reading

    from monitor.model import DeviceState, DeviceStatus

    first = AlarmEngine([])
    first.on_status(DeviceStatus("mon-1", DeviceState.DISCONNECTED, 0, bed=BED))
    first.on_status(DeviceStatus("ox", DeviceState.SENSOR_OFF, 0, bed="chair-2", vital=None))
    first.on_status(DeviceStatus("loose", DeviceState.SENSOR_OFF, 0, bed=None))
    first.tick(20)
    stored = [copy.copy(a) for a in first.active_alarms()]
    assert sorted(a.rule_id for a in stored) == ["monitor-disconnected", "sensor-off", "sensor-off"]
    fresh = AlarmEngine([])
    ended = fresh.restore(stored, now=30)
    assert [(c.alarm.rule_id, c.alarm.bed, c.ts) for c in ended] == [("sensor-off", None, 30)]  # unbound: ended
    out = fresh.judge([reading("spo2", 97, 40, session=None, source="mon-1")])
    assert [(c.alarm.rule_id, c.transition) for c in out] == [("monitor-disconnected", "resolved")]
    out = fresh.on_status(DeviceStatus("ox", DeviceState.OK, 50, bed="chair-2"))
    assert [(c.alarm.rule_id, c.transition) for c in out] == [("sensor-off", "resolved")]


def test_a_site_alarm_of_the_service_lives_in_the_lifecycle_like_the_others() -> None:
    """Storage or EHR unreachable: raised and ended by the service, acknowledged, silenced and
    escalated by the engine's book; two at once (two EHR destinations) are two alarms."""
    from monitor.model import Alarm, Priority

    engine = AlarmEngine([], AlarmSettings(escalate_medium_s=180.0))

    def site(alarm_id: str) -> Alarm:
        return Alarm(alarm_id, "ehr_unreachable", AlarmKind.TECHNICAL, Priority.MEDIUM, "EHR down", 100.0)

    [raised] = engine.raise_site_alarm(site("ehr-hl7-1"), 100.0)
    [_other] = engine.raise_site_alarm(site("ehr-fhir-1"), 100.0)
    assert raised.transition == "started" and {a.id for a in engine.active_alarms()} == {"ehr-hl7-1", "ehr-fhir-1"}
    [silenced] = engine.silence("ehr-fhir-1", "nurse", 110.0, seconds=60)
    assert silenced.alarm.state is AlarmState.SILENCED
    [ack] = engine.acknowledge("ehr-hl7-1", "nurse", 120.0)
    assert ack.alarm.acknowledged_by == "nurse" and ack.alarm.state is AlarmState.ACKNOWLEDGED
    escalated = [c for c in engine.tick(281.0) if c.transition == "escalated"]
    assert [c.alarm.id for c in escalated] == ["ehr-fhir-1"], "silenced is not acknowledged: it escalates"

    [ended] = engine.end_site_alarm("ehr-hl7-1", 300.0)
    assert ended.transition == "resolved" and ended.alarm.ended == 300.0
    assert [a.id for a in engine.active_alarms()] == ["ehr-fhir-1"]
    assert engine.end_site_alarm("ehr-hl7-1", 301.0) == [], "ending it twice changes nothing"
