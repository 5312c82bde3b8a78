"""The printed records of a session: ``GET /api/sessions/{id}/record.pdf`` (the infusion record) and
``GET /api/sessions/{id}/rems.pdf`` (the esketamine REMS form's facts, for a protocol whose template
lists the ``rems`` form: ``in-esketamine``).
Staff print them (the nurse at discharge); every download is audited."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response

from dashboard.api.sessions import SessionId
from dashboard.auth import StaffUser
from dashboard.deps import audit, service_of
from dashboard.records.data import RecordData, gather
from dashboard.review.data import rules_for
from monitor.charting.runtime import plan_from_settings
from monitor.config import ClinicSettings

router = APIRouter()


async def record_data(request: Request, session_id: int) -> RecordData:
    svc = service_of(request)

    def load() -> RecordData | None:
        rules = rules_for(svc.engine, svc.alarms, session_id)
        plan = plan_from_settings(svc.settings.ehr)
        return gather(svc.engine, session_id, rules, plan, svc.clock.now(), svc.protocols)

    data = await asyncio.to_thread(load)
    if data is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no session {session_id}")
    return data


async def _pdf(
    request: Request,
    user: str,
    data: RecordData,
    render: Callable[[RecordData, ClinicSettings], bytes],
    kind: str,
) -> Response:
    svc = service_of(request)
    sid = data.record.session.id
    pdf = await asyncio.to_thread(render, data, svc.settings.clinic)
    await audit(request, user, f"{kind}_download", f"session:{sid}", bytes=len(pdf))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="session-{sid}-{kind}.pdf"', "Cache-Control": "no-store"},
    )


@router.get("/api/sessions/{session_id}/record.pdf")
async def record_pdf(session_id: SessionId, request: Request, user: StaffUser) -> Response:
    from dashboard.records.infusion import render_record

    data = await record_data(request, session_id)
    return await _pdf(request, user.username, data, render_record, "record")


@router.get("/api/sessions/{session_id}/rems.pdf")
async def rems_pdf(session_id: SessionId, request: Request, user: StaffUser) -> Response:
    from dashboard.records.rems import render_rems

    data = await record_data(request, session_id)
    if not data.has_form("rems"):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"session {session_id}: its protocol ({data.row.get('protocol') or 'none'}) has no REMS form",
        )
    return await _pdf(request, user.username, data, render_rems, "rems")
