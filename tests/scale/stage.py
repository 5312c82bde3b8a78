"""A minimal alarm stage for the scale-out tests (the alarm engine itself is tested in tests/alerts).

It raises one high alarm per bed while SpO2 < 90 and honours acknowledge and
silence like the engine's public methods, so the tests can follow a user action
from a web process to the ingest's stage.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.model import (
    Alarm,
    AlarmChange,
    AlarmKind,
    AlarmState,
    Priority,
    Reading,
    Vital,
)
from monitor.testing import NullAlarmStage


class SpO2Stage(NullAlarmStage):
    def __init__(self) -> None:
        super().__init__()
        self.alarms: dict[str, Alarm] = {}
        self.acknowledged: list[tuple[str, str]] = []

    def judge(self, readings: Sequence[Reading]) -> list[AlarmChange]:
        out: list[AlarmChange] = []
        for r in readings:
            if r.vital is not Vital.SPO2 or r.bed is None:
                continue
            alarm_id = f"spo2-{r.bed}"
            held = self.alarms.get(alarm_id)
            if r.value < 90 and (held is None or held.state is AlarmState.RESOLVED):
                alarm = Alarm(
                    alarm_id,
                    "spo2-low",
                    AlarmKind.PHYSIOLOGICAL,
                    Priority.MEDIUM,
                    "SpO2 low",
                    r.ts,
                    bed=r.bed,
                    session_id=r.session_id,
                    vital=Vital.SPO2,
                    value=r.value,
                    limit=90.0,
                )
                self.alarms[alarm_id] = alarm
                out.append(AlarmChange(alarm, "started", r.ts))
            elif r.value >= 90 and held is not None and held.state is not AlarmState.RESOLVED:
                held.state, held.ended = AlarmState.RESOLVED, r.ts
                out.append(AlarmChange(held, "resolved", r.ts))
        return out

    def acknowledge(self, alarm_id: str, user: str, now: float) -> list[AlarmChange]:
        alarm = self.alarms[alarm_id]
        alarm.state, alarm.acknowledged_by, alarm.acknowledged_at = AlarmState.ACKNOWLEDGED, user, now
        self.acknowledged.append((alarm_id, user))
        return [AlarmChange(alarm, "acknowledged", now, user)]

    def silence(self, alarm_id: str, user: str, now: float, seconds: float | None = None) -> list[AlarmChange]:
        alarm = self.alarms[alarm_id]
        alarm.state, alarm.silenced_until = AlarmState.SILENCED, now + (seconds or 120.0)
        return [AlarmChange(alarm, "silenced", now, user)]

    def restore(self, alarms: Iterable[Alarm], now: float | None = None) -> list[AlarmChange]:
        for alarm in alarms:
            self.alarms[alarm.id] = alarm
        return []
