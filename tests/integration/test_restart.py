"""A restart keeps the stored history, the open sessions, their baselines and the alarms on screen."""

from __future__ import annotations

from monitor.config import Hl7Settings, load_settings
from monitor.model import Phase, Reading, Vital
from monitor.service import build_service
from monitor.store import readings as reading_store


async def test_restart_restores_sessions_baselines_and_alarms(sqlite_url: str) -> None:
    # No HL7 listener: the service would otherwise bind the default port 2575.
    settings = load_settings(db_url=sqlite_url, beds={"chair-1": "Chair 1"}, hl7=Hl7Settings(enabled=False))
    first = build_service(settings)
    await first.start()
    session = await first.sessions.start("chair-1", "P-9", "nurse", ts=1000.0)
    # Baseline: 2 cuff readings and 2 minutes of SpO2.
    baseline = [Reading(Vital.SPO2, 97.0, "%", 1000.0 + i, "mon", bed="chair-1") for i in range(0, 121, 5)]
    baseline += [
        Reading(Vital.SBP, 120.0, "mmHg", 1010.0, "mon", bed="chair-1"),
        Reading(Vital.SBP, 124.0, "mmHg", 1100.0, "mon", bed="chair-1"),
    ]
    await first.pipeline.submit(baseline)
    await first.sessions.change_phase(session.id, Phase.INFUSION, "nurse", ts=1200.0)
    await first.pipeline.submit([Reading(Vital.SPO2, 80.0, "%", 1300.0, "mon", bed="chair-1")])
    [alarm] = [a for a in first.live.alarms.values() if a.rule_id == "spo2-critical"]
    assert first.alarms.baseline(session.id, Vital.SBP) == 122.0
    await first.stop()
    first.engine.dispose()

    second = build_service(settings)
    try:
        assert second.sessions.open_by_bed["chair-1"].phase is Phase.INFUSION
        assert alarm.id in second.live.alarms, "the alarm on screen survives a restart"
        assert any(a.id == alarm.id for a in second.alarms.active_alarms())
        assert second.alarms.baseline(session.id, Vital.SBP) == 122.0, "baselines are recomputed from storage"
        assert reading_store.count_readings(second.engine) == len(baseline) + 1
    finally:
        second.engine.dispose()


async def test_restart_keeps_a_protocol_sessions_checkpoints_taken(sqlite_url: str) -> None:
    settings = load_settings(db_url=sqlite_url, beds={"chair-1": "Chair 1"}, hl7=Hl7Settings(enabled=False))
    first = build_service(settings)
    await first.start()
    session = await first.sessions.start("chair-1", "P-10", "nurse", protocol="in-esketamine", ts=1000.0)
    cuff = [(1300.0, 126.0), (1000.0 + 10 * 60 + 41 * 60, 138.0)]  # before dosing, and at 41 min after it
    await first.pipeline.submit([Reading(Vital.SBP, 126.0, "mmHg", 1300.0, "mon", bed="chair-1")])
    await first.sessions.change_phase(session.id, Phase.INFUSION, "nurse", ts=1600.0)
    await first.sessions.change_phase(session.id, Phase.RECOVERY, "nurse", ts=2200.0)
    await first.pipeline.submit([Reading(Vital.SBP, cuff[1][1], "mmHg", cuff[1][0], "mon", bed="chair-1")])
    await first.stop()
    first.engine.dispose()

    second = build_service(settings)
    try:
        changes = second.alarms.tick(1600.0 + 60 * 60)  # an hour after dosing: both checkpoints are past
        assert not [c for c in changes if c.alarm.rule_id.startswith("checkpoint")], "taken before the restart"
    finally:
        second.engine.dispose()
