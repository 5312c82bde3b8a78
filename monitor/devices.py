"""Devices as things the staff see: what is connected, where it is, which chair it is on.

:class:`DeviceRegistry` remembers every source heard (HL7 device id and its sending
address, serial port and protocol, model where the device says it) from the device
events the adapters send; it costs nothing per reading (latest values come from
:class:`monitor.live.LiveState`). :class:`DeviceManager` associates monitors with
chairs from the screen (stored, audited, published), ends them with the session,
claims a monitor's earlier readings for a session, and quarantines readings that
claim a chair bound to another device.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine

from monitor.binding import Association, BindingError, Bindings, device_key
from monitor.clock import REAL_CLOCK, Clock
from monitor.live import LiveState
from monitor.model import (
    CANONICAL_UNIT,
    OPEN_PHASES,
    Alarm,
    AlarmChange,
    AlarmKind,
    DeviceState,
    DeviceStatus,
    PhaseChange,
    Quality,
    Reading,
    Session,
    Vital,
)
from monitor.sessions import SessionManager
from monitor.store import audit as audit_store
from monitor.store import devices as store

#: How far back a nurse may claim a monitor's unassigned readings for a session (default 15 min).
from monitor.store import readings as reading_store

#: How far back a nurse may claim a monitor's unassigned readings for a session (default 15 min).
CLAIM_WINDOW_S = 900.0
#: A device heard within this long is "sending"; silent longer, "silent" (its last values stay, with their age).
SENDING_S = 30.0
#: An "unexpected source" alarm ends once its device has sent nothing for this long.
QUARANTINE_QUIET_S = 60.0
#: Foreign devices watched at once (bounded: one hostile sender may invent any number of ids); beyond,
#: their readings are still quarantined, without an alarm each.
QUARANTINE_MAX = 256

_NAMES = {
    Vital.HR: "HR",
    Vital.PR: "Pulse",
    Vital.SPO2: "SpO2",
    Vital.SBP: "Systolic",
    Vital.DBP: "Diastolic",
    Vital.MAP: "Mean BP",
    Vital.RR: "Resp. rate",
    Vital.ETCO2: "EtCO2",
}


class DeviceError(ValueError):
    """An association request that cannot be done (``status``: the HTTP status to answer with)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class DeviceInfo:
    source: str
    kind: str  # hl7 | serial | simulator
    address: str = ""
    model: str = ""
    protocol: str = ""
    state: str = ""  # the last connection state the adapter reported
    state_ts: float = 0.0


def kind_of(source: str) -> str:
    if source.startswith("serial:"):
        return "serial"
    if source.startswith("sim:"):
        return "simulator"
    return "hl7"


class DeviceRegistry:
    """What is known of each source beyond its readings; fed by device events, never per reading."""

    def __init__(self, serial_protocols: dict[str, str] | None = None) -> None:
        self.info: dict[str, DeviceInfo] = {}
        self._serial = dict(serial_protocols or {})

    def get(self, source: str) -> DeviceInfo:
        found = self.info.get(source)
        if found is None:
            kind = kind_of(source)
            found = self.info[source] = DeviceInfo(source, kind)
            if kind == "serial":
                found.address = source.removeprefix("serial:")
                found.protocol = self._serial.get(source, "")
                found.model = found.protocol
            elif kind == "simulator":
                found.address, found.model = "simulated", "ivmon simulator"
        return found

    def on_status(self, status: DeviceStatus) -> None:
        info = self.get(status.source)
        if status.address:
            info.address = status.address[:128]
        if status.model:
            info.model = status.model[:64]
        if status.state in (DeviceState.CONNECTED, DeviceState.DISCONNECTED):
            info.state, info.state_ts = status.state.value, status.ts

    def on_event(self, event: dict[str, Any]) -> None:
        """A web process's copy: the ``device`` events the ingest publishes."""
        info = self.get(str(event["source"]))
        if event.get("address"):
            info.address = str(event["address"])
        if event.get("model"):
            info.model = str(event["model"])
        if event.get("state") in ("connected", "disconnected"):
            info.state, info.state_ts = str(event["state"]), float(event["ts"])

    def address_of(self, source: str) -> str:
        found = self.info.get(source)
        return found.address if found is not None else ""


def association_json(assoc: Association) -> dict[str, Any]:
    return {
        "device": assoc.device,
        "bed": assoc.bed,
        "start": assoc.start,
        "end": assoc.end,
        "user": assoc.user,
        "ended_by": assoc.ended_by,
        "fixed": assoc.fixed,
    }


def association_from_json(data: dict[str, Any]) -> Association:
    return Association(
        data["device"],
        data["bed"],
        float(data["start"]),
        data.get("user") or "?",
        fixed=bool(data.get("fixed")),
        end=data.get("end"),
        ended_by=data.get("ended_by"),
    )


def apply_association(bindings: Bindings, data: dict[str, Any]) -> None:
    """A web process's copy of the bindings: apply an ``association`` event."""
    assoc = association_from_json(data)
    held = bindings.current(assoc.device)
    if assoc.end is None:
        if held is not None and not held.fixed:
            bindings.end(held, assoc.start, assoc.user)
        bindings.restore(assoc)
        bindings.last_on_bed[assoc.bed] = assoc.device
    elif held is not None and not held.fixed and held.bed == assoc.bed:
        bindings.end(held, assoc.end, assoc.ended_by or "?")


def describe_unassigned(alarm: Alarm, address: str) -> None:
    """Say where an unassigned monitor's alarm comes from, in its JSON (``source``) and its text."""
    alarm.source_address = address  # "" when unknown: described once all the same
    where = f"Unassigned monitor {alarm.source}" + (f" ({address})" if address else "")
    if alarm.kind == AlarmKind.PHYSIOLOGICAL and alarm.vital is not None and alarm.value is not None:
        unit = CANONICAL_UNIT[alarm.vital]
        what = f"{_NAMES[alarm.vital]} {alarm.value:g} {unit}"
        if alarm.limit is not None:
            what += f" (limit {alarm.limit:g} {unit})"
        alarm.message = f"{where}: {what}"
    else:
        alarm.message = f"{where}: {alarm.message}"


class Publish(Protocol):
    def __call__(self, event: dict[str, Any]) -> int: ...


class AlarmChanges(Protocol):
    async def __call__(self, changes: list[AlarmChange]) -> None: ...


class BaselineStage(Protocol):
    def rebase(self, session: Session, readings: list[Reading]) -> None: ...


class DeviceManager:
    """Associations from the screen, claims, and the strict-binding watch, on the ingest (or single) process.

    Every change is stored and audited here, whoever asks (a nurse through the API, the
    demo's simulated nurse), and published as an ``association`` event.
    """

    def __init__(
        self,
        engine: Engine,
        bindings: Bindings,
        registry: DeviceRegistry,
        live: LiveState,
        sessions: SessionManager,
        *,
        claim_window_s: float = CLAIM_WINDOW_S,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.bindings = bindings
        self.registry = registry
        self.live = live
        self.sessions = sessions
        self.claim_window_s = claim_window_s
        self.publish: Publish | None = None
        self.durable: Any = None  # () -> awaitable: readings in flight are stored before a claim
        self.baselines: BaselineStage | None = None
        self._lock = asyncio.Lock()
        sessions.add_listener(self._session_changed)

    def load(self) -> None:
        """Reopen the associations that were open when the service stopped."""
        for assoc in store.open_associations(self.engine):
            self.bindings.restore(assoc)
        self.bindings.last_on_bed.update(store.last_device_per_bed(self.engine))

    # -- what the staff see -----------------------------------------------------------------
    def known_source(self, device: str) -> str:
        """The device id as the device sends it (ids are typed or scanned in any case)."""
        key = device_key(device)
        for source in self.live.sources:
            if device_key(source) == key:
                return source
        return device.strip()

    def view(self, now: float | None = None) -> list[dict[str, Any]]:
        return devices_view(self.live, self.bindings, self.registry, self.clock.now() if now is None else now)

    # -- associations ----------------------------------------------------------------------
    async def associate(
        self, bed: str, device: str, user: str, *, ts: float | None = None, claim_from: float | None = None
    ) -> dict[str, Any]:
        """``device`` on ``bed`` from now (a move ends its association with another chair)."""
        ts = self.clock.now() if ts is None else ts
        source = self.known_source(device)
        if not source:
            raise DeviceError("a device id is required", 422)
        async with self._lock:
            held = self.bindings.current(source)
            if held is not None and held.bed == bed:
                result: dict[str, Any] = {"association": association_json(held), "ended": [], "claimed": 0}
            else:
                try:
                    assoc, ended = self.bindings.associate(source, bed, ts, user)
                except BindingError as exc:
                    raise DeviceError(str(exc)) from None
                for old in ended:
                    await self._store_end(old, user, "moved to " + bed)
                assoc.id = await asyncio.to_thread(store.insert_association, self.engine, assoc)
                await asyncio.to_thread(
                    audit_store.write_audit,
                    self.engine,
                    user,
                    "device_associate",
                    f"bed:{bed}",
                    {"device": source, "moved_from": [o.bed for o in ended]},
                )
                self._publish(assoc)
                result = {
                    "association": association_json(assoc),
                    "ended": [association_json(o) for o in ended],
                    "claimed": 0,
                }
        if claim_from is not None:
            result["claimed"] = (await self.claim(bed, source, claim_from, user))["claimed"]
        return result

    async def release(self, bed: str, device: str, user: str, *, ts: float | None = None) -> dict[str, Any]:
        ts = self.clock.now() if ts is None else ts
        async with self._lock:
            held = self.bindings.current(device)
            if held is None or held.bed != bed:
                raise DeviceError(f"device {device} is not associated with {bed}", 404)
            try:
                self.bindings.end(held, ts, user)
            except BindingError as exc:
                raise DeviceError(str(exc)) from None
            await self._store_end(held, user, "released")
        return {"association": association_json(held)}

    async def _store_end(self, assoc: Association, user: str, why: str) -> None:
        if assoc.id is not None:
            ended = assoc.end if assoc.end is not None else self.clock.now()
            await asyncio.to_thread(store.end_association, self.engine, assoc.id, ended, user)
        await asyncio.to_thread(
            audit_store.write_audit,
            self.engine,
            user,
            "device_release",
            f"bed:{assoc.bed}",
            {"device": assoc.device, "why": why},
        )
        self._publish(assoc)

    def _publish(self, assoc: Association) -> None:
        if self.publish is not None:
            self.publish({"type": "association", "ts": self.clock.now(), "association": association_json(assoc)})

    async def _session_changed(self, session: Session, change: PhaseChange) -> None:
        """A chair's session ended: its monitor goes back to the pool unless the chair keeps a fixed one."""
        if change.phase in OPEN_PHASES:
            return
        async with self._lock:
            for assoc in self.bindings.end_for_bed(session.bed, change.ts, change.user):
                await self._store_end(assoc, change.user, f"session {session.id} ended")

    # -- claims ----------------------------------------------------------------------------
    async def claim(
        self, bed: str, device: str, since: float, user: str, *, now: float | None = None
    ) -> dict[str, Any]:
        """The monitor's readings since ``since`` (before its association) become the chair's session's.

        Only within the claim window, only readings still unassigned, only into the
        chair's open session; the session's baselines are computed again with them.
        """
        now = self.clock.now() if now is None else now
        source = self.known_source(device)
        session = self.sessions.open_by_bed.get(bed)
        if session is None:
            raise DeviceError(f"{bed} has no open session to claim readings for")
        held = self.bindings.current(source)
        if held is None or held.bed != bed:
            raise DeviceError(f"device {source} is not associated with {bed}: associate it first")
        if since < now - self.claim_window_s:
            raise DeviceError(f"readings can be claimed for at most {self.claim_window_s / 60:g} min back", 422)
        end = held.start
        if since >= end:
            return {"claimed": 0, "from": since, "to": end}
        if self.durable is not None:
            await self.durable()  # readings still on their way to the database are claimed too
        rows = await asyncio.to_thread(store.claim_readings, self.engine, source, bed, session.id, since, end)
        moved_start = None
        if rows and rows[0][0] < session.started and session.phases and session.phase_at(now) is not None:
            # The readings before the session began were its baseline: the session (and its
            # baseline phase) begins with the first claimed reading, as recorded in the audit log.
            old = session.started
            moved_start = rows[0][0]
            await asyncio.to_thread(store.move_session_start, self.engine, session.id, old, moved_start)
            session.started = moved_start
            if session.phases[0].ts == old:
                session.phases[0].ts = moved_start
        await asyncio.to_thread(
            audit_store.write_audit,
            self.engine,
            user,
            "device_claim",
            f"session:{session.id}",
            {"device": source, "bed": bed, "from": since, "to": end, "readings": len(rows), "moved_start": moved_start},
        )
        if self.baselines is not None and rows:
            frame = await asyncio.to_thread(
                reading_store.session_readings, self.engine, session.id, None, session.started, now
            )
            self.baselines.rebase(
                session,
                [
                    Reading(Vital(v), val, u, t, src, Quality(q), bed, session.id)
                    for t, v, val, u, q, src in frame.itertuples(index=False)
                ],
            )
        if self.publish is not None:
            self.publish(
                {
                    "type": "claim",
                    "ts": now,
                    "bed": bed,
                    "session": session.id,
                    "device": source,
                    "readings": len(rows),
                    "user": user,
                }
            )
        return {"claimed": len(rows), "from": since, "to": end, "session_started": session.started}


class Quarantine:
    """Foreign devices heard claiming a bound chair: one "unexpected source" alarm per device while it sends."""

    def __init__(self) -> None:
        self.heard: dict[tuple[str, str], float] = {}  # (bed, source) -> last time

    def note(self, bed: str, source: str, ts: float) -> bool:
        """True the first time (the caller raises the alarm)."""
        key = (bed, source)
        last = self.heard.get(key)
        if last is None:
            if len(self.heard) >= QUARANTINE_MAX:
                return False
            self.heard[key] = ts
            return True
        if ts > last:
            self.heard[key] = ts
        return False

    def quiet(self, now: float) -> list[tuple[str, str]]:
        gone = [key for key, last in self.heard.items() if now - last >= QUARANTINE_QUIET_S]
        for key in gone:
            del self.heard[key]
        return gone


def devices_view(live: LiveState, bindings: Bindings, registry: DeviceRegistry, now: float) -> list[dict[str, Any]]:
    """``GET /api/devices``: every source seen, with where it is, its values and its chair (ages at ``now``)."""
    sources = set(live.sources) | set(registry.info) | {a.device for a in bindings.all_current() if not a.fixed}
    out: list[dict[str, Any]] = []
    for source in sorted(sources):
        info = registry.get(source)
        assoc = bindings.current(source)
        bed = live.sources.get(source)
        key = LiveState.key(bed, source)
        vitals = {name: v for name, v in live.vitals_of(key, now).items() if v.get("source") == source}
        last = live.last_seen.get(source)
        if info.state == "disconnected" and (last is None or last <= info.state_ts):
            state = "disconnected"
        elif last is not None and now - last <= SENDING_S:
            state = "sending"
        else:
            state = "silent" if last is not None else (info.state or "unknown")
        out.append(
            {
                "device": source,
                "kind": info.kind,
                "address": info.address or None,
                "protocol": info.protocol or None,
                "model": info.model or None,
                "state": state,
                "last_seen": last,
                "age_s": round(now - last, 1) if last is not None else None,
                "vitals": vitals,
                "bed": assoc.bed if assoc is not None else None,
                "association": association_json(assoc) if assoc is not None else None,
            }
        )
    return out
