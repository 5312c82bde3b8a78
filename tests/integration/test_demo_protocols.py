"""The demo's simulated nurse runs an esketamine session by its protocol, through the real service on a
fake clock: started with the protocol and its fixed dose, every BP checkpoint met by the simulated cuff
(no missed-checkpoint alarm), the assessments scored when due (the assessments store h15b's API writes
to), and the discharge recorded with the escort."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from adapters.sim import SimAdapter
from monitor.demo import session_hook
from monitor.model import Phase
from monitor.store import schema
from monitor.store import sessions as session_store
from tests.integration.test_demo_clock import demo_service, settle


def _scoring() -> int:
    """The simulated nurse's scoring tasks still running (each sleeps on the clock between looks)."""
    return sum(1 for t in asyncio.all_tasks() if t.get_name().startswith("demo-scores") and not t.done())


async def test_an_esketamine_session_of_the_demo_follows_its_protocol(sqlite_url: str) -> None:
    clock, service = demo_service(sqlite_url)
    adapter = SimAdapter(["chair-1"], scenario="esketamine", clock=clock, gap_s=3600.0)

    def plan_of(bed: str):  # type: ignore[no-untyped-def]
        return adapter.playing[bed].trace.plan if bed in adapter.playing else None

    adapter.session_hook = session_hook(service, plan_of=plan_of)
    service.add_adapter(adapter)
    await service.start()
    checkpoint_alarms: list[str] = []
    try:
        await settle(clock, 2)  # the alarm ticker and the chair
        while adapter.sessions_played == 0:
            await clock.advance(5.0)
            await settle(clock, 2 + _scoring())  # the ticker, the chair and the nurse scoring
            checkpoint_alarms += [
                a.message for a in service.alarms.active_alarms() if a.rule_id.startswith("checkpoint")
            ]
    finally:
        await service.stop()
    (session,) = session_store.find_sessions(service.engine)
    assert (session.protocol, session.dose_mg, session.rate_mg_per_h) == ("in-esketamine", 56.0, None)
    assert session.weight_kg is not None and session.dose_mg_per_kg is not None
    assert abs(session.dose_mg_per_kg * session.weight_kg - 56.0) < 0.01
    assert checkpoint_alarms == [], "the simulated cuff meets every BP checkpoint"
    observed = (session.phases[-1].ts - (session.phase_started(Phase.INFUSION) or 0)) / 60
    assert session.phase == Phase.DISCHARGED and observed >= 130
    assert session.discharge is not None and session.discharge.escort_relation
    with service.engine.connect() as conn:
        scored = [tuple(r) for r in conn.execute(select(schema.assessments.c.scale, schema.assessments.c.ts))]
    dosing = session.phase_started(Phase.INFUSION)
    assert dosing is not None
    assert sorted(scale for scale, _ in scored) == ["cadss6", "moaas"]
    assert all(40 * 60 <= ts - dosing <= 45 * 60 for _, ts in scored), "scored within the checkpoint's window"
