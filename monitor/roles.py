"""Process roles: ``ingest`` (devices, alarm engine, the only writer), ``web`` (screens, API), ``all``.

On PostgreSQL the ingest process logs every screen event (``monitor.bus_pg``)
and takes user actions from the ``commands`` table (``monitor.commands``);
any number of web processes read the log and send commands. On SQLite there is
one process (``all``): the in-memory bus, no commands.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine

from alerts.rule_sets import RuleSetFollower
from monitor.binding import Bindings
from monitor.bus_pg import PgEventBus, PgListener, prune_loop, psycopg_dsn
from monitor.clock import REAL_CLOCK, Clock
from monitor.commands import COMMANDS_CHANNEL, DONE_CHANNEL, CommandClient, CommandExecutor, CommandFailed, Handler
from monitor.config import Settings
from monitor.devices import DeviceError, DeviceManager, DeviceRegistry, apply_association
from monitor.events import change_from_json, change_json, session_from_json, session_json
from monitor.live import LiveState
from monitor.mirror import Mirror, apply_session
from monitor.model import (
    Alarm,
    AlarmChange,
    DischargeRecord,
    IngestItem,
    Phase,
    PhaseChange,
    Reading,
    Session,
    SubmitResult,
)
from monitor.outage import INGEST_MESSAGE, WEB_MESSAGE, OutageAlarm, watch, writer_failing
from monitor.pipeline import Pipeline
from monitor.service import Service, _restore_live, attach_charting
from monitor.sessions import SessionError, SessionManager
from monitor.store import database, repo
from monitor.store.writer import BatchWriter
from monitor.testing import NullAlarmStage

ROLES = ("all", "ingest", "web")

#: Transient events (readings, heartbeats) stay in the log this long: the resume window.
LOG_KEEP_S = 900.0

#: A user action asked of the ingest's engine: ``request:acknowledge`` or ``request:silence:<seconds>``.
REQUEST = "request:"


class RoleError(ValueError):
    """A role that cannot run with this configuration (web or ingest on SQLite)."""


def check_role(settings: Settings, role: str) -> None:
    if role not in ROLES:
        raise RoleError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    if role != "all" and not settings.database_url.startswith("postgresql"):
        raise RoleError(f"--role {role} needs PostgreSQL (db_url = postgresql://...); SQLite runs one process (all)")


# -- the ingest side ---------------------------------------------------------------------
def ingest_handlers(service: Service) -> dict[str, Handler]:
    """What a web process may ask of the ingest: the same calls its own routes make in one process."""

    def on_screen(alarm_id: str) -> None:
        if alarm_id not in service.live.alarms:
            raise CommandFailed(f"no alarm {alarm_id} on screen", 404)

    async def acknowledge(p: dict[str, Any], user: str) -> dict[str, Any]:
        on_screen(p["alarm"])
        try:
            changes: list[AlarmChange] = service.alarms.acknowledge(p["alarm"], user, service.clock.now())
        except KeyError:  # as the route says in one process
            raise CommandFailed(f"alarm {p['alarm']} is no longer active", 404) from None
        await service.pipeline.user_alarm_changes(changes)
        return {"changes": [change_json(c) for c in changes]}

    async def silence(p: dict[str, Any], user: str) -> dict[str, Any]:
        on_screen(p["alarm"])
        try:
            changes: list[AlarmChange] = service.alarms.silence(p["alarm"], user, service.clock.now(), p.get("seconds"))
        except KeyError:
            raise CommandFailed(f"alarm {p['alarm']} is no longer active", 404) from None
        await service.pipeline.user_alarm_changes(changes)
        return {"changes": [change_json(c) for c in changes]}

    async def session_start(p: dict[str, Any], user: str) -> dict[str, Any]:
        try:
            session = await service.sessions.start(
                p["bed"],
                p["patient_ref"],
                user,
                weight_kg=p.get("weight_kg"),
                dose_mg=p.get("dose_mg"),
                rate_mg_per_h=p.get("rate_mg_per_h"),
                protocol=p.get("protocol"),
                dose_mg_per_kg=p.get("dose_mg_per_kg"),
            )
        except SessionError as exc:
            raise CommandFailed(str(exc), 409) from None
        return {"session": session_json(session)}

    async def session_phase(p: dict[str, Any], user: str) -> dict[str, Any]:
        try:
            discharge = p.get("discharge")
            session = await service.sessions.change_phase(
                int(p["session"]),
                Phase(p["phase"]),
                user,
                reason=p.get("reason"),
                discharge=DischargeRecord(**discharge) if discharge else None,
            )
        except SessionError as exc:
            raise CommandFailed(str(exc), 409) from None
        return {"session": session_json(session)}

    async def publish(p: dict[str, Any], user: str) -> dict[str, Any]:
        return {"seq": service.pipeline.publish(p["event"])}

    async def device_associate(p: dict[str, Any], user: str) -> dict[str, Any]:
        try:
            return await service.devices.associate(p["bed"], p["device"], user, claim_from=p.get("claim_from"))
        except DeviceError as exc:
            raise CommandFailed(str(exc), exc.status) from None

    async def device_release(p: dict[str, Any], user: str) -> dict[str, Any]:
        try:
            return await service.devices.release(p["bed"], p["device"], user)
        except DeviceError as exc:
            raise CommandFailed(str(exc), exc.status) from None

    async def device_claim(p: dict[str, Any], user: str) -> dict[str, Any]:
        try:
            return await service.devices.claim(p["bed"], p["device"], float(p["since"]), user)
        except DeviceError as exc:
            raise CommandFailed(str(exc), exc.status) from None

    return {
        "acknowledge": acknowledge,
        "silence": silence,
        "session_start": session_start,
        "session_phase": session_phase,
        "publish": publish,
        "device_associate": device_associate,
        "device_release": device_release,
        "device_claim": device_claim,
    }


def make_ingest(service: Service, *, keep_s: float = LOG_KEEP_S) -> CommandExecutor:
    """Make a built service (on PostgreSQL: its bus logs every event) the site's ingest: take web commands."""
    engine = service.engine
    listener = PgListener(psycopg_dsn(engine))
    executor = CommandExecutor(engine, ingest_handlers(service))
    listener.on(COMMANDS_CHANNEL, executor.on_command)
    service.background += [listener.run, executor.run, lambda: prune_loop(engine, keep_s)]
    return executor


def watch_storage(service: Service) -> OutageAlarm:
    """The ingest's (or single process's) storage-outage technical alarm."""
    alarm = OutageAlarm(
        prefix="storage",
        message=INGEST_MESSAGE,
        publish=service.pipeline.publish,
        live=service.live,
        writer=service.writer,
    )
    service.background.append(lambda: watch(lambda: writer_failing(service.writer), alarm, now=service.clock.now))
    return alarm


# -- the web side ------------------------------------------------------------------------
class RemoteSessions(SessionManager):
    """Sessions as a web process sees them: read from the log, changed by the ingest."""

    def __init__(self, engine: Engine, client: CommandClient) -> None:
        super().__init__(engine)
        self.client = client

    async def start(
        self,
        bed: str,
        patient_ref: str,
        user: str,
        *,
        weight_kg: float | None = None,
        dose_mg: float | None = None,
        rate_mg_per_h: float | None = None,
        protocol: str | None = None,
        dose_mg_per_kg: float | None = None,
        ts: float | None = None,
    ) -> Session:
        payload = {
            "bed": bed,
            "patient_ref": patient_ref,
            "weight_kg": weight_kg,
            "dose_mg": dose_mg,
            "rate_mg_per_h": rate_mg_per_h,
            "protocol": protocol,
            "dose_mg_per_kg": dose_mg_per_kg,
        }
        return self._applied(await self._call("session_start", payload, user))

    async def change_phase(
        self,
        session_id: int,
        phase: Phase,
        user: str,
        *,
        ts: float | None = None,
        reason: str | None = None,
        discharge: DischargeRecord | None = None,
    ) -> Session:
        payload = {
            "session": session_id,
            "phase": phase.value,
            "reason": reason,
            "discharge": dataclasses.asdict(discharge) if discharge is not None else None,
        }
        return self._applied(await self._call("session_phase", payload, user))

    async def _call(self, kind: str, payload: dict[str, Any], user: str) -> dict[str, Any]:
        try:
            return await self.client.call(kind, payload, user)
        except CommandFailed as exc:
            if exc.status == 409:  # the routes answer a refused session change as they do in one process
                raise SessionError(str(exc)) from None
            raise

    def _applied(self, result: dict[str, Any]) -> Session:
        session = session_from_json(result["session"])
        apply_session(self, session)
        return session


class RemoteDevices(DeviceManager):
    """Associations as a web process sees them: read from the log, changed by the ingest."""

    def __init__(self, engine: Engine, live: LiveState, sessions: SessionManager, client: CommandClient) -> None:
        super().__init__(engine, sessions.bindings, DeviceRegistry(), live, sessions)
        self.client = client

    async def _call(self, kind: str, payload: dict[str, Any], user: str) -> dict[str, Any]:
        try:
            result = await self.client.call(kind, payload, user)
        except CommandFailed as exc:
            raise DeviceError(str(exc), exc.status) from None
        for data in [result.get("association"), *result.get("ended", [])]:
            if data:  # before the response, not only when the log says so
                apply_association(self.bindings, data)
        return result

    async def associate(
        self, bed: str, device: str, user: str, *, ts: float | None = None, claim_from: float | None = None
    ) -> dict[str, Any]:
        payload = {"bed": bed, "device": device, "claim_from": claim_from}
        return await self._call("device_associate", payload, user)

    async def release(self, bed: str, device: str, user: str, *, ts: float | None = None) -> dict[str, Any]:
        return await self._call("device_release", {"bed": bed, "device": device}, user)

    async def claim(
        self, bed: str, device: str, since: float, user: str, *, now: float | None = None
    ) -> dict[str, Any]:
        return await self._call("device_claim", {"bed": bed, "device": device, "since": since}, user)


class RemoteAlarms(NullAlarmStage):
    """The alarm engine's user actions, as requests for the ingest's engine (see :class:`WebPipeline`).

    A web process judges nothing: the ingest's engine does. It knows the clinic rules (the same
    configuration as the ingest's) for the review of sessions without an override of their own.
    """

    def __init__(self, live: LiveState, rules: Iterable[Any] = ()) -> None:
        super().__init__(rules)
        self.live = live

    def _request(self, alarm_id: str, action: str, user: str, now: float) -> list[AlarmChange]:
        alarm = self.live.alarms[alarm_id]
        return [AlarmChange(alarm, REQUEST + action, now, user)]

    def acknowledge(self, alarm_id: str, user: str, now: float) -> list[AlarmChange]:
        return self._request(alarm_id, "acknowledge", user, now)

    def silence(self, alarm_id: str, user: str, now: float, seconds: float | None = None) -> list[AlarmChange]:
        return self._request(alarm_id, f"silence:{'' if seconds is None else seconds}", user, now)

    def active_alarms(self) -> list[Alarm]:
        return list(self.live.alarms.values())


class WebPipeline(Pipeline):
    """The routes' pipeline in a web process: user actions and notes go to the ingest as commands."""

    def __init__(self, *, client: CommandClient, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client

    async def submit(self, items: Any, *, dedupe_key: str | None = None) -> SubmitResult:
        raise RuntimeError("a web process takes no readings: adapters run in the ingest process")

    def tick(self, now: float | None = None) -> None:
        return None

    def publish(self, event: dict[str, Any], *, persist: bool = True) -> int:
        self.client.submit_nowait("publish", {"event": event}, str(event.get("user") or "web"))
        return 0  # the ingest gives it its seq

    async def publish_confirmed(self, event: dict[str, Any], user: str) -> int:
        """Published by the ingest, which has applied it (a rule set: its engine judges by it) on return."""
        result = await self.client.call("publish", {"event": event}, user)
        return int(result["seq"])

    async def user_alarm_changes(self, changes: list[AlarmChange]) -> None:
        """Run the requested actions on the ingest; ``changes`` then holds what its engine did."""
        done: list[AlarmChange] = []
        for change in changes:
            if not change.transition.startswith(REQUEST):
                done.append(change)
                continue
            action, _, arg = change.transition.removeprefix(REQUEST).partition(":")
            payload: dict[str, Any] = {"alarm": change.alarm.id}
            if action == "silence" and arg:
                payload["seconds"] = float(arg)
            result = await self.client.call(action, payload, change.user or "?")
            for data in result["changes"]:
                applied = change_from_json(data)
                self.live.update_alarm(applied.alarm)  # before the response, not only when the log says so
                done.append(applied)
        changes[:] = done

    async def session_changed(self, session: Session, change: PhaseChange) -> None:
        return None


def _clinic_rules(settings: Settings, engine: Engine, alarms: RemoteAlarms) -> None:
    """The rule set in force as stored (the ingest records it at its start), else the configured one;
    then every newer version the log brings (``alerts/rule_sets.py``)."""
    from alerts.rule_sets import current
    from alerts.rules import rules_from_settings

    in_force = current(engine)
    if in_force is None:
        alarms.set_rules(rules_from_settings(settings.alarms.rules_file))
    else:
        alarms.set_rules(in_force.rules, version=in_force.version)


def build_web_service(settings: Settings) -> Service:
    """A web process: screens and API on the shared PostgreSQL, no devices, no alarm engine."""
    engine = database.make_engine(settings.database_url)
    if not database.has_schema(engine):
        raise RoleError("the database has no schema yet: start the ingest process (or run `ivmon db upgrade`) first")
    listener = PgListener(psycopg_dsn(engine))
    bus = PgEventBus(engine, listener)  # its seq first, then the state: replayed events are newer, never lost
    client = CommandClient(engine)
    listener.on(DONE_CHANNEL, client.on_done)
    sessions = RemoteSessions(engine, client)
    sessions.load()
    live = LiveState()
    _restore_live(engine, live, time.time() - 3600)
    for alarm in repo.open_alarms(engine):
        live.update_alarm(alarm)
    # The configuration's fixed bindings, as the ingest has them (on-screen ones come from the log).
    sessions.bindings = Bindings.from_config(
        settings.hl7.bindings, [(f"serial:{p.port}", p.bed) for p in settings.serial]
    )
    devices = RemoteDevices(engine, live, sessions, client)
    devices.load()
    bus.subscribe(Mirror(live, sessions, devices))
    writer = BatchWriter(engine)  # idle: a web process writes through the ingest
    pipeline = WebPipeline(
        client=client, writer=writer, sessions=sessions, judge=NullAlarmStage(), publisher=bus, live=live
    )
    pipeline.devices = devices.registry
    alarms = RemoteAlarms(live)
    _clinic_rules(settings, engine, alarms)
    bus.subscribe(RuleSetFollower(alarms))
    service = Service(settings, engine, writer, bus, live, sessions, alarms, pipeline, devices, role="web")
    outage = OutageAlarm(prefix=f"web-db-{id(service) % 10_000}", message=WEB_MESSAGE, publish=bus.publish, live=live)
    service.background += [bus.run, lambda: watch(lambda: not bus.db_ok, outage)]
    attach_charting(service, senders=False)  # the ingest process files what this one queues
    return service


def build_for_role(settings: Settings, role: str, *, clock: Clock = REAL_CLOCK) -> Service:
    """The service a ``serve --role`` process runs (the web app is added by the caller for all/web)."""
    from monitor.service import build_service

    check_role(settings, role)
    if role == "web":
        return build_web_service(settings)  # several processes: production, on the real clock
    service = build_service(settings, clock=clock, role=role, fresh_seq=True)
    if settings.database_url.startswith("postgresql"):
        make_ingest(service)
    watch_storage(service)
    return service


__all__ = [
    "ROLES",
    "IngestItem",
    "Reading",
    "RoleError",
    "build_for_role",
    "build_web_service",
    "check_role",
    "make_ingest",
    "watch_storage",
]
