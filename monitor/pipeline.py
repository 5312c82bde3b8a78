"""The only path a reading takes: validate -> bind -> store -> judge -> publish.

Adapters call :meth:`Pipeline.submit` (the :class:`adapters.base.IngestSink`
seam). The pipeline is handed its collaborators (writer, alarm stage,
publisher) and knows nothing of adapters, the web or the alarm rules.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from monitor.model import (
    AlarmChange,
    DeviceAlarm,
    DeviceStatus,
    PhaseChange,
    Reading,
    Session,
)

log = logging.getLogger(__name__)


class AlarmStage(Protocol):
    """Judges what enters; returns the alarm changes it caused (the pipeline stores and publishes them)."""

    def judge(self, readings: Sequence[Reading]) -> list[AlarmChange]: ...

    def on_status(self, status: DeviceStatus) -> list[AlarmChange]: ...

    def on_device_alarm(self, alarm: DeviceAlarm) -> list[AlarmChange]: ...

    def on_phase(self, session: Session, change: PhaseChange) -> list[AlarmChange]: ...

    def tick(self, now: float) -> list[AlarmChange]:
        """Time-driven changes: signal lost, NIBP overdue, escalation, end of audio pause."""
        ...


class Publisher(Protocol):
    def publish(self, event: dict[str, Any]) -> int:
        """Send one event to every screen; returns its ``seq``."""
        ...
