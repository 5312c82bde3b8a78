"""The session's chart for the EHR: the flowsheet's rows, the nurse's validation, the FHIR download.

``GET /api/sessions/{id}/chart`` lists the rows (draft, accepted, edited, rejected, filed, failed);
``POST /api/sessions/{id}/chart/{row}`` accepts, edits (reason, original kept) or rejects (reason) one
row; ``POST /api/sessions/{id}/chart/accept-all`` accepts the rows the nurse was shown. Each action is
audited in the transaction that records it and queues its messages (``monitor.store.charting``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field

from dashboard.api.sessions import SessionId
from dashboard.auth import Principal, StaffUser, require
from dashboard.deps import audit, service_of
from monitor.charting import chart as charting
from monitor.charting.runtime import Charting
from monitor.model import Role, Session
from monitor.service import Service
from monitor.store import charting as store
from monitor.store import sessions as session_store

router = APIRouter()

#: Validating a chart is clinical documentation: nurses and clinicians, not administrators.
Charter = Annotated[Principal, Depends(require(Role.NURSE, Role.CLINICIAN))]
RowKey = Annotated[int, PathParam(ge=0, le=2**53)]
#: What a nurse may send as values: charted vital -> number (null removes the value).
Values = dict[Literal["hr", "spo2", "sbp", "dbp", "map"], float | None]


class RowAction(BaseModel):
    action: Literal["accept", "edit", "reject"]
    values: Values | None = None
    reason: str | None = Field(default=None, max_length=500)
    #: For accept: the values the nurse saw; refused (409) if the row changed since.
    seen: Values | None = None


class ShownRow(BaseModel):
    row: RowKey
    seen: Values | None = None


class AcceptAll(BaseModel):
    rows: list[ShownRow] = Field(min_length=1, max_length=500)


def _plain(values: Values | None) -> dict[str, float | None] | None:
    return None if values is None else {str(k): v for k, v in values.items()}


async def _session(svc: Service, session_id: int) -> Session:
    session = svc.sessions.by_id.get(session_id) or await asyncio.to_thread(
        session_store.get_session, svc.engine, session_id
    )
    if session is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no session {session_id}")
    return session


def _charting(svc: Service) -> Charting:
    if svc.charting is None:  # every role attaches it when the service is built
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "charting is not set up in this process")
    return svc.charting


@router.get("/api/sessions/{session_id}/chart")
async def get_chart(session_id: SessionId, request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    session = await _session(svc, session_id)
    ctx = _charting(svc).ctx
    rows = await asyncio.to_thread(charting.chart, svc.engine, session, ctx, svc.clock.now())
    return {
        "session": session_id,
        "patient_ref": session.patient_ref,
        "plan": ctx.plan.as_json(),
        "destinations": list(ctx.destinations),
        "rows": rows,
    }


def _act_all(
    svc: Service, session: Session, shown: list[ShownRow], user: str, now: float
) -> tuple[list[int], list[dict[str, Any]]]:
    ctx = _charting(svc).ctx
    rows = charting.chart(svc.engine, session, ctx, now)
    done: list[int] = []
    skipped: list[dict[str, Any]] = []
    for item in shown:
        try:
            charting.act(svc.engine, session, ctx, item.row, "accept", user, now, seen=_plain(item.seen), rows=rows)
            done.append(item.row)
        except (store.ChartConflict, LookupError, charting.ChartError) as exc:
            skipped.append({"row": item.row, "reason": str(exc)})
    return done, skipped


@router.post("/api/sessions/{session_id}/chart/accept-all")
async def accept_all(session_id: SessionId, body: AcceptAll, request: Request, user: Charter) -> dict[str, Any]:
    """Accept the draft rows the nurse was shown; rows changed or decided meanwhile are listed, not accepted."""
    svc = service_of(request)
    session = await _session(svc, session_id)
    done, skipped = await asyncio.to_thread(_act_all, svc, session, body.rows, user.username, svc.clock.now())
    _charting(svc).wake()
    return {"accepted": done, "skipped": skipped}


@router.post("/api/sessions/{session_id}/chart/{row}")
async def act_on_row(
    session_id: SessionId, row: RowKey, body: RowAction, request: Request, user: Charter
) -> dict[str, Any]:
    svc = service_of(request)
    session = await _session(svc, session_id)
    ctx = _charting(svc).ctx
    now = svc.clock.now()
    try:
        await asyncio.to_thread(
            charting.act,
            svc.engine,
            session,
            ctx,
            row,
            body.action,
            user.username,
            now,
            values=_plain(body.values),
            reason=body.reason,
            seen=_plain(body.seen),
        )
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except store.ChartConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except charting.ChartError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    _charting(svc).wake()
    rows = await asyncio.to_thread(charting.chart, svc.engine, session, ctx, svc.clock.now())
    return next(r for r in rows if r["row"] == row)


@router.get("/api/sessions/{session_id}/fhir")
async def fhir_bundle(session_id: SessionId, request: Request, user: StaffUser) -> Response:
    """The session's accepted and edited rows as one FHIR R4 transaction Bundle, for download."""
    svc = service_of(request)
    session = await _session(svc, session_id)
    ch = _charting(svc)
    rows = await asyncio.to_thread(charting.chart, svc.engine, session, ch.ctx, svc.clock.now())
    payloads = [
        charting.payload(session, r, r["values"], r["user"], r["decided_at"]) | {"correction": r["version"] > 1}
        for r in rows
        if r["version"] > 0 and r["status"] != "rejected" and any(v is not None for v in r["values"].values())
    ]
    body = await asyncio.to_thread(ch.fhir_bundle, payloads)
    await audit(request, user.username, "chart_fhir_download", f"session:{session_id}", rows=len(payloads))
    return Response(
        body,
        media_type="application/fhir+json",
        headers={"Content-Disposition": f'attachment; filename="session-{session_id}-fhir.json"'},
    )
