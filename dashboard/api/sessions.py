"""Sessions: start, phase changes, notes, lookup. Every change is audited."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from pydantic import BaseModel, Field, model_validator

from dashboard.api.devices import DEVICE_ID
from dashboard.auth import StaffUser
from dashboard.deps import audit, service_of
from monitor.devices import DeviceError
from monitor.events import session_json
from monitor.model import Phase
from monitor.scales import ADVERSE_CATEGORIES
from monitor.sessions import SessionError
from monitor.store import repo

router = APIRouter()

#: Session ids are 32-bit integers in the database: a larger one is "not found" (422), never a 500.
SessionId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]


class NewSession(BaseModel):
    bed: str = Field(min_length=1, max_length=64)
    patient_ref: str = Field(min_length=1, max_length=64)
    weight_kg: float | None = Field(default=None, gt=0, le=400)
    dose_mg: float | None = Field(default=None, ge=0, le=2000)
    rate_mg_per_h: float | None = Field(default=None, ge=0, le=2000)
    #: The monitor on the patient (picked from the unassigned ones, typed or scanned): associated from the start.
    device: str | None = Field(default=None, min_length=1, max_length=128, pattern=DEVICE_ID)


class PhaseBody(BaseModel):
    phase: Phase
    reason: str | None = Field(default=None, max_length=500)
    escort_confirmed: bool = False


class NoteBody(BaseModel):
    text: str = Field(min_length=1, max_length=4000)
    kind: str = Field(default="note", pattern="^(note|event|adverse)$")
    #: An adverse event's category (``GET /api/scales`` lists them); "other" when not given.
    category: str | None = Field(default=None, max_length=32)

    @model_validator(mode="after")
    def _category_of_adverse_events(self) -> NoteBody:
        if self.kind != "adverse":
            if self.category is not None:
                raise ValueError("only an adverse event (kind=adverse) has a category")
        elif self.category is None:
            self.category = "other"
        elif self.category not in ADVERSE_CATEGORIES:
            raise ValueError(
                f"unknown adverse event category {self.category!r} (one of {', '.join(ADVERSE_CATEGORIES)})"
            )
        return self


@router.post("/api/sessions", status_code=201)
async def start_session(body: NewSession, request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    if body.bed not in await asyncio.to_thread(repo.list_beds, svc.engine):
        # A mistyped or invented bed would be a phantom chair, raising alarms nobody is beside.
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            f"no bed {body.bed!r}: sessions start on configured beds ([beds], device bindings, or added by an admin)",
        )
    try:
        session = await svc.sessions.start(
            body.bed,
            body.patient_ref,
            user.username,
            weight_kg=body.weight_kg,
            dose_mg=body.dose_mg,
            rate_mg_per_h=body.rate_mg_per_h,
        )
    except SessionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    out = session_json(session)
    if body.device:
        try:
            out["device"] = await svc.devices.associate(body.bed, body.device, user.username)
        except DeviceError as exc:  # the session stands; the nurse sees why the monitor was not put on it
            out["device_error"] = str(exc)
    return out


@router.get("/api/sessions")
async def list_sessions(
    request: Request,
    user: StaffUser,
    from_: float | None = Query(default=None, alias="from"),
    to: float | None = None,
    bed: str | None = None,
    patient_ref: str | None = None,
) -> list[dict[str, Any]]:
    svc = service_of(request)
    found = await asyncio.to_thread(
        repo.find_sessions, svc.engine, start=from_, end=to, bed=bed, patient_ref=patient_ref
    )
    return [session_json(s) for s in found]


@router.get("/api/sessions/{session_id}")
async def get_session(session_id: SessionId, request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    session = svc.sessions.by_id.get(session_id) or await asyncio.to_thread(repo.get_session, svc.engine, session_id)
    if session is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no session {session_id}")
    out = session_json(session)
    out["notes"] = await asyncio.to_thread(repo.session_notes, svc.engine, session_id)
    return out


@router.post("/api/sessions/{session_id}/phase")
async def change_phase(session_id: SessionId, body: PhaseBody, request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    if body.phase == Phase.DISCHARGED and not body.escort_confirmed:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY, "discharge needs confirmation that an escort is present"
        )
    try:
        session = await svc.sessions.change_phase(session_id, body.phase, user.username, reason=body.reason)
    except SessionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return session_json(session)


@router.post("/api/sessions/{session_id}/notes", status_code=201)
async def add_note(session_id: SessionId, body: NoteBody, request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    session = svc.sessions.by_id.get(session_id) or await asyncio.to_thread(repo.get_session, svc.engine, session_id)
    if session is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no session {session_id}")
    ts = svc.clock.now()
    note_id = await asyncio.to_thread(
        repo.add_note, svc.engine, session_id, ts, user.username, body.text, body.kind, body.category
    )
    await audit(request, user.username, "session_note", f"session:{session_id}", kind=body.kind, category=body.category)
    svc.pipeline.publish(
        {
            "type": "note",
            "session": session_id,
            "bed": session.bed,
            "ts": ts,
            "user": user.username,
            "kind": body.kind,
            "category": body.category,
            "text": body.text,
        }
    )
    return {"id": note_id, "ts": ts}
