"""The technical alarm for a storage outage: the screens must show that nothing is being saved.

While the database refuses writes (or a commit hangs on a lock), the writer
keeps retrying and HL7 senders get no ``AA``; staff must see why. One
site-wide alarm (no bed) is raised after ``after_s`` and resolved when writes
go through again. On the ingest it goes through the pipeline's publisher and
is stored with the rest once the database is back; a web process that cannot
read the event log raises its own, local one (its screens would otherwise
freeze silently).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from monitor.events import Event, alarm_event
from monitor.live import LiveState
from monitor.model import Alarm, AlarmChange, AlarmKind, Priority
from monitor.store.writer import BatchWriter

log = logging.getLogger(__name__)

STORAGE_RULE = "storage_unavailable"
INGEST_MESSAGE = "Storage unavailable: readings are not being saved and monitors get no acknowledgement"
WEB_MESSAGE = "Database unreachable from this server: the screen may not be current"


class SiteAlarms(Protocol):
    """Where the alarm's state changes: the alarm lifecycle (``alerts.lifecycle.AlarmBook``, or the
    engine's book through :class:`monitor.pipeline.AlarmStage`)."""

    def raise_site_alarm(self, alarm: Alarm, ts: float) -> list[AlarmChange]: ...

    def end_site_alarm(self, alarm_id: str, ts: float) -> list[AlarmChange]: ...


#: Stores (where there is a writer), shows and publishes alarm changes: ``Pipeline.record_alarm_changes``.
Record = Callable[[list[AlarmChange]], None]


def shown_only(live: LiveState, publish: Callable[[Event], int]) -> Record:
    """A web process's record of its own alarm: on its screens, not stored (it writes nothing)."""

    def record(changes: list[AlarmChange]) -> None:
        for change in changes:
            live.update_alarm(change.alarm)
            publish(alarm_event(change))

    return record


class OutageAlarm:
    """Raises and resolves one technical alarm as ``update(failing, now)`` says.

    It decides when; the lifecycle (``alarms``) changes the alarm's state, and ``record`` stores and
    publishes the change: on the ingest the outage's history is stored once writes go through again.
    """

    def __init__(
        self,
        *,
        prefix: str,
        message: str,
        alarms: SiteAlarms,
        record: Record,
        after_s: float = 2.0,
        rule_id: str = STORAGE_RULE,
    ) -> None:
        self.rule_id = rule_id
        self.prefix = prefix
        self.message = message
        self.alarms = alarms
        self.record = record
        self.after_s = after_s
        self.failing_since: float | None = None
        self.alarm: Alarm | None = None
        self.raised = 0

    def update(self, failing: bool, now: float) -> None:
        if failing:
            if self.failing_since is None:
                self.failing_since = now
            if self.alarm is None and now - self.failing_since >= self.after_s:
                self.alarm = Alarm(
                    id=f"{self.prefix}-{int(self.failing_since * 1000)}",
                    rule_id=self.rule_id,
                    kind=AlarmKind.TECHNICAL,
                    priority=Priority.MEDIUM,
                    message=self.message,
                    started=self.failing_since,
                )
                self.raised += 1
                log.error("technical alarm raised: %s", self.message)
                self.record(self.alarms.raise_site_alarm(self.alarm, now))
        else:
            self.failing_since = None
            if self.alarm is not None:
                alarm_id, self.alarm = self.alarm.id, None
                log.warning("technical alarm resolved: %s", self.rule_id)
                self.record(self.alarms.end_site_alarm(alarm_id, now))


def writer_failing(writer: BatchWriter, stuck_s: float = 2.0) -> bool:
    """Failed commits, or one hanging on a locked database for longer than ``stuck_s``."""
    since = writer.writing_since
    return not writer.healthy or (since is not None and time.perf_counter() - since > stuck_s)


async def watch(
    check: Callable[[], bool], alarm: OutageAlarm, every_s: float = 0.5, now: Callable[[], float] = time.time
) -> None:
    """Polls ``check`` every ``every_s`` real seconds (an outage is the machine's, not the clinic's, time);
    the alarm is stamped with ``now`` (the service's clock)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            alarm.update(check(), now())
        except Exception:
            log.exception("outage watch failed")
