"""``GET /api/sessions/{id}/discharge``: discharge readiness of a recovery session (advisory, ``alerts.discharge``)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from alerts.discharge import DEFAULT_CRITERIA, WINDOW_S, Readiness, discharge_readiness
from dashboard.auth import StaffUser
from dashboard.deps import service_of
from monitor.model import NIBP_VITALS, Quality, Reading, Session, Vital
from monitor.service import Service
from monitor.store import readings as reading_store
from monitor.store import sessions as session_store

router = APIRouter()

_RECENT = [Vital.HR.value, Vital.PR.value, Vital.SPO2.value]


@router.get("/api/sessions/{session_id}/discharge")
async def discharge(session_id: int, request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    session = svc.sessions.by_id.get(session_id)
    if session is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no open session {session_id}")
    result = await readiness(svc, session)
    protocol = svc.protocols.get(session.protocol) if session.protocol else None
    return {
        "session": session_id,
        "bed": session.bed,
        "ready": result.ready,
        "reasons": list(result.reasons),
        "ready_at": session.ready_at,
        "criteria": (protocol.discharge if protocol is not None else DEFAULT_CRITERIA).model_dump(),
        "advisory": "advisory only: the nurse decides and confirms the escort; "
        "before the criteria are met, a discharge needs the reason and who decided",
    }


async def readiness(svc: Service, session: Session) -> Readiness:
    """An open session's discharge readiness now, by its protocol's criteria, on the service's clock.

    The first time it is seen ready is kept as the session's ``ready_at`` (the REMS form's "ready to
    leave"), to the resolution of whoever looks: the tile and the bed page every 30 s, and the discharge.
    """
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
    protocol = svc.protocols.get(session.protocol) if session.protocol else None
    criteria = protocol.discharge if protocol is not None else DEFAULT_CRITERIA
    result = discharge_readiness(session, baseline, readings, now, svc.live.alarms.values(), criteria)
    if result.ready and session.ready_at is None:
        await asyncio.to_thread(session_store.mark_ready, svc.engine, session.id, now)
        session.ready_at = now
    return result
