from __future__ import annotations

from alarm_helpers import BED, reading, session

from alerts.discharge import discharge_readiness
from alerts.stats import alarm_stats
from monitor.model import Alarm, AlarmChange, AlarmKind, AlarmState, Phase, Priority, Reading, Session, Vital

DAY = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def _alarm(
    i: int,
    rule: str,
    start: float,
    end: float | None,
    ack: float | None = None,
    *,
    kind: AlarmKind = AlarmKind.PHYSIOLOGICAL,
    bed: str = "chair-1",
    sid: int | None = 1,
) -> Alarm:
    return Alarm(
        id=f"a{i}",
        rule_id=rule,
        kind=kind,
        priority=Priority.HIGH,
        message="m",
        started=DAY + start,
        ended=None if end is None else DAY + end,
        bed=bed,
        session_id=sid,
        acknowledged_at=None if ack is None else DAY + ack,
        state=AlarmState.RESOLVED,
    )


def test_stats_per_rule_keep_kinds_apart() -> None:
    alarms = [
        _alarm(1, "spo2-low", 0, 10),
        _alarm(2, "spo2-low", 100, 200, ack=130),
        _alarm(3, "spo2-low", 300, None),
        _alarm(4, "signal-lost", 0, 5, kind=AlarmKind.TECHNICAL),
    ]
    esc = AlarmChange(alarm=alarms[2], transition="escalated", ts=DAY + 360)
    ack = AlarmChange(alarm=alarms[2], transition="acknowledged", ts=DAY + 400, user="nurse")
    stats = alarm_stats(alarms, "rule", [esc, ack], window_s=15, now=DAY + 500)
    rows = {(r["kind"], r["rule"]): r for r in stats.to_dict("records")}
    low = rows[("physiological", "spo2-low")]
    assert low["count"] == 3
    assert low["total_duration_s"] == 10 + 100 + 200
    assert low["acknowledged_share"] == 2 / 3
    assert low["median_ack_s"] == 65  # 30 s and 100 s
    assert low["self_resolved_share"] == 1 / 3  # only the 10 s one ended unacknowledged within 15 s
    assert low["escalated"] == 1
    assert rows[("technical", "signal-lost")]["count"] == 1


def test_stats_per_bed_session_and_day() -> None:
    alarms = [_alarm(1, "r", 0, 10, bed="chair-1"), _alarm(2, "r", 86_400 + 5, 86_410, bed="chair-2", sid=None)]
    assert alarm_stats(alarms, "bed")["bed"].tolist() == ["chair-1", "chair-2"]
    assert alarm_stats(alarms, "session")["session"].tolist() == [1, "(none)"]
    assert alarm_stats(alarms, "day")["day"].tolist() == ["2026-01-01", "2026-01-02"]


def _recovered_session() -> Session:
    made: Session = session([(Phase.BASELINE, 0), (Phase.INFUSION, 900), (Phase.RECOVERY, 3300)])
    return made


BASE = {Vital.SBP: 120.0, Vital.DBP: 80.0, Vital.HR: 70.0}


def _good(now: float) -> list[Reading]:
    out = []
    for t in (now - 900, now - 60):
        out += [reading("sbp", 130, t), reading("dbp", 85, t)]
    out += [reading("hr", 75, now - 100 + i) for i in range(100)]
    out += [reading("spo2", 96, now - 100 + i) for i in range(100)]
    return out


def test_ready_when_every_criterion_holds() -> None:
    now = 3300 + 1800
    assert discharge_readiness(_recovered_session(), BASE, _good(now), now).ready


def test_each_unmet_criterion_is_a_reason() -> None:
    s = _recovered_session()
    now = 3300 + 1200
    readings = _good(now)
    readings[2].value = 160  # the last sbp is 33 % above baseline
    readings += [reading("spo2", 88, now - i) for i in range(1, 250)]
    alarm = _alarm(9, "spo2-low", 0, None)
    alarm.state = AlarmState.ACTIVE
    r = discharge_readiness(s, BASE, readings, now, [alarm])
    assert not r.ready
    assert r.reasons == (
        "20 of 30 min since the infusion stopped",
        "last two NIBP not within 20 % of baseline 120/80",
        "SpO2 88 % below 92 %",
        "1 active alarm(s)",
    )


def test_missing_baseline_and_data_are_reasons() -> None:
    s = session([(Phase.BASELINE, 0), (Phase.INFUSION, 900)])
    r = discharge_readiness(s, {Vital.HR: 70.0}, [reading("hr", 70, 5000, bed=BED)], 10_000)
    assert r.reasons == (
        "infusion not stopped yet",
        "no blood-pressure baseline",
        "no heart rate in the last 5 min",
        "no SpO2 in the last 5 min",
    )
