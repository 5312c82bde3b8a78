"""The demo: simulated chairs walking through whole sessions, with a simulated nurse driving the phases."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from adapters.sim import SessionHook, SimAdapter
from dashboard.auth import hash_password
from monitor.clock import ScaledClock
from monitor.config import Settings
from monitor.model import Phase, Role
from monitor.service import Service
from monitor.store import auth as store_auth
from monitor.store import database, timeline

log = logging.getLogger(__name__)

DEMO_PASSWORD = "demo"
DEMO_NURSE = "demo-nurse"  # the simulated nurse, as named in the audit log


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


def session_hook(service: Service, device_of: Callable[[str], str] | None = None) -> SessionHook:
    """The simulated nurse: starts each session, puts the patient's monitor on the chair, moves the phases."""
    sessions = service.sessions

    async def hook(bed: str, phase: Phase, ts: float, patient_ref: str) -> None:
        if phase == Phase.BASELINE:
            stale = sessions.open_by_bed.get(bed)
            if stale is not None:  # left open by an earlier run of the demo
                await sessions.change_phase(
                    stale.id, Phase.ABORTED, DEMO_NURSE, ts=ts, reason="demo restarted: next simulated patient"
                )
            await sessions.start(bed, patient_ref, DEMO_NURSE, weight_kg=70.0, dose_mg=35.0, rate_mg_per_h=52.5, ts=ts)
            if device_of is not None:  # the monitor is wheeled in and associated from the screen
                await service.devices.associate(bed, device_of(bed), DEMO_NURSE, ts=ts)
            return
        session = sessions.open_by_bed.get(bed)
        if session is not None and phase != session.phase:
            await sessions.change_phase(session.id, phase, DEMO_NURSE, ts=ts)

    return hook


def add_demo_patients(service: Service, beds: list[str], *, seed: int = 0) -> SimAdapter:
    """Simulated chairs on the service's clock: at ``--speed 30`` the clock itself runs 30 times faster.

    Each patient wears a portable monitor that names no chair: the simulated nurse associates it.
    """
    adapter = SimAdapter(beds, scenario="mixed", seed=seed, clock=service.clock, assign_beds=False)
    adapter.session_hook = session_hook(service, adapter.device_of)
    service.add_adapter(adapter)
    return adapter
