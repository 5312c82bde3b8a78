"""``GET /api/sessions/{id}/discharge``: discharge readiness of a recovery session (advisory, ``alerts.discharge``)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from alerts.discharge import WINDOW_S, Readiness, discharge_readiness
from dashboard.auth import StaffUser
from dashboard.deps import service_of
from monitor.model import NIBP_VITALS, Quality, Reading, Session, Vital
from monitor.service import Service
from monitor.store import readings as reading_store

router = APIRouter()

_RECENT = [Vital.HR.value, Vital.PR.value, Vital.SPO2.value]


@router.get("/api/sessions/{session_id}/discharge")
async def discharge(session_id: int, request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    session = svc.sessions.by_id.get(session_id)
    if session is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no open session {session_id}")
    result = await readiness(svc, session)
    return {
        "session": session_id,
        "bed": session.bed,
        "ready": result.ready,
        "reasons": list(result.reasons),
        "advisory": "advisory only: the nurse decides and confirms the escort",
    }


async def readiness(svc: Service, session: Session) -> Readiness:
    """An open session's discharge readiness now, on the service's clock."""
    now = svc.clock.now()
    # NIBP over the whole session (the last two cuff readings may be old); the rest over the last 5 min only.
    nibp = await asyncio.to_thread(
        reading_store.session_readings, svc.engine, session.id, [v.value for v in NIBP_VITALS], session.started
    )
    recent = await asyncio.to_thread(reading_store.session_readings, svc.engine, session.id, _RECENT, now - WINDOW_S)
    readings = [
        Reading(Vital(row.vital), row.value, row.unit, row.ts, row.source, Quality(row.quality))
        for frame in (nibp, recent)
        for row in frame.itertuples(index=False)
    ]
    baseline = {v: svc.alarms.baseline(session.id, v) for v in Vital}
    return discharge_readiness(session, baseline, readings, now, svc.live.alarms.values())
