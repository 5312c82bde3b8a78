"""Sessions made by the simulator through the real service (pipeline, writer, alarm engine) on a fake clock.

Shared by the tests of ``ivmon replay --db`` and ``ivmon whatif``: what the live engine raised for
these sessions is in the database, next to their readings and phase changes.
"""

from __future__ import annotations

import asyncio
import time

from adapters.sim import SimAdapter
from monitor.clock import FakeClock
from monitor.config import load_settings
from monitor.demo import session_hook
from monitor.service import Service, build_service

#: One chair per scenario whose alarms fire under the default rules (and one quiet one).
SCENARIOS = {
    "chair-1": "tachycardia",
    "chair-2": "hypertensive",
    "chair-3": "desaturation",
    "chair-4": "bradycardia",
    "chair-5": "routine",
}
START = 1_800_000_000.0


async def _settle(clock: FakeClock, sleepers: int) -> None:
    deadline = time.monotonic() + 20.0
    while clock.sleepers < sleepers:
        assert time.monotonic() < deadline, "a clock-driven task did not come back to its sleep"
        await asyncio.sleep(0.0002)


async def record_sessions(db_url: str, seed: int = 0) -> None:
    """One whole session per chair, all at once, stored by the real service."""
    clock = FakeClock(start=START, rate=30.0)
    settings = load_settings(db_url=db_url, beds={bed: bed for bed in SCENARIOS})
    settings.hl7.enabled = False
    settings.writer_process = False
    settings.write_batch_s = 0.001
    service: Service = build_service(settings, clock=clock)
    adapter = SimAdapter(
        list(SCENARIOS),
        scenario="routine",
        scenarios=dict(SCENARIOS),
        clock=clock,
        session_hook=session_hook(service),
        gap_s=36_000.0,
        seed=seed,
    )
    service.add_adapter(adapter)
    await service.start()
    try:
        sleepers = 1 + len(SCENARIOS)  # the alarm ticker and every chair
        await _settle(clock, sleepers)
        while adapter.sessions_played < len(SCENARIOS):
            await clock.advance(5.0)
            await _settle(clock, sleepers)
    finally:
        await service.stop()
