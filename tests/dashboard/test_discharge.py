"""Discharge readiness (spec/alarms.md): advisory, all criteria at once, each failing on its own."""

from __future__ import annotations

import pytest

from dashboard.discharge import readiness
from monitor.model import Alarm, AlarmKind, AlarmState, Phase, PhaseChange, Priority, Session, Vital

T0 = 1_700_000_000.0
BASE = {Vital.HR: 70.0, Vital.SBP: 120.0, Vital.DBP: 80.0, Vital.SPO2: 97.0}


def session(recovery_min_ago: float, now: float) -> Session:
    s = Session(1, "chair-1", "PT", Phase.RECOVERY, T0)
    s.phases = [PhaseChange(Phase.BASELINE, T0, "n"), PhaseChange(Phase.INFUSION, T0 + 600, "n"),
                PhaseChange(Phase.RECOVERY, now - recovery_min_ago * 60, "n")]
    return s


def data(now: float, **override: list[float]) -> dict[Vital, list[tuple[float, float]]]:
    values = {
        Vital.HR: [72.0] * 300, Vital.SPO2: [96.0] * 300, Vital.SBP: [125.0, 126.0], Vital.DBP: [82.0, 81.0],
    }
    for k, v in override.items():
        values[Vital(k)] = v
    out: dict[Vital, list[tuple[float, float]]] = {}
    for vital, vs in values.items():
        step = 300.0 / len(vs) if vital in (Vital.HR, Vital.SPO2) else 600.0
        out[vital] = [(now - (len(vs) - i) * step, v) for i, v in enumerate(vs)]
    return out


def judge(recovery_min_ago: float = 40, alarms: list[Alarm] | None = None, **override: list[float]) -> dict[str, bool]:
    now = T0 + 4 * 3600
    series = data(now, **override)
    checks = readiness(session(recovery_min_ago, now), now,
                       lambda v, start: [p for p in series.get(v, []) if p[0] >= start],
                       BASE.get, alarms or [])
    return {c.name: c.ok for c in checks}


def test_all_criteria_met_is_ready() -> None:
    assert all(judge().values())


@pytest.mark.parametrize(
    ("kwargs", "failing"),
    [
        ({"recovery_min_ago": 20}, "recovery"),
        ({"sbp": [125.0, 150.0]}, "nibp"),  # 150 is 25 % above a baseline of 120
        ({"dbp": [82.0]}, "nibp"),  # only one reading
        ({"hr": [90.0] * 300}, "hr"),  # 29 % above baseline
        ({"spo2": [91.0] * 300}, "spo2"),
    ],
)
def test_each_criterion_fails_on_its_own(kwargs: dict[str, object], failing: str) -> None:
    result = judge(**kwargs)  # type: ignore[arg-type]
    assert [k for k, ok in result.items() if not ok] == [failing]


def test_an_active_alarm_at_the_bed_blocks_readiness_and_a_resolved_one_does_not() -> None:
    alarm = Alarm("a", "hr-high", AlarmKind.PHYSIOLOGICAL, Priority.MEDIUM, "HR high", T0, bed="chair-1")
    assert judge(alarms=[alarm])["alarms"] is False
    alarm.state = AlarmState.RESOLVED
    assert judge(alarms=[alarm])["alarms"] is True
