"""Test doubles for the service's seams, shipped with the library (as httpx ships its mock transport).

- :class:`NullAlarmStage`: an :class:`~monitor.pipeline.AlarmStage` that judges nothing and knows no
  alarm; subclass it and override what a test needs (the web process's stand-in for the ingest's
  engine is one).
- :class:`RecordingSink`: an :class:`~adapters.base.IngestSink` that keeps what it is given.
- The fake clock is :class:`monitor.clock.FakeClock`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from monitor.clock import FakeClock
from monitor.model import (
    Alarm,
    AlarmChange,
    DeviceAlarm,
    DeviceStatus,
    IngestItem,
    PhaseChange,
    Reading,
    Session,
    SubmitResult,
    Vital,
)

__all__ = ["FakeClock", "NullAlarmStage", "RecordingSink"]


class NullAlarmStage:
    """Judges nothing, raises nothing; users' actions find no alarm (``KeyError``, as the engine's)."""

    def __init__(self, rules: Iterable[Any] = ()) -> None:
        self._rules: list[Any] = list(rules)
        self._session_rules: dict[int, list[Any]] = {}
        self._version: int | None = None

    def judge(self, readings: Sequence[Reading]) -> list[AlarmChange]:
        return []

    def on_status(self, status: DeviceStatus) -> list[AlarmChange]:
        return []

    def on_device_alarm(self, alarm: DeviceAlarm) -> list[AlarmChange]:
        return []

    def on_phase(self, session: Session, change: PhaseChange) -> list[AlarmChange]:
        return []

    def tick(self, now: float) -> list[AlarmChange]:
        return []

    def on_foreign_source(
        self, bed: str, source: str, message: str, ts: float, session_id: int | None, *, active: bool = True
    ) -> list[AlarmChange]:
        return []

    def rebase(self, session: Session, readings: list[Reading]) -> None:
        return None

    def raise_site_alarm(self, alarm: Alarm, ts: float) -> list[AlarmChange]:
        return []

    def end_site_alarm(self, alarm_id: str, ts: float) -> list[AlarmChange]:
        return []

    def acknowledge(self, alarm_id: str, user: str, now: float) -> list[AlarmChange]:
        raise KeyError(f"no alarm {alarm_id} needs attention")

    def silence(self, alarm_id: str, user: str, now: float, seconds: float | None = None) -> list[AlarmChange]:
        raise KeyError(f"no alarm {alarm_id} needs attention")

    def active_alarms(self) -> list[Alarm]:
        return []

    def register_session(self, session: Session) -> None:
        return None

    def load_baseline(self, session_id: int, readings: Iterable[Reading]) -> None:
        return None

    def load_cuff_times(self, session_id: int, times: Iterable[float]) -> None:
        return None

    def restore(self, alarms: Iterable[Alarm], now: float) -> list[AlarmChange]:
        return []

    @property
    def rules(self) -> list[Any]:
        return self._rules

    @property
    def rule_set_version(self) -> int | None:
        return self._version

    def set_rules(self, rules: Iterable[Any], *, version: int | None = None) -> None:
        self._rules, self._version = list(rules), version

    def baseline(self, session_id: int, vital: Vital) -> float | None:
        return None

    def session_rules(self, session_id: int | None) -> list[Any]:
        return list(self._session_rules.get(session_id, self._rules) if session_id is not None else self._rules)

    def set_session_rules(self, session_id: int, rules: Iterable[Any]) -> None:
        self._session_rules[session_id] = list(rules)

    def has_override(self, session_id: int) -> bool:
        """Whether the session has rules of its own (set by a clinician)."""
        return session_id in self._session_rules

    def clear_session_rules(self, session_id: int) -> None:
        self._session_rules.pop(session_id, None)

    def inactive_rules(self, session_id: int) -> list[tuple[str, str]]:
        return []


class RecordingSink:
    """Keeps every submitted item and dedupe key; answers as the pipeline does once stored."""

    def __init__(self) -> None:
        self.items: list[IngestItem] = []
        self.keys: list[str | None] = []

    async def submit(self, items: Sequence[IngestItem], *, dedupe_key: str | None = None) -> SubmitResult:
        self.items.extend(items)
        self.keys.append(dedupe_key)
        readings = sum(1 for i in items if isinstance(i, Reading))
        return SubmitResult(readings, 0)

    @property
    def readings(self) -> list[Reading]:
        return [i for i in self.items if isinstance(i, Reading)]
