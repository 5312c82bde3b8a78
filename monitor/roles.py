"""Process roles: ``ingest`` (devices, alarm engine, the only writer), ``web`` (screens, API), ``all``.

On PostgreSQL the ingest process logs every screen event (``monitor.bus_pg``)
and takes user actions from the ``commands`` table (``monitor.commands``);
any number of web processes read the log and send commands. On SQLite there is
one process (``all``): the in-memory bus, no commands.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Engine

from alerts.baseline import baseline_of
from alerts.lifecycle import AlarmBook
from alerts.rule_sets import RuleSetFollower
from alerts.rules import merge_rules, protocol_rule_tables
from monitor.binding import Bindings
from monitor.bus_pg import PgEventBus, PgListener, prune_loop, psycopg_dsn
from monitor.clock import REAL_CLOCK, Clock
from monitor.command_channel import COMMANDS_CHANNEL, DONE_CHANNEL, CommandClient, CommandExecutor, RemoteCommands
from monitor.commands import (
    AssociateDevice,
    ChangePhase,
    ClaimReadings,
    CommandFailed,
    ReleaseDevice,
    StartSession,
)
from monitor.config import Settings
from monitor.devices import DeviceError, DeviceManager, DeviceRegistry, apply_association
from monitor.live import LiveState
from monitor.mirror import Mirror, apply_session
from monitor.model import (
    Alarm,
    DischargeRecord,
    IngestItem,
    Phase,
    Quality,
    Reading,
    Session,
    Vital,
)
from monitor.outage import INGEST_MESSAGE, WEB_MESSAGE, OutageAlarm, shown_only, watch, writer_failing
from monitor.protocols import Protocol, load_protocols
from monitor.service import Service, _restore_live, attach_charting
from monitor.sessions import SessionError, SessionManager
from monitor.store import alarms as alarm_store
from monitor.store import database
from monitor.store import readings as reading_store
from monitor.store.writer import BatchWriter
from monitor.testing import NullAlarmStage

ROLES = ("all", "ingest", "web")

#: Transient events (readings, heartbeats) stay in the log this long: the resume window.
LOG_KEEP_S = 900.0


class RoleError(ValueError):
    """A role that cannot run with this configuration (web or ingest on SQLite)."""


def check_role(settings: Settings, role: str) -> None:
    if role not in ROLES:
        raise RoleError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    if role != "all" and not settings.database_url.startswith("postgresql"):
        raise RoleError(f"--role {role} needs PostgreSQL (db_url = postgresql://...); SQLite runs one process (all)")


# -- the ingest side ---------------------------------------------------------------------
def make_ingest(service: Service, *, keep_s: float = LOG_KEEP_S) -> CommandExecutor:
    """Make a built service (on PostgreSQL: its bus logs every event) the site's ingest: take web commands."""
    engine = service.engine
    listener = PgListener(psycopg_dsn(engine))
    executor = CommandExecutor(engine, service.commands.run)  # as this process's own routes run them
    listener.on(COMMANDS_CHANNEL, executor.on_command)
    service.background += [listener.run, executor.run, lambda: prune_loop(engine, keep_s)]
    return executor


def watch_storage(service: Service) -> OutageAlarm:
    """The ingest's (or single process's) storage-outage technical alarm."""
    alarm = OutageAlarm(
        prefix="storage",
        message=INGEST_MESSAGE,
        alarms=service.alarms,
        record=service.pipeline.record_alarm_changes,
    )
    service.background.append(lambda: watch(lambda: writer_failing(service.writer), alarm, now=service.clock.now))
    return alarm


# -- the web side ------------------------------------------------------------------------
class RemoteSessions(SessionManager):
    """Sessions as a web process sees them: read from the log, changed by the ingest."""

    def __init__(self, engine: Engine, commands: RemoteCommands) -> None:
        super().__init__(engine)
        self.commands = commands

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
        command = StartSession(
            bed=bed,
            patient_ref=patient_ref,
            weight_kg=weight_kg,
            dose_mg=dose_mg,
            rate_mg_per_h=rate_mg_per_h,
            protocol=protocol,
            dose_mg_per_kg=dose_mg_per_kg,
        )
        return await self._run(command, user)

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
        return await self._run(ChangePhase(session=session_id, phase=phase, reason=reason, discharge=discharge), user)

    async def _run(self, command: StartSession | ChangePhase, user: str) -> Session:
        try:
            result = await self.commands.run(command, user)
        except CommandFailed as exc:
            if exc.status == 409:  # the routes answer a refused session change as they do in one process
                raise SessionError(str(exc)) from None
            raise
        if result.session is None:
            raise CommandFailed("the ingest process answered without the session", 500)
        apply_session(self, result.session)  # before the response, not only when the log says so
        return result.session


class RemoteDevices(DeviceManager):
    """Associations as a web process sees them: read from the log, changed by the ingest."""

    def __init__(self, engine: Engine, live: LiveState, sessions: SessionManager, commands: RemoteCommands) -> None:
        super().__init__(engine, sessions.bindings, DeviceRegistry(), live, sessions)
        self.commands = commands

    async def _run(self, command: AssociateDevice | ReleaseDevice | ClaimReadings, user: str) -> dict[str, Any]:
        try:
            result = (await self.commands.run(command, user)).device or {}
        except CommandFailed as exc:
            raise DeviceError(str(exc), exc.status) from None
        for data in [result.get("association"), *result.get("ended", [])]:
            if data:  # before the response, not only when the log says so
                apply_association(self.bindings, data)
        return result

    async def associate(
        self, bed: str, device: str, user: str, *, ts: float | None = None, claim_from: float | None = None
    ) -> dict[str, Any]:
        return await self._run(AssociateDevice(bed=bed, device=device, claim_from=claim_from), user)

    async def release(self, bed: str, device: str, user: str, *, ts: float | None = None) -> dict[str, Any]:
        return await self._run(ReleaseDevice(bed=bed, device=device), user)

    async def claim(
        self, bed: str, device: str, since: float, user: str, *, now: float | None = None
    ) -> dict[str, Any]:
        return await self._run(ClaimReadings(bed=bed, device=device, since=since), user)


class RemoteAlarms(NullAlarmStage):
    """The alarm stage of a web process: it judges nothing (the ingest's engine does; users' actions go
    there through :class:`~monitor.command_channel.RemoteCommands`). It knows the clinic rules in force
    for the review of sessions without an override of their own, and the alarms on screen from the
    mirrored live state.
    """

    def __init__(
        self,
        live: LiveState,
        rules: Iterable[Any] = (),
        *,
        engine: Engine | None = None,
        sessions: SessionManager | None = None,
        protocols: Mapping[str, Protocol] | None = None,
    ) -> None:
        super().__init__(rules)
        self.live = live
        self.engine = engine
        self.sessions = sessions
        self._baselines: dict[int, dict[Vital, float | None]] = {}
        self._protocol_rules = protocol_rule_tables(protocols or {})

    def session_rules(self, session_id: int | None) -> list[Any]:
        """As the ingest's engine has them: a session's own override, else its protocol's rules over the clinic's."""
        session = self.sessions.by_id.get(session_id) if self.sessions is not None and session_id else None
        changes = self._protocol_rules.get(session.protocol or "") if session is not None else None
        if session_id is None or changes is None or self.has_override(session_id):
            return super().session_rules(session_id)
        return merge_rules(self.rules, changes)

    def baseline(self, session_id: int, vital: Vital) -> float | None:
        """The session's baseline as the ingest fixed it: from its stored baseline-phase readings.

        Read once the infusion has started (the baseline is fixed then) and kept; the discharge
        readiness of a web process needs it as the ingest's does.
        """
        known = self._baselines.get(session_id)
        if known is None:
            session = self.sessions.by_id.get(session_id) if self.sessions is not None else None
            infusion = session.phase_started(Phase.INFUSION) if session is not None else None
            if session is None or infusion is None or self.engine is None:
                return None
            frame = reading_store.session_readings(self.engine, session_id, start=session.started, end=infusion)
            frame = frame[(frame["ts"] < infusion) & (frame["quality"] == Quality.VALID.value)]
            known = self._baselines[session_id] = {
                v: baseline_of(v, part["ts"].to_numpy(), part["value"].to_numpy())
                for v in Vital
                if not (part := frame[frame["vital"] == v.value]).empty
            }
        return known.get(vital)

    def active_alarms(self) -> list[Alarm]:
        return list(self.live.alarms.values())


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
    live = LiveState()
    commands = RemoteCommands(client, live)
    sessions = RemoteSessions(engine, commands)
    sessions.load()
    _restore_live(engine, live, REAL_CLOCK.now() - 3600)  # a web process runs on the real clock
    for alarm in alarm_store.open_alarms(engine):
        live.update_alarm(alarm)
    # The configuration's fixed bindings, as the ingest has them (on-screen ones come from the log).
    sessions.bindings = Bindings.from_config(
        settings.hl7.bindings, [(f"serial:{p.port}", p.bed) for p in settings.serial]
    )
    devices = RemoteDevices(engine, live, sessions, commands)
    devices.load()
    bus.subscribe(Mirror(live, sessions, devices))
    writer = BatchWriter(engine)  # idle: a web process writes through the ingest
    alarms = RemoteAlarms(live, engine=engine, sessions=sessions, protocols=load_protocols(settings))
    _clinic_rules(settings, engine, alarms)
    bus.subscribe(RuleSetFollower(alarms))
    service = Service(settings, engine, writer, bus, live, sessions, alarms, None, devices, commands, role="web")
    outage = OutageAlarm(
        prefix=f"web-db-{id(service) % 10_000}",
        message=WEB_MESSAGE,
        alarms=AlarmBook(settings.alarms),  # this process's own alarm: the ingest cannot see it
        record=shown_only(live, bus.publish),
    )
    service.background += [bus.run, lambda: watch(lambda: not bus.db_ok, outage)]
    attach_charting(service, senders=None)  # the ingest process files what this one queues
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
