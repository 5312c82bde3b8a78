"""``GET /api/sessions/{id}/discharge``: discharge readiness of a recovery session (advisory)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from dashboard.auth import StaffUser
from dashboard.deps import service_of
from dashboard.discharge import readiness, readiness_json
from monitor.model import Vital
from monitor.store import repo

router = APIRouter()


@router.get("/api/sessions/{session_id}/discharge")
async def discharge(session_id: int, request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    session = svc.sessions.by_id.get(session_id)
    if session is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no open session {session_id}")
    now = time.time()
    frame = await asyncio.to_thread(
        repo.session_readings, svc.engine, session_id, [v.value for v in Vital], session.started
    )
    frame = frame[frame["quality"] == "valid"]
    by_vital = {str(k): list(zip(g["ts"], g["value"], strict=True)) for k, g in frame.groupby("vital")}

    def series(vital: Vital, start: float) -> list[tuple[float, float]]:
        return [(t, v) for t, v in by_vital.get(vital.value, []) if t >= start]

    def baseline(vital: Vital) -> float | None:
        base: float | None = svc.alarms.baseline(session_id, vital)
        return base

    checks = readiness(session, now, series, baseline, svc.live.alarms.values())
    return readiness_json(session, checks)
