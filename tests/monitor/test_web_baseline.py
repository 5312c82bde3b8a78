"""A web process's stand-in for the engine knows each session's baselines as the ingest's engine does
(read from the stored baseline-phase readings): the discharge readiness, and so the discharge gate, is
the same in every role."""

from __future__ import annotations

from monitor.clock import REAL_CLOCK
from monitor.config import Hl7Settings, load_settings
from monitor.live import LiveState
from monitor.model import Phase, Reading, Vital
from monitor.roles import RemoteAlarms
from monitor.service import build_service


async def test_the_web_stand_in_reads_the_baselines_the_engine_fixed(sqlite_url: str) -> None:
    settings = load_settings(db_url=sqlite_url, beds={"chair-1": "Chair 1"}, hl7=Hl7Settings(enabled=False))
    service = build_service(settings)
    await service.start()
    try:
        session = await service.sessions.start("chair-1", "P-1", "nurse", ts=1000.0)
        readings = [
            Reading(Vital.HR, 70.0 + (i % 3), "bpm", 1000.0 + i, "mon", bed="chair-1") for i in range(0, 121, 5)
        ]
        readings += [
            Reading(Vital.SBP, v, "mmHg", t, "mon", bed="chair-1") for v, t in ((118.0, 1010.0), (126.0, 1100.0))
        ]
        await service.pipeline.submit(readings)
        web = RemoteAlarms(LiveState(REAL_CLOCK), engine=service.engine, sessions=service.sessions)
        assert web.baseline(session.id, Vital.SBP) is None, "not fixed before the infusion"
        await service.sessions.change_phase(session.id, Phase.INFUSION, "nurse", ts=1200.0)
        for vital in (Vital.SBP, Vital.HR):
            assert web.baseline(session.id, vital) == service.alarms.baseline(session.id, vital) is not None
        assert web.baseline(session.id, Vital.SPO2) is None  # never measured
    finally:
        await service.stop()


async def test_the_web_stand_in_shows_a_protocol_sessions_rules_as_the_engine_judges_them(sqlite_url: str) -> None:
    settings = load_settings(db_url=sqlite_url, beds={"chair-1": "Chair 1"}, hl7=Hl7Settings(enabled=False))
    service = build_service(settings)
    await service.start()
    try:
        session = await service.sessions.start("chair-1", "P-2", "nurse", protocol="in-esketamine", ts=1000.0)
        web = RemoteAlarms(
            LiveState(REAL_CLOCK),
            service.alarms.rules,
            engine=service.engine,
            sessions=service.sessions,
            protocols=service.protocols,
        )
        ingest = [r.id for r in service.alarms.session_rules(session.id)]
        assert "predose-sbp-review" in ingest
        assert [r.id for r in web.session_rules(session.id)] == ingest
        own = [r for r in service.alarms.rules if r.id != "bp-rise"]
        web.set_session_rules(session.id, own)  # a clinician's own override wins, as in the engine
        assert web.session_rules(session.id) == own
    finally:
        await service.stop()
