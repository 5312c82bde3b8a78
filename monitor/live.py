"""What the screens show now: the latest value of every vital per bed, and the alarms on screen.

Updated by the pipeline on every reading (a dict assignment, nothing more);
read by the API and the WebSocket snapshot, which compute ages and staleness
at the moment they answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.clock import REAL_CLOCK, Clock
from monitor.model import Alarm, Quality, Reading, Vital

#: A value older than this is not current: greyed on screen with its age (seconds).
FRESHNESS_S: dict[Vital, float] = {
    Vital.HR: 10.0,
    Vital.PR: 10.0,
    Vital.SPO2: 10.0,
    Vital.RR: 30.0,
    Vital.ETCO2: 30.0,
    # NIBP is measured every 10-15 min: stale once the longest cycle plus its grace (spec) has passed.
    Vital.SBP: 900.0 + 120.0,
    Vital.DBP: 900.0 + 120.0,
    Vital.MAP: 900.0 + 120.0,
}


@dataclass(slots=True)
class Latest:
    value: float
    ts: float
    quality: Quality
    source: str


class LiveState:
    def __init__(self, clock: Clock = REAL_CLOCK) -> None:
        self.clock = clock
        #: bed id (or "source:<device id>" for unassigned sources) -> vital -> latest
        self.values: dict[str, dict[Vital, Latest]] = {}
        self.sources: dict[str, str | None] = {}  # device id -> bed (None: unassigned)
        self.last_seen: dict[str, float] = {}  # device id -> last time anything arrived
        self.alarms: dict[str, Alarm] = {}

    @staticmethod
    def key(bed: str | None, source: str) -> str:
        return bed if bed is not None else f"source:{source}"

    def update(self, reading: Reading) -> None:
        per = self.values.get(key := self.key(reading.bed, reading.source))
        if per is None:
            per = self.values[key] = {}
        current = per.get(reading.vital)
        # The latest by arrival is shown, not the newest stamp: a stamp in the future (forged, or a
        # clock ahead) must not hold the screen against the monitor's next reading. Only a reading
        # already stale on arrival (a backlog resent after an outage) leaves a newer value in place.
        if (
            current is None
            or reading.ts >= current.ts
            or self.clock.now() - reading.ts <= FRESHNESS_S.get(reading.vital, 0.0)
        ):
            per[reading.vital] = Latest(reading.value, reading.ts, reading.quality, reading.source)
        self.sources[reading.source] = reading.bed
        self.last_seen[reading.source] = reading.ts

    def update_alarm(self, alarm: Alarm) -> None:
        if alarm.needs_attention:
            self.alarms[alarm.id] = alarm
        else:
            self.alarms.pop(alarm.id, None)

    def vitals_of(self, key: str, now: float | None = None) -> dict[str, dict[str, Any]]:
        now = self.clock.now() if now is None else now
        out: dict[str, dict[str, Any]] = {}
        for vital, latest in self.values.get(key, {}).items():
            age = max(0.0, now - latest.ts)
            out[vital.value] = {
                "value": latest.value,
                "ts": latest.ts,
                "age_s": round(age, 1),
                "quality": latest.quality.value,
                "stale": age > FRESHNESS_S[vital],
                "source": latest.source,
            }
        return out
