"""The demo at speed 30 runs a whole session truthfully through the real service (on a fake clock).

The same service the demo runs (SQLite, the batched writer, the alarm engine, the session hook of the
simulated nurse), driven by a fake clock with the demo's rate: the infusion lasts 40 clock minutes,
the baseline forms, the scenario's alarm fires and discharge readiness is reached, as at speed 1.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

from adapters.sim import SimAdapter
from dashboard.api.discharge import readiness
from monitor.clock import FakeClock
from monitor.config import load_settings
from monitor.demo import session_hook
from monitor.model import Phase, Vital
from monitor.service import Service, build_service
from monitor.store import schema


async def settle(clock: FakeClock, sleepers: int) -> None:
    """Wait (real time) until every task driven by the clock waits on it again: the second is done."""
    deadline = time.monotonic() + 10.0
    while clock.sleepers < sleepers:
        assert time.monotonic() < deadline, "a clock-driven task did not come back to its sleep"
        await asyncio.sleep(0.0002)


def demo_service(sqlite_url: str) -> tuple[FakeClock, Service]:
    """The demo's service on one chair, on a fake clock at the demo's rate (writes in a thread, at once)."""
    clock = FakeClock(start=1_800_000_000.0, rate=30.0)
    settings = load_settings(db_url=sqlite_url, beds={"chair-1": "Chair 1"})
    settings.hl7.enabled = False
    settings.writer_process = False
    settings.write_batch_s = 0.001
    return clock, build_service(settings, clock=clock)


async def test_a_tachycardia_session_at_speed_30(sqlite_url: str) -> None:
    clock, service = demo_service(sqlite_url)
    adapter = SimAdapter(
        ["chair-1"], scenario="tachycardia", clock=clock, session_hook=session_hook(service), gap_s=3600.0
    )
    service.add_adapter(adapter)
    await service.start()
    ready_at: float | None = None
    try:
        await settle(clock, 2)  # the alarm ticker and the chair
        while adapter.sessions_played == 0:
            # Five clock seconds a step: the ticker runs five times, the chair sends what fell due.
            await clock.advance(5.0)
            await settle(clock, 2)
            session = service.sessions.open_by_bed.get("chair-1")
            recovering = session is not None and session.phase is Phase.RECOVERY
            if ready_at is None and recovering and int(clock.now()) % 60 == 0:
                assert session is not None
                if (await readiness(service, session)).ready:
                    ready_at = clock.now()
                    infusion_end = session.phase_started(Phase.RECOVERY)
                    baseline = service.alarms.baseline(session.id, Vital.HR)
    finally:
        await service.stop()
    with service.engine.connect() as conn:
        phases = {p: ts for p, ts in conn.execute(select(schema.phase_changes.c.phase, schema.phase_changes.c.ts))}
        alarms = [tuple(r) for r in conn.execute(select(schema.alarms.c.rule_id, schema.alarms.c.started))]
    # 40 clock minutes of infusion, 11 of baseline (stored as the session's phase instants).
    assert phases["recovery"] - phases["infusion"] == 40 * 60
    assert phases["infusion"] - phases["baseline"] == 11 * 60
    # The baseline formed, and the episode of tachycardia raised its alarm during the infusion.
    assert baseline is not None and 50 < baseline < 110
    assert any(rule == "hr-high" and phases["infusion"] <= t < phases["recovery"] for rule, t in alarms), alarms
    # Nothing else: no technical alarm from readings arriving late (the stamps are the clock's).
    assert {rule for rule, _ in alarms} <= {"hr-high", "hr-high-critical"}, alarms
    # Discharge readiness reached once 30 minutes had passed since the infusion stopped.
    assert ready_at is not None, "never ready for discharge"
    assert infusion_end is not None and ready_at - infusion_end >= 30 * 60
    assert phases["discharged"] > ready_at
