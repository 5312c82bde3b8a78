"""The only path a reading takes: validate -> bind -> store -> judge -> publish.

Adapters call :meth:`Pipeline.submit` (the :class:`adapters.base.IngestSink`
seam). The pipeline is handed its collaborators (writer, alarm stage,
publisher) and knows nothing of adapters, the web or the alarm rules.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, cast

from monitor.clock import REAL_CLOCK, Clock
from monitor.devices import DeviceRegistry, Quarantine, describe_unassigned
from monitor.events import (
    DeviceEvent,
    Event,
    ReadingEvent,
    alarm_event,
    session_event,
)
from monitor.live import LiveState
from monitor.model import (
    FILED_SESSION_ENDED,
    Alarm,
    AlarmChange,
    DeviceAlarm,
    DeviceStatus,
    IngestItem,
    PhaseChange,
    Quality,
    Reading,
    Session,
    SubmitResult,
    Vital,
)
from monitor.sessions import SessionManager
from monitor.store import audit as audit_store
from monitor.store.writer import BatchWriter, DataRefused
from monitor.validate import ReadingRejected, check_ids, check_nibp_pairs, normalise

log = logging.getLogger(__name__)

#: How long, and how many, message keys the pipeline remembers (a sender retransmits within
#: minutes). Older retransmissions are still caught by the writer against the database.
KEY_MEMORY_S = 3600.0
KEY_MEMORY_MAX = 100_000


class AlarmStage(Protocol):
    """The alarm engine as the service uses it (``alerts.engine.AlarmEngine`` implements it).

    Judging returns the alarm changes it caused (the pipeline stores and publishes them); users
    acknowledge and silence through it; the service restores it after a restart; the API reads its
    baselines and rules. A test double that judges nothing: ``monitor.testing.NullAlarmStage``.
    """

    # -- judging
    def judge(self, readings: Sequence[Reading]) -> list[AlarmChange]: ...

    def on_status(self, status: DeviceStatus) -> list[AlarmChange]: ...

    def on_device_alarm(self, alarm: DeviceAlarm) -> list[AlarmChange]: ...

    def on_phase(self, session: Session, change: PhaseChange) -> list[AlarmChange]: ...

    def tick(self, now: float) -> list[AlarmChange]:
        """Time-driven changes: signal lost, NIBP overdue, escalation, end of audio pause."""
        ...

    def on_foreign_source(
        self, bed: str, source: str, message: str, ts: float, session_id: int | None, *, active: bool = True
    ) -> list[AlarmChange]:
        """A device not bound to ``bed`` claims it (strict binding): the "unexpected source" alarm starts or ends."""
        ...

    def rebase(self, session: Session, readings: list[Reading]) -> None:
        """Readings were claimed for ``session``: its baselines are computed again from ``readings``."""

    # -- the service's site-wide technical alarms (monitor.outage): kept with the others
    def raise_site_alarm(self, alarm: Alarm, ts: float) -> list[AlarmChange]: ...

    def end_site_alarm(self, alarm_id: str, ts: float) -> list[AlarmChange]: ...

    # -- users (raise KeyError for an alarm no longer needing attention)
    def acknowledge(self, alarm_id: str, user: str, now: float) -> list[AlarmChange]: ...

    def silence(self, alarm_id: str, user: str, now: float, seconds: float | None = None) -> list[AlarmChange]: ...

    def active_alarms(self) -> list[Alarm]: ...

    # -- restart
    def register_session(self, session: Session) -> None: ...

    def load_baseline(self, session_id: int, readings: Iterable[Reading]) -> None: ...

    def load_cuff_times(self, session_id: int, times: Iterable[float]) -> None:
        """An open session's stored cuff times (its protocol's BP checkpoints already taken stay taken)."""
        ...

    def restore(self, alarms: Iterable[Alarm], now: float) -> list[AlarmChange]: ...

    # -- baselines and rules (``alerts.rules.Rule``: the core does not import ``alerts``, hence Any)
    @property
    def rules(self) -> list[Any]:
        """The clinic rules."""
        ...

    @property
    def rule_set_version(self) -> int | None:
        """The clinic rule-set version in force (``rule_sets``), stamped on every alarm raised."""
        ...

    def set_rules(self, rules: Iterable[Any], *, version: int | None = None) -> None:
        """Put a clinic rule set in force for new alarms (``alerts/rule_sets.py``)."""

    def baseline(self, session_id: int, vital: Vital) -> float | None: ...

    def session_rules(self, session_id: int | None) -> list[Any]: ...

    def set_session_rules(self, session_id: int, rules: Iterable[Any]) -> None: ...

    def clear_session_rules(self, session_id: int) -> None: ...

    def inactive_rules(self, session_id: int) -> list[tuple[str, str]]:
        """Relative rules without a baseline yet, with the reason."""
        ...


class Publisher(Protocol):
    def publish(self, event: dict[str, Any]) -> int:
        """Send one event to every screen; returns its ``seq``."""
        ...


class Pipeline:
    """Implements :class:`adapters.base.IngestSink`: the one way in for every reading."""

    def __init__(
        self,
        *,
        writer: BatchWriter,
        sessions: SessionManager,
        judge: AlarmStage,
        publisher: Publisher,
        live: LiveState,
        known_keys: dict[str, float] | None = None,
        clock: Clock = REAL_CLOCK,
        devices: DeviceRegistry | None = None,
    ) -> None:
        self.writer = writer
        self.devices = devices if devices is not None else DeviceRegistry()
        self.quarantine = Quarantine()
        #: bed id -> label, for alarm texts that name a chair (filled by the service)
        self.bed_labels: dict[str, str] = {}
        self.sessions = sessions
        self.judge = judge
        self.publisher = publisher
        self.live = live
        self.clock = clock
        #: Keys of recently stored messages (key -> when), oldest first: answers a retransmission
        #: without touching the database. Bounded; the writer checks keys against the database anyway.
        self._known_keys: dict[str, float] = dict(known_keys or {})
        self._pending_keys: dict[str, asyncio.Future[None]] = {}
        self.counts: Counter[str] = Counter()  # accepted, stored, rejected:<reason>, duplicate
        sessions.add_listener(self.session_changed)

    # -- IngestSink ----------------------------------------------------------------------
    async def submit(self, items: Sequence[IngestItem], *, dedupe_key: str | None = None) -> SubmitResult:
        if dedupe_key is not None:
            if dedupe_key in self._known_keys:
                self.counts["duplicate"] += 1
                return SubmitResult(0, 0, duplicate=True)
            pending = self._pending_keys.get(dedupe_key)
            if pending is not None:  # the same message is being stored right now: answer when it is
                self.counts["duplicate"] += 1
                await asyncio.shield(pending)
                return SubmitResult(0, 0, duplicate=True)

        # What this submission adds from here on is its own: a row the database refuses for good
        # refuses this submission alone (monitor/store/writer.py).
        self.writer.segment()
        readings: list[Reading] = []
        any_training = False
        foreign: list[Reading] = []
        errors: list[str] = []
        changes: list[AlarmChange] = []
        for item in items:
            if isinstance(item, Reading):
                training = item.quality is Quality.TRAINING
                try:
                    normalise(item)
                except ReadingRejected as exc:
                    self.counts[f"rejected:{exc.reason}"] += 1
                    errors.append(str(exc))
                    continue
                if training:
                    # Simulated patients (a monitor in demo mode): kept and shown as such, on no chair.
                    item.quality, item.bed, item.session_id = Quality.TRAINING, None, None
                    self.counts["training"] += 1
                    any_training = True
                else:
                    claimed = self.sessions.bind(item)
                    if claimed is not None:  # stored for the record, never shown as the chair's, never judged
                        foreign.append(item)
                        self._foreign(item, claimed, changes)
                        continue
                readings.append(item)
            elif isinstance(item, DeviceStatus | DeviceAlarm):
                try:
                    check_ids(item.source, item.bed)
                except ReadingRejected as exc:
                    self.counts[f"rejected:{exc.reason}"] += 1
                    errors.append(str(exc))
                    continue
                if isinstance(item, DeviceStatus):
                    self._status(item, changes)
                else:
                    self._device_alarm(item, changes)
        check_nibp_pairs(readings)

        if foreign:
            self.counts["quarantined"] += len(foreign)
        if readings or foreign or dedupe_key is not None:
            self.writer.add_readings([*readings, *foreign] if foreign else readings, dedupe_key)
            self.counts["stored"] += len(readings) + len(foreign)
        if readings:
            try:
                judged = _patients_only(readings) if any_training else readings
                changes.extend(self.judge.judge(judged))
            except Exception:
                # The readings are stored and shown either way; a judging bug must not turn a
                # stored message into a refused one (the sender would resend it for nothing).
                self.counts["judge_errors"] += 1
                log.exception("alarm stage failed on %d reading(s)", len(readings))
            self._publish_readings(readings)
        self._alarm_changes(changes)
        # After the alarm changes: they belong to this submission (refused with it if their rows are).
        durable = self.writer.durable()
        if dedupe_key is not None:
            self._pending_keys[dedupe_key] = durable
        try:
            try:
                await asyncio.shield(durable)
            except DataRefused:
                self.counts["refused_by_storage"] += 1
                raise
        finally:
            if dedupe_key is not None:
                self._pending_keys.pop(dedupe_key, None)
                if durable.done() and not durable.cancelled() and durable.exception() is None:
                    self._remember_key(dedupe_key)
        if errors:
            log.warning("refused %d reading(s): %s", len(errors), "; ".join(sorted(set(errors))))
        return SubmitResult(len(readings) + len(foreign), len(errors), errors=tuple(errors))

    def _remember_key(self, key: str) -> None:
        now = time.time()  # a sender retransmits within real minutes: not the clinical clock
        known = self._known_keys
        known[key] = now
        # Drop the oldest beyond the window or the cap (dicts keep insertion order).
        while known:
            oldest = next(iter(known))
            if len(known) <= KEY_MEMORY_MAX and known[oldest] >= now - KEY_MEMORY_S:
                break
            del known[oldest]

    # -- the stages ----------------------------------------------------------------------
    def _status(self, status: DeviceStatus, changes: list[AlarmChange]) -> None:
        status.bed = self.sessions.bed_of_event(status.source, status.bed, status.ts)
        session = self.sessions.session_for_bed(status.bed)
        self.writer.add_status(status, session.id if session else None)
        self.live.last_seen[status.source] = max(status.ts, self.live.last_seen.get(status.source, status.ts))
        self.devices.on_status(status)
        changes.extend(self.judge.on_status(status))
        event: DeviceEvent = {
            "type": "device",
            "bed": status.bed,
            "source": status.source,
            "state": status.state.value,
            "vital": status.vital.value if status.vital else None,
            "ts": status.ts,
            "detail": status.detail,
        }
        if status.address:
            event["address"] = status.address
        if status.model:
            event["model"] = status.model
        self.publish(cast(Event, event))

    def _device_alarm(self, alarm: DeviceAlarm, changes: list[AlarmChange]) -> None:
        alarm.bed = self.sessions.bed_of_event(alarm.source, alarm.bed, alarm.ts)
        session = self.sessions.session_for_bed(alarm.bed)
        alarm.session_id = session.id if session else None
        changes.extend(self.judge.on_device_alarm(alarm))

    def _foreign(self, reading: Reading, bed: str, changes: list[AlarmChange]) -> None:
        """A reading claimed ``bed`` from a device not bound to it: one technical alarm per device."""
        now = self.clock.now()  # by arrival: a forger's stamps must not end or restart the alarm
        if not self.quarantine.note(bed, reading.source, now):
            return
        label = self.bed_labels.get(bed, bed)
        address = self.devices.address_of(reading.source)
        message = f"Unexpected source for {label}: device {reading.source}" + (f" ({address})" if address else "")
        log.warning("quarantined readings for %s from unbound device %s (%s)", bed, reading.source, address or "?")
        session = self.sessions.session_for_bed(bed)
        changes.extend(self.judge.on_foreign_source(bed, reading.source, message, now, session.id if session else None))

    def _publish_readings(self, readings: list[Reading]) -> None:
        """One screen message per bed (or unassigned source) and instant, with all its vitals."""
        live = self.live
        groups: dict[tuple[str | None, str, float], tuple[dict[str, float], dict[str, str], int | None]] = {}
        for r in readings:
            live.update(r)
            key = (r.bed, r.source if r.bed is None else "", r.ts)
            group = groups.get(key)
            if group is None:
                group = groups[key] = ({}, {}, r.session_id)
            name = _VITAL_NAME[r.vital]
            group[0][name] = r.value
            if r.quality is not Quality.VALID:
                group[1][name] = r.quality.value
        for (bed, source, ts), (vitals, quality, session_id) in groups.items():
            event: ReadingEvent = {
                "type": "reading",
                "bed": bed,
                "session": session_id,
                "ts": ts,
                "vitals": vitals,
                "quality": quality,
            }
            if bed is None:
                event["source"] = source
            self.publisher.publish(cast(Event, event))

    def record_alarm_changes(self, changes: list[AlarmChange]) -> None:
        """Store, show and publish alarm changes made outside the reading path (restore at start-up)."""
        self._alarm_changes(changes)

    def _alarm_changes(self, changes: list[AlarmChange]) -> None:
        if not changes:
            return
        for ch in changes:
            alarm = ch.alarm
            if alarm.bed is None and alarm.source is not None and alarm.source_address is None:
                describe_unassigned(alarm, self.devices.address_of(alarm.source))
        self.writer.add_alarm_changes(changes)
        for ch in changes:
            self.live.update_alarm(ch.alarm)
            self.counts[f"alarm:{ch.transition}"] += 1
            self.publish(alarm_event(ch))

    def publish(self, event: Event) -> int:
        """Publish a non-reading event (one of ``monitor.events``); the bus logs it as its type requires."""
        seq: int = self.publisher.publish(event)
        return seq

    # -- time and sessions ---------------------------------------------------------------
    def tick(self, now: float | None = None) -> None:
        """Let the alarm stage act on time passing (signal lost, escalation, audio pause ending)."""
        now = self.clock.now() if now is None else now
        changes = self.judge.tick(now)
        for bed, source in self.quarantine.quiet(now):
            changes.extend(self.judge.on_foreign_source(bed, source, "", now, None, active=False))
        self._alarm_changes(changes)

    async def session_changed(self, session: Session, change: PhaseChange) -> None:
        changes = self.judge.on_phase(session, change)
        self.publish(session_event(session, change))
        self._alarm_changes(changes)
        await self.writer.durable()
        filed = [ch.alarm.id for ch in changes if ch.transition == "ended-with-session"]
        if filed:
            # Who ended the session filed its alarms: on record, like an acknowledgement.
            await asyncio.to_thread(
                audit_store.write_audit,
                self.sessions.engine,
                change.user,
                "alarms_filed",
                f"session:{session.id}",
                {"reason": FILED_SESSION_ENDED, "phase": change.phase.value, "ts": change.ts, "alarms": filed},
            )

    async def user_alarm_changes(self, changes: list[AlarmChange]) -> None:
        """Acknowledge/silence from a user: stored and on every screen before the request returns."""
        self._alarm_changes(changes)
        await self.writer.durable()


#: Plain-text names for JSON keys (orjson takes only exact str keys; ``.value`` is slow per reading).
_VITAL_NAME: dict[Vital, str] = {v: v.value for v in Vital}


def _patients_only(readings: list[Reading]) -> list[Reading]:
    """Readings without training data: those are never judged (no alarm, no signal-lost timer)."""
    return [r for r in readings if r.quality is not Quality.TRAINING]
