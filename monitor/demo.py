"""The demo: simulated chairs walking through whole sessions, with a simulated nurse driving the phases."""

from __future__ import annotations

import logging

from adapters.sim import SessionHook, SimAdapter
from dashboard.auth import hash_password
from monitor.model import Phase, Role
from monitor.service import Service
from monitor.store import repo

log = logging.getLogger(__name__)

DEMO_PASSWORD = "demo"
DEMO_NURSE = "demo-nurse"  # the simulated nurse, as named in the audit log


def demo_beds(count: int) -> dict[str, str]:
    return {f"chair-{i + 1}": f"Chair {i + 1}" for i in range(count)}


def ensure_demo_users(service: Service) -> None:
    for role in Role:
        repo.upsert_user(service.engine, role.value, hash_password(DEMO_PASSWORD), role.value)


def session_hook(service: Service) -> SessionHook:
    sessions = service.sessions

    async def hook(bed: str, phase: Phase, ts: float, patient_ref: str) -> None:
        if phase == Phase.BASELINE:
            stale = sessions.open_by_bed.get(bed)
            if stale is not None:  # left open by an earlier run of the demo
                await sessions.change_phase(
                    stale.id, Phase.ABORTED, DEMO_NURSE, ts=ts, reason="demo restarted: next simulated patient"
                )
            await sessions.start(bed, patient_ref, DEMO_NURSE, weight_kg=70.0, dose_mg=35.0, rate_mg_per_h=52.5, ts=ts)
            return
        session = sessions.open_by_bed.get(bed)
        if session is not None and phase != session.phase:
            await sessions.change_phase(session.id, phase, DEMO_NURSE, ts=ts)

    return hook


def add_demo_patients(service: Service, beds: list[str], *, speed: float, seed: int = 0) -> SimAdapter:
    adapter = SimAdapter(beds, scenario="mixed", speed=speed, seed=seed, session_hook=session_hook(service))
    service.add_adapter(adapter)
    return adapter
