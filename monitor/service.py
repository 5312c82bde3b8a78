"""Composition: the one place that knows every package and wires them for ``serve`` and ``demo``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from adapters.base import Adapter
from monitor.binding import Bindings
from monitor.bus import Event, EventBus
from monitor.bus_pg import LoggedBus
from monitor.charting.runtime import Charting
from monitor.clock import REAL_CLOCK, Clock
from monitor.code_flush import flush_loop
from monitor.commands import Commands
from monitor.config import Settings
from monitor.config_watch import watch_config
from monitor.devices import DeviceManager, DeviceRegistry
from monitor.events import DURABLE_TYPES, encode, heartbeat_event
from monitor.live import LiveState
from monitor.local_commands import LocalCommands
from monitor.model import AlarmChange, Phase, Quality, Reading, Vital
from monitor.pipeline import AlarmStage, Pipeline
from monitor.protocols import Protocol, load_protocols
from monitor.sessions import SessionManager
from monitor.store import alarms as alarm_store
from monitor.store import audit as audit_store
from monitor.store import database
from monitor.store import events as event_store
from monitor.store import readings as reading_store
from monitor.store import sessions as session_store
from monitor.store.writer import BatchWriter, prune_keys_loop, recent_keys

log = logging.getLogger(__name__)

#: Seconds a stop waits for the writer to store what it holds: the database unreachable, it gives up
#: (nothing of that was acknowledged; the monitors send it again) so that a stop ends within 10 s.
STOP_WRITER_S = 4.0

#: Message keys loaded into memory at start (the writer checks older ones against the database).
DEDUPE_WINDOW_S = 3600


def build_alarm_stage(settings: Settings, protocols: dict[str, Protocol] | None = None) -> AlarmStage:
    from alerts.engine import AlarmEngine
    from alerts.rules import rules_from_settings

    return AlarmEngine(
        rules_from_settings(settings.alarms.rules_file),
        settings.alarms,
        protocols=load_protocols(settings) if protocols is None else protocols,
    )


@dataclass
class Service:
    settings: Settings
    engine: Engine
    writer: BatchWriter
    bus: EventBus
    live: LiveState
    sessions: SessionManager
    alarms: AlarmStage  # the alarm engine (alerts.engine.AlarmEngine); a web process: its rules only
    #: The one way in for readings (see :attr:`pipeline`); None in a web process: it takes none.
    ingest: Pipeline | None
    devices: DeviceManager
    #: Users' actions (acknowledge, silence, sessions, devices, notes): run here, or by the ingest.
    commands: Commands
    #: The clinical clock (real in production, scaled in the demo, fake in tests): see monitor/clock.py.
    clock: Clock = REAL_CLOCK
    adapters: list[Adapter] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    #: "all", "ingest" or "web" (monitor.roles): what this process does.
    role: str = "all"
    #: Charting to the EHR, set by :func:`attach_charting`.
    charting: Charting | None = None
    #: Extra long-running jobs started with the service (LISTEN, commands, log pruning, outage watch).
    background: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: The session protocols (monitor/protocols): shipped templates and the clinic's folder, loaded at start.
    protocols: dict[str, Protocol] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.protocols:  # a broken template stops the start here, naming its file and field
            self.protocols = load_protocols(self.settings)

    @property
    def pipeline(self) -> Pipeline:
        """The reading pipeline of the ingest or single process."""
        if self.ingest is None:
            raise RuntimeError("a web process takes no readings: adapters and the pipeline run in the ingest")
        return self.ingest

    async def start(self) -> None:
        self.writer.start()
        for adapter in self.adapters:
            self._tasks.append(asyncio.create_task(self._run_adapter(adapter), name=f"adapter:{adapter.name}"))
        if self.ingest is not None:
            self._tasks.append(asyncio.create_task(self._ticker(self.ingest), name="alarm-ticker"))
        self._tasks.append(asyncio.create_task(self._heartbeat(), name="heartbeat"))
        for job in self.background:
            self._tasks.append(asyncio.ensure_future(job()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.writer.close(timeout_s=STOP_WRITER_S)

    def add_adapter(self, adapter: Adapter) -> None:
        self.adapters.append(adapter)
        if self._tasks:  # already running
            self._tasks.append(asyncio.create_task(self._run_adapter(adapter), name=f"adapter:{adapter.name}"))

    async def _run_adapter(self, adapter: Adapter) -> None:
        # An adapter that crashes is restarted: one bad device must not silence the others.
        while True:
            try:
                await adapter.run(self.pipeline)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("adapter %s failed; restarting in 2 s", adapter.name)
                await asyncio.sleep(2.0)

    async def _ticker(self, pipeline: Pipeline) -> None:
        while True:
            await self.clock.sleep(1.0)  # one clock second: alarm delays are clock time
            try:
                pipeline.tick()
            except Exception:
                log.exception("alarm tick failed")

    async def _heartbeat(self) -> None:
        while True:
            # Every 5 real seconds (the screens' proof of contact), stamped with the clinical clock and
            # its rate so that a page's ages run as the server's do (a demo at --speed 30).
            self.bus.publish(heartbeat_event(self.clock.now(), self.clock.rate))
            await asyncio.sleep(5.0)

    def health(self) -> dict[str, Any]:
        since = self.writer.writing_since
        stuck = since is not None and time.perf_counter() - since > 2.0  # a commit hanging on a lock
        db_ok = self.writer.healthy and not stuck
        bus_health = self.bus.health()
        db_ok = db_ok and bool(bus_health.get("log_readable", True))
        return {
            "status": "ok" if db_ok else "degraded",
            "role": self.role,
            "bus": bus_health,
            # machine time: how long this process has run.
            "uptime_s": round(time.time() - self.started_at, 1),
            "database": {
                "dialect": self.engine.dialect.name,
                "ok": db_ok,
                "last_error": self.writer.last_error,
                "queue_depth": self.writer.queue_depth,
                "commits": self.writer.commits,
                "readings_written": self.writer.rows_written,
                "refused_submissions": self.writer.refused_submissions,
                "writer_process": {"pid": self.writer.process_pid, "restarts": self.writer.process_restarts},
            },
            "adapters": {a.name: a.health() for a in self.adapters},
            "pipeline": dict(self.ingest.counts) if self.ingest is not None else {},
            "seq": self.bus.last_seq,
        }


def _restore_live(engine: Engine, live: LiveState, since: float) -> None:
    for row in reading_store.latest_readings(engine, since):
        live.update(
            Reading(Vital(row.vital), row.value, row.unit, row.ts, row.source, Quality(row.quality), row.bed_id)
        )


def _restore_alarm_state(engine: Engine, judge: AlarmStage, sessions: SessionManager, now: float) -> list[AlarmChange]:
    """After a restart: the engine knows the open sessions, their baselines and the alarms on screen."""
    for session in sessions.by_id.values():
        judge.register_session(session)
        cuff = reading_store.session_readings(engine, session.id, [Vital.SBP.value], session.started)
        judge.load_cuff_times(session.id, cuff.loc[cuff["quality"] == Quality.VALID.value, "ts"].tolist())
        infusion = session.phase_started(Phase.INFUSION)
        if infusion is not None:
            frame = reading_store.session_readings(engine, session.id, start=session.started, end=infusion)
            frame = frame[frame["ts"] < infusion]
            judge.load_baseline(
                session.id,
                [
                    Reading(Vital(v), val, u, t, src, Quality(q), session.bed, session.id)
                    for t, v, val, u, q, src in frame.itertuples(index=False)
                ],
            )
    return judge.restore(alarm_store.open_alarms(engine), now)


#: Each start of an ingest (or single) process continues the seq this far past the last stored one.
#: Seqs handed to screens but never committed (the process was killed) must not name new events:
#: a screen resuming from one would skip what the new process published under it. Past the gap, its
#: resume finds nothing to replay and gets a fresh snapshot. (JSON numbers stay exact to 2**53.)
SEQ_RESTART_GAP = 1_000_000_000


def _first_seq(engine: Engine, fresh: bool) -> int:
    """Where this process's seqs start: after the stored ones, and with ``fresh`` past any its
    predecessor may have handed out unstored. The fresh start is stored (as a heartbeat event) before
    anything is published, so the next process starts past this one's even if this one is killed."""
    start = event_store.newest_seq(engine)
    if fresh:
        start += SEQ_RESTART_GAP
        # machine time: the event log's bookkeeping, not a clinical instant.
        now = time.time()
        marker: Event = {"type": "heartbeat", "seq": start, "ts": now, "restart": True}
        event_store.insert_event(engine, start, now, "heartbeat", encode(marker).decode())
    return start


def build_service(
    settings: Settings,
    *,
    alarm_stage: AlarmStage | None = None,
    clock: Clock = REAL_CLOCK,
    role: str = "all",
    fresh_seq: bool = False,
) -> Service:
    """Open the database (migrating it), restore state, and wire the pipeline on ``clock``.

    The bus is chosen here: on PostgreSQL every screen event goes to the event log (web processes
    read it, ``monitor.bus_pg``); on SQLite only alarms, sessions and notes do. ``role`` is ``all`` or
    ``ingest`` (``monitor.roles``); ``fresh_seq`` starts the seqs past a predecessor's."""
    database.private_folder(settings.data_dir)
    engine = database.make_engine(settings.database_url)
    database.upgrade(engine)
    # The configured beds: the [beds] table and every chair a device is bound to. Sessions start only
    # on beds (dashboard/api/sessions.py); an admin adds more through POST /api/beds.
    bound = [b.bed for b in settings.hl7.bindings] + [p.bed for p in settings.serial]
    configured = {**{bed: bed for bed in bound}, **settings.beds}
    if configured:
        session_store.ensure_beds(engine, configured)
    bindings = Bindings.from_config(settings.hl7.bindings, [(f"serial:{p.port}", p.bed) for p in settings.serial])
    sessions = SessionManager(engine, bindings, clock=clock)
    sessions.load()
    live = LiveState(clock)
    registry = DeviceRegistry({f"serial:{p.port}": p.protocol for p in settings.serial})
    devices = DeviceManager(
        engine, bindings, registry, live, sessions, claim_window_s=settings.devices.claim_window_s, clock=clock
    )
    devices.load()
    _restore_live(engine, live, clock.now() - 3600)
    in_memory = engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:")
    writer = BatchWriter(
        engine,
        max_rows=settings.write_batch_rows,
        max_delay_s=settings.write_batch_s,
        separate_process=settings.writer_process and not in_memory,
    )
    postgres = engine.dialect.name == "postgresql"
    # The ring serves resumes of this process's own screens: none on an ingest; beyond it, the log does.
    bus = LoggedBus(
        writer,
        start_seq=_first_seq(engine, fresh_seq),
        keep=1000 if role == "ingest" else 50_000 if postgres else 200_000,
        types=None if postgres else DURABLE_TYPES,
        shared=postgres,
    )
    protocols = load_protocols(settings)
    judge = alarm_stage if alarm_stage is not None else build_alarm_stage(settings, protocols)
    # The versioned clinic rule set (a stage given by the caller keeps its own rules, unversioned).
    seeded = _rule_set_in_force(engine, settings, judge, clock) if alarm_stage is None else None
    restored = _restore_alarm_state(engine, judge, sessions, clock.now())
    for alarm in alarm_store.open_alarms(engine):
        live.update_alarm(alarm)
    pipeline = Pipeline(
        writer=writer,
        sessions=sessions,
        judge=judge,
        publisher=bus,
        live=live,
        # machine time: senders retransmit within real minutes (as Pipeline._remember_key).
        known_keys=recent_keys(engine, time.time() - DEDUPE_WINDOW_S),
        clock=clock,
        devices=registry,
    )
    pipeline.bed_labels = session_store.list_beds(engine)
    devices.publish = pipeline.publish
    devices.durable = writer.durable
    devices.baselines = judge
    # What the restore changed (e.g. alarms of unbound devices ended) is stored like any other change.
    pipeline.record_alarm_changes(restored)
    _follow_rule_sets(bus, judge, pipeline, seeded)
    commands = LocalCommands(
        alarms=judge, pipeline=pipeline, sessions=sessions, devices=devices, live=live, clock=clock
    )
    service = Service(
        settings,
        engine,
        writer,
        bus,
        live,
        sessions,
        judge,
        pipeline,
        devices,
        commands,
        clock=clock,
        role=role,
        protocols=protocols,
    )
    service.background.append(lambda: prune_keys_loop(engine))
    if settings.hl7.enabled:
        from adapters.hl7.listener import MllpListener

        listener = MllpListener(settings.hl7, data_dir=settings.data_dir, clock=clock, bindings=bindings)
        service.adapters.append(listener)
        service.background.append(lambda: flush_loop(engine, listener.observed, now=clock.now))
        config_file = settings.config_file
        if config_file is not None:
            service.background.append(lambda: watch_config(config_file, [lambda s: listener.reload(s.hl7)]))
    for spec in settings.adapters:
        from adapters.base import create

        service.adapters.append(create(spec, {"clock": clock}))
    for port in settings.serial:
        from adapters.serial.transport import SerialTransport

        service.adapters.append(SerialTransport.from_config(port, clock=clock.now))
    attach_charting(service, senders=pipeline)
    return service


def _rule_set_in_force(engine: Engine, settings: Settings, judge: AlarmStage, clock: Clock) -> Event | None:
    """Put the stored rule-set version in force (``alerts/rule_sets.py``); the event to publish when
    this start recorded a new version (the configured file changed), so web processes follow."""
    from alerts.rule_sets import in_force_at_start

    rule_set, recorded = in_force_at_start(engine, settings.alarms.rules_file, clock.now())
    judge.set_rules(rule_set.rules, version=rule_set.version)
    if recorded:
        audit_store.write_audit(
            engine, rule_set.row.author, "rules_configured", f"rule_set:{rule_set.version}", {"note": rule_set.row.note}
        )
        return rule_set.event()
    return None


def _follow_rule_sets(bus: EventBus, judge: AlarmStage, pipeline: Pipeline, seeded: Event | None) -> None:
    """Rule sets adopted anywhere (a web process publishes through this one) are applied to the engine."""
    from alerts.rule_sets import RuleSetFollower

    bus.subscribe(RuleSetFollower(judge))
    if seeded is not None:
        pipeline.publish(seeded)


def attach_charting(service: Service, *, senders: Pipeline | None) -> None:
    """Charting for this process: the chart context and FHIR encoder; with ``senders`` (the pipeline of
    the ingest or the single process, which records their outage notices) one outbox sender per
    configured destination, each watched for a long outage. A web process queues, the ingest files."""
    from adapters.ehr.destinations import FhirDestination, MllpDestination
    from adapters.ehr.fhir_bundle import FhirIdentity, bundle_json, transaction
    from adapters.ehr.hl7_oru import Hl7Identity
    from monitor.charting.chart import ChartContext
    from monitor.charting.filing import Destination, OutboxSender
    from monitor.charting.runtime import Charting, destination_names, plan_from_settings
    from monitor.outage import OutageAlarm, watch
    from monitor.retry import Backoff

    ehr = service.settings.ehr
    identity = FhirIdentity(ehr.fhir.patient_system, ehr.fhir.observation_system, ehr.fhir.user_system)
    charting = Charting(
        ctx=ChartContext(plan_from_settings(ehr), destination_names(ehr)),
        fhir_bundle=lambda payloads: bundle_json(transaction(payloads, identity)),
    )
    service.charting = charting
    if senders is None:
        return
    destinations: list[Destination] = []
    if ehr.hl7.url:
        hl7 = ehr.hl7
        hl7_identity = Hl7Identity(
            hl7.sending_application,
            hl7.sending_facility,
            hl7.receiving_application,
            hl7.receiving_facility,
            hl7.assigning_authority,
            hl7.control_id_prefix,
        )
        destinations.append(MllpDestination(hl7.url, hl7_identity, timeout_s=hl7.ack_timeout_s))
    if ehr.fhir.base_url:
        destinations.append(
            FhirDestination(
                ehr.fhir.base_url, ehr.fhir.token.get_secret_value(), identity, timeout_s=ehr.fhir.timeout_s
            )
        )
    for destination in destinations:
        sender = OutboxSender(
            service.engine, destination, backoff=Backoff(min(ehr.retry_first_s, ehr.retry_max_s), ehr.retry_max_s)
        )
        charting.senders.append(sender)
        notice = OutageAlarm(
            prefix=f"ehr-{destination.name}",
            message=f"EHR ({destination.name.upper()}) not reachable: validated chart rows are waiting to be filed",
            alarms=service.alarms,
            record=senders.record_alarm_changes,
            after_s=ehr.down_notice_s,
            rule_id="ehr_unreachable",
        )
        service.background.append(sender.run)
        service.background.append(_outage_watch(sender, notice, watch, service.clock.now))


def _outage_watch(
    sender: Any, notice: Any, watch: Any, clock_now: Callable[[], float]
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await watch(lambda: sender.failing_since is not None, notice, every_s=1.0, now=clock_now)

    return run
