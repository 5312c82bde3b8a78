"""One test per technical alarm of the spec table; time moves only through ``tick(now)``."""

from __future__ import annotations

from alarm_helpers import BED, Feeder, reading, rule

from alerts.engine import AlarmEngine
from monitor.config import AlarmSettings
from monitor.model import (
    AlarmChange,
    AlarmKind,
    DeviceAlarm,
    DeviceState,
    DeviceStatus,
    Phase,
    Priority,
    Quality,
    Vital,
)


def _tech(changes: list[AlarmChange]) -> list[tuple[str, str | None, str, float]]:
    return [
        (c.alarm.rule_id, c.alarm.vital.value if c.alarm.vital else None, c.transition, c.ts)
        for c in changes
        if c.alarm.kind == AlarmKind.TECHNICAL and c.transition != "escalated"
    ]


def test_signal_lost_after_30_s_without_valid_reading_and_back_with_one() -> None:
    engine = AlarmEngine([])
    f = Feeder(engine)
    f.feed("hr", [70], start=0)
    f.feed("spo2", [97], start=0)
    assert _tech(engine.tick(29.9)) == []
    f.feed("spo2", [97], start=20)
    f.feed("hr", [70], start=25, quality=Quality.QUESTIONABLE)  # a questionable hr does not keep it alive
    out = engine.tick(30)
    assert _tech(out) == [("signal-lost", "hr", "started", 30)]
    assert out[0].alarm.priority == Priority.MEDIUM
    assert _tech(engine.tick(50)) == [("signal-lost", "spo2", "started", 50)]
    assert _tech(engine.judge([reading("hr", 72, 55)])) == [("signal-lost", "hr", "resolved", 55)]


def test_signal_lost_for_spo2_never_seen_in_an_open_session() -> None:
    engine = AlarmEngine([])
    f = Feeder(engine, start=100)
    f.feed("hr", [70], start=100)
    assert _tech(engine.tick(129)) == []
    assert ("signal-lost", "spo2", "started", 130) in _tech(engine.tick(131))


def test_nibp_overdue_uses_the_phase_cycle() -> None:
    settings = AlarmSettings(nibp_cycle_infusion_s=600, nibp_cycle_recovery_s=900)
    engine = AlarmEngine([], settings)
    f = Feeder(engine, start=0, phase=Phase.BASELINE)
    assert _tech(engine.tick(5000)) == [
        ("signal-lost", "hr", "started", 30),
        ("signal-lost", "spo2", "started", 30),
    ]  # no nibp alarm in baseline
    f.phase(Phase.INFUSION, 5000)
    f.feed("sbp", [120], start=5100)
    assert not [c for c in _tech(engine.tick(5100 + 719)) if c[0] == "nibp-overdue"]
    out = [c for c in _tech(engine.tick(5100 + 720)) if c[0] == "nibp-overdue"]
    assert out == [("nibp-overdue", None, "started", 5820)]
    assert _tech(f.feed("sbp", [118], start=5900)) == [("nibp-overdue", None, "resolved", 5900)]
    f.phase(Phase.RECOVERY, 6000)
    assert not [c for c in _tech(engine.tick(5900 + 1019)) if c[0] == "nibp-overdue"]
    assert [c[2] for c in _tech(engine.tick(5900 + 1020)) if c[0] == "nibp-overdue"] == ["started"]


def test_monitor_disconnected_after_15_s_unless_it_comes_back() -> None:
    engine = AlarmEngine([])
    engine.on_status(DeviceStatus("mon-1", DeviceState.DISCONNECTED, 10, bed=BED))
    assert _tech(engine.tick(24.9)) == []
    assert _tech(engine.tick(25)) == [("monitor-disconnected", None, "started", 25)]
    out = engine.on_status(DeviceStatus("mon-1", DeviceState.CONNECTED, 40, bed=BED))
    assert _tech(out) == [("monitor-disconnected", None, "resolved", 40)]
    # a short drop that recovers within 15 s raises nothing
    engine.on_status(DeviceStatus("mon-1", DeviceState.DISCONNECTED, 50, bed=BED))
    engine.judge([reading("spo2", 97, 55, session=None)])
    assert [c for c in _tech(engine.tick(70)) if c[0] == "monitor-disconnected"] == []


def test_sensor_off_immediately_searching_after_10_s() -> None:
    engine = AlarmEngine([])
    out = engine.on_status(DeviceStatus("ox", DeviceState.SENSOR_OFF, 5, bed=BED, vital=Vital.SPO2))
    assert _tech(out) == [("sensor-off", "spo2", "started", 5)] and out[0].alarm.priority == Priority.MEDIUM
    assert _tech(engine.on_status(DeviceStatus("ox", DeviceState.OK, 8, bed=BED, vital=Vital.SPO2))) == [
        ("sensor-off", "spo2", "resolved", 8)
    ]
    engine.on_status(DeviceStatus("ox", DeviceState.SEARCHING, 10, bed=BED, vital=Vital.SPO2))
    assert [c for c in _tech(engine.tick(19.9)) if c[0] == "sensor-searching"] == []
    out = engine.tick(20)
    assert [c for c in _tech(out) if c[0] == "sensor-searching"] == [("sensor-searching", "spo2", "started", 20)]
    assert [c.alarm.priority for c in out if c.alarm.rule_id == "sensor-searching"] == [Priority.LOW]
    done = engine.judge([reading("spo2", 97, 22, session=None, source="ox")])
    assert [c for c in _tech(done) if c[0] == "sensor-searching"] == [("sensor-searching", "spo2", "resolved", 22)]


def test_implausible_three_invalid_in_five_minutes() -> None:
    engine = AlarmEngine([])
    bad = [reading("spo2", 30, t, quality=Quality.INVALID, session=None) for t in (0, 100, 301)]
    assert _tech(engine.judge(bad[:2])) == []
    engine.tick(300)
    assert _tech(engine.judge(bad[2:])) == []  # the first one left the 5-min window
    out = engine.judge([reading("spo2", 30, 350, quality=Quality.INVALID, session=None)])
    assert _tech(out) == [("implausible", "spo2", "started", 350)] and out[0].alarm.priority == Priority.LOW
    assert [c for c in _tech(engine.tick(400)) if c[0] == "implausible"] == []  # 100, 301, 350 in the window
    assert [c for c in _tech(engine.tick(401)) if c[0] == "implausible"] == [("implausible", "spo2", "resolved", 401)]


def test_device_alarm_is_relayed_as_such() -> None:
    engine = AlarmEngine([])
    da = DeviceAlarm("mon-1", 5, "high", "ECG lead off", code="196650", vital=Vital.HR, bed=BED, session_id=1)
    (change,) = engine.on_device_alarm(da)
    assert change.alarm.kind == AlarmKind.DEVICE and change.alarm.priority == Priority.HIGH
    assert engine.on_device_alarm(da) == []  # repeated report: same alarm
    da.active, da.ts = False, 9
    (end,) = engine.on_device_alarm(da)
    assert (end.transition, end.alarm.ended) == ("resolved", 9)


def test_technical_and_physiological_alarms_stay_separate() -> None:
    engine = AlarmEngine([rule(id="low")])
    f = Feeder(engine)
    f.feed("spo2", [80], start=0)
    engine.tick(100)
    kinds = {(a.rule_id, a.kind) for a in engine.active_alarms()}
    assert ("low", AlarmKind.PHYSIOLOGICAL) in kinds and ("signal-lost", AlarmKind.TECHNICAL) in kinds


def test_pulse_rate_stands_in_for_a_never_seen_hr() -> None:
    engine = AlarmEngine([])
    f = Feeder(engine, start=0)
    for t in range(0, 100, 5):
        f.feed("pr", [72], start=t)
        f.feed("spo2", [97], start=t)
        assert _tech(engine.tick(t + 1)) == []
    assert _tech(engine.tick(130)) == [
        ("signal-lost", "hr", "started", 125),
        ("signal-lost", "pr", "started", 125),
        ("signal-lost", "spo2", "started", 125),
    ]


def test_a_late_reading_never_ends_signal_lost_before_it_was_raised() -> None:
    """A reading stamped before the alarm (it was on its way while the signal looked lost) ends it at its start."""
    from monitor.model import Reading, Vital

    engine = AlarmEngine()
    engine.judge([Reading(Vital.SPO2, 97.0, "%", 1000.0, "MON-1", bed="chair-1")])
    engine.judge([Reading(Vital.HR, 70.0, "/min", 1035.0, "MON-1", bed="chair-1")])  # the monitor is alive
    started = [c for c in engine.tick(1035.0) if c.alarm.rule_id == "signal-lost"]
    assert [c.alarm.started for c in started] == [1030.0]
    late = engine.judge([Reading(Vital.SPO2, 97.0, "%", 1005.0, "MON-1", bed="chair-1")])
    assert [(c.transition, c.alarm.ended) for c in late] == [("resolved", 1030.0)]
