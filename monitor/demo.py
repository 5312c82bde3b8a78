"""The demo: simulated chairs walking through whole sessions, with a simulated nurse driving the phases."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from adapters.sim import SessionHook, SimAdapter
from dashboard.auth import hash_password
from monitor.clock import ScaledClock
from monitor.config import Settings
from monitor.model import DischargeRecord, Phase, Role, Session
from monitor.protocols.dose import plan_dose
from monitor.protocols.schedule import anchor_time
from monitor.scales import SESSION_SCALES, checked_score
from monitor.service import Service
from monitor.store import assessments, database, timeline
from monitor.store import auth as store_auth
from simulators.assessments import draw_reactivity, score
from simulators.plan import SessionPlan

log = logging.getLogger(__name__)

DEMO_PASSWORD = "demo"
DEMO_NURSE = "demo-nurse"  # the simulated nurse, as named in the audit log
#: Who takes a simulated patient home.
ESCORTS = ("partner", "friend", "parent", "sibling", "adult child")


def demo_clock(settings: Settings, speed: float) -> ScaledClock:
    """The demo's clock: ``speed`` times the wall clock, from now or from the last stored instant if later.

    A run at speed 30 leaves readings stamped hours ahead of the wall clock; the next run starts its
    clock after them, so no stored reading or session lies in the demo's future.
    """
    engine = database.make_engine(settings.database_url)
    try:
        database.upgrade(engine)
        latest = timeline.latest_stamp(engine)
    finally:
        engine.dispose()
    # the scaled clock starts from the wall clock.
    now = time.time()
    return ScaledClock(speed, origin=max(now, latest + 1.0) if latest is not None else now)


def demo_beds(count: int) -> dict[str, str]:
    return {f"chair-{i + 1}": f"Chair {i + 1}" for i in range(count)}


def ensure_demo_users(service: Service) -> None:
    """The demo's logins, only in a database of the demo's own: never over real staff accounts."""
    others = store_auth.other_user_names(service.engine)
    if others:
        shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        raise ValueError(
            f"the demo refuses this database: it holds real users ({shown}) and the demo would add logins "
            "with the password 'demo'. Give the demo a database of its own (--db)."
        )
    present = set(store_auth.demo_user_names(service.engine))
    for role in Role:
        if role.value not in present:
            store_auth.save_user(service.engine, role.value, hash_password(DEMO_PASSWORD), role.value, demo=True)


def session_hook(
    service: Service,
    device_of: Callable[[str], str] | None = None,
    plan_of: Callable[[str], SessionPlan | None] | None = None,
) -> SessionHook:
    """The simulated nurse: starts each session with its patient's protocol and dose, puts the patient's
    monitor on the chair, scores the protocol's assessments when due, moves the phases and discharges
    with an escort (and, before the criteria are met, with the reason and who decided)."""
    sessions = service.sessions
    scoring: set[asyncio.Task[None]] = set()  # kept referenced until done

    async def hook(bed: str, phase: Phase, ts: float, patient_ref: str) -> None:
        if phase == Phase.BASELINE:
            stale = sessions.open_by_bed.get(bed)
            if stale is not None:  # left open by an earlier run of the demo
                await sessions.change_phase(
                    stale.id, Phase.ABORTED, DEMO_NURSE, ts=ts, reason="demo restarted: next simulated patient"
                )
            plan = plan_of(bed) if plan_of is not None else None
            started = await sessions.start(bed, patient_ref, DEMO_NURSE, ts=ts, **_dose(service, plan))
            if device_of is not None:  # the monitor is wheeled in and associated from the screen
                await service.devices.associate(bed, device_of(bed), DEMO_NURSE, ts=ts)
            if plan is not None:
                task = asyncio.create_task(_score_assessments(service, started, plan), name=f"demo-scores:{bed}")
                scoring.add(task)
                task.add_done_callback(scoring.discard)
            return
        session = sessions.open_by_bed.get(bed)
        if session is not None and phase != session.phase:
            discharge = await _discharge(service, session) if phase == Phase.DISCHARGED else None
            await sessions.change_phase(session.id, phase, DEMO_NURSE, ts=ts, discharge=discharge)

    return hook


def _dose(service: Service, plan: SessionPlan | None) -> dict[str, Any]:
    """The session's protocol, weight and dose as the nurse enters them (the protocol's arithmetic)."""
    protocol = service.protocols.get(plan.protocol) if plan is not None else None
    if plan is None or protocol is None:
        return {"weight_kg": 70.0, "dose_mg": 35.0, "rate_mg_per_h": 52.5}
    fixed = protocol.dose.mode == "fixed"
    dose = plan_dose(
        protocol,
        weight_kg=plan.weight_kg,
        dose_mg=protocol.dose.fixed_mg[0] if fixed else None,
        infusion_min=None if fixed or protocol.dose.bolus else plan.infusion_s / 60.0,
    )
    return {
        "protocol": protocol.id,
        "weight_kg": plan.weight_kg,
        "dose_mg": dose.dose_mg,
        "rate_mg_per_h": dose.rate_mg_per_h,
        "dose_mg_per_kg": dose.dose_mg_per_kg,
    }


async def _discharge(service: Service, session: Session) -> DischargeRecord:
    """The escort, and when the criteria are not met at the planned time, why and who decided (as a nurse must)."""
    from dashboard.api.discharge import readiness

    relation = ESCORTS[session.id % len(ESCORTS)]
    result = await readiness(service, session)
    if result.ready:
        return DischargeRecord(escort_relation=relation)
    return DischargeRecord(
        escort_relation=relation,
        reason="simulated patient's planned discharge time; criteria not met: " + "; ".join(result.reasons),
        decided_by="demo clinician",
    )


async def _score_assessments(service: Service, session: Session, plan: SessionPlan) -> None:
    """Score each assessment of the session's protocol a few minutes after it is due, as a nurse would."""
    protocol = service.protocols.get(session.protocol) if session.protocol else None
    if protocol is None:
        return
    rng = np.random.default_rng(session.id)
    who = draw_reactivity(rng)
    pending = [(c, float(rng.uniform(0.0, 3.0 * 60.0))) for c in protocol.checkpoints if c.kind == "assessment"]
    actor = assessments.Actor(DEMO_NURSE, {"demo": True})
    try:
        while pending and session.is_open:
            now = service.clock.now()
            for entry in list(pending):
                checkpoint, delay = entry
                anchor = anchor_time(session, checkpoint.anchor)
                if anchor is None or checkpoint.scale is None or now < anchor + checkpoint.at_min * 60.0 + delay:
                    continue
                pending.remove(entry)
                scored = score(plan, who, checkpoint.scale, now - session.started, rng)
                total = checked_score(SESSION_SCALES, checkpoint.scale, scored.score, scored.items)
                await asyncio.to_thread(
                    assessments.add_assessment,
                    service.engine,
                    actor,
                    session.id,
                    now,
                    checkpoint.scale,
                    total,
                    scored.items,
                    now,
                )
            await service.clock.sleep(20.0)
    except Exception:  # the demo's scoring must never take the demo down
        log.exception("demo assessments of session %s failed", session.id)


def add_demo_patients(service: Service, beds: list[str], *, seed: int = 0) -> SimAdapter:
    """Simulated chairs on the service's clock: at ``--speed 30`` the clock itself runs 30 times faster.

    Each patient wears a portable monitor that names no chair: the simulated nurse associates it.
    """
    # The third chair runs intranasal esketamine sessions (REMS), so the demo shows one from the start;
    # the others run the mix (mostly IV ketamine for depression, sometimes the other protocols).
    pinned = {beds[2]: "esketamine"} if len(beds) >= 3 else {}
    adapter = SimAdapter(beds, scenario="mixed", seed=seed, clock=service.clock, assign_beds=False, scenarios=pinned)

    def plan_of(bed: str) -> SessionPlan | None:
        patient = adapter.playing.get(bed)
        return patient.trace.plan if patient is not None else None

    adapter.session_hook = session_hook(service, adapter.device_of, plan_of)
    service.add_adapter(adapter)
    return adapter
