"""Sessions: start, phase changes, notes, lookup. Every change is audited."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from pydantic import BaseModel, Field, model_validator

from dashboard.api.devices import DEVICE_ID
from dashboard.api.discharge import readiness
from dashboard.api.protocols import find_protocol
from dashboard.auth import StaffUser
from dashboard.deps import audit, service_of
from monitor.devices import DeviceError
from monitor.events import session_json
from monitor.model import DischargeRecord, Phase
from monitor.protocols import Protocol
from monitor.protocols.dose import DoseError, DosePlan, plan_dose
from monitor.scales import ADVERSE_CATEGORIES
from monitor.service import Service
from monitor.sessions import SessionError
from monitor.store import sessions as session_store

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
    #: The protocol template (GET /api/protocols); with it the dose comes from the dose per kg and the weight.
    protocol: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    dose_mg_per_kg: float | None = Field(default=None, gt=0, le=5)
    #: Planned infusion minutes when not the protocol's (0.5 mg/kg over 60 instead of 40 min).
    infusion_min: float | None = Field(default=None, gt=0, le=24 * 60)


class PhaseBody(BaseModel):
    phase: Phase
    #: Why a session is aborted.
    reason: str | None = Field(default=None, max_length=500)
    escort_confirmed: bool = False
    #: Discharge: who takes the patient home (the relation is required, the name optional) and, when
    #: the discharge criteria are not met, why the patient leaves anyway and who decided.
    escort_relation: str | None = Field(default=None, max_length=120)
    escort_name: str | None = Field(default=None, max_length=120)
    discharge_reason: str | None = Field(default=None, max_length=2000)
    decided_by: str | None = Field(default=None, max_length=120)


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
    if body.bed not in await asyncio.to_thread(session_store.list_beds, svc.engine):
        # A mistyped or invented bed would be a phantom chair, raising alarms nobody is beside.
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            f"no bed {body.bed!r}: sessions start on configured beds ([beds], device bindings, or added by an admin)",
        )
    plan = _dose_plan(svc.protocols, body)
    try:
        session = await svc.sessions.start(
            body.bed,
            body.patient_ref,
            user.username,
            weight_kg=body.weight_kg,
            dose_mg=plan.dose_mg if plan is not None and plan.dose_mg is not None else body.dose_mg,
            rate_mg_per_h=plan.rate_mg_per_h if plan is not None and plan.dose_mg is not None else body.rate_mg_per_h,
            protocol=body.protocol,
            dose_mg_per_kg=plan.dose_mg_per_kg if plan is not None else None,
        )
    except SessionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    out = session_json(session)
    out["dose_arithmetic"] = plan.arithmetic if plan is not None else ""
    if body.device:
        try:
            out["device"] = await svc.devices.associate(body.bed, body.device, user.username)
        except DeviceError as exc:  # the session stands; the nurse sees why the monitor was not put on it
            out["device_error"] = str(exc)
    return out


def _dose_plan(protocols: dict[str, Protocol], body: NewSession) -> DosePlan | None:
    """The protocol's dose for this patient (422 when the protocol or the dose is not allowed)."""
    if body.protocol is None:
        if body.dose_mg_per_kg is not None or body.infusion_min is not None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "dose_mg_per_kg and infusion_min need a protocol")
        return None
    protocol = find_protocol(protocols, body.protocol)
    try:
        plan = plan_dose(
            protocol,
            weight_kg=body.weight_kg,
            dose_mg_per_kg=body.dose_mg_per_kg,
            dose_mg=body.dose_mg if protocol.dose.mode == "fixed" else None,
            infusion_min=body.infusion_min,
        )
    except DoseError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    if protocol.dose.mode == "per_kg" and plan.dose_mg is not None:
        # A dose typed beside the protocol's must agree with it: two doses on one record is a dosing error.
        for given, computed, name in (
            (body.dose_mg, plan.dose_mg, "dose_mg"),
            (body.rate_mg_per_h, plan.rate_mg_per_h, "rate_mg_per_h"),
        ):
            if given is not None and (computed is None or abs(given - computed) > 0.01):
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_ENTITY,
                    f"{name} {given:g} does not match the protocol's {plan.arithmetic}",
                )
    return plan


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
        session_store.find_sessions, svc.engine, start=from_, end=to, bed=bed, patient_ref=patient_ref
    )
    return [session_json(s) for s in found]


@router.get("/api/sessions/{session_id}")
async def get_session(session_id: SessionId, request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    session = svc.sessions.by_id.get(session_id) or await asyncio.to_thread(
        session_store.get_session, svc.engine, session_id
    )
    if session is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no session {session_id}")
    out = session_json(session)
    out["notes"] = await asyncio.to_thread(session_store.session_notes, svc.engine, session_id)
    return out


@router.post("/api/sessions/{session_id}/phase")
async def change_phase(session_id: SessionId, body: PhaseBody, request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    record = await _discharge_record(svc, session_id, body, request, user.username)
    try:
        session = await svc.sessions.change_phase(
            session_id, body.phase, user.username, reason=body.reason, discharge=record
        )
    except SessionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return session_json(session)


def _text(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


async def _discharge_record(
    svc: Service, session_id: int, body: PhaseBody, request: Request, user: str
) -> DischargeRecord | None:
    """A discharge's record: the escort, and the reason and decider when the criteria are not met (else 422)."""
    if body.phase != Phase.DISCHARGED:
        return None
    relation = _text(body.escort_relation)
    if not body.escort_confirmed or relation is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            "discharge needs confirmation that an escort is present and the escort's relation to the patient "
            "(escort_confirmed, escort_relation: e.g. partner, friend)",
        )
    session = svc.sessions.by_id.get(session_id)
    if session is None or session.phase != Phase.RECOVERY:
        return DischargeRecord(relation, _text(body.escort_name))  # the session change itself says why not (409)
    result = await readiness(svc, session)
    reason, decided_by = _text(body.discharge_reason), _text(body.decided_by)
    if not result.ready and (reason is None or decided_by is None):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            "discharge criteria not met (" + "; ".join(result.reasons) + "): "
            "give the reason for discharging now (discharge_reason) and who decided (decided_by)",
        )
    await audit(
        request,
        user,
        "discharge_decision",
        f"session:{session_id}",
        criteria_met=result.ready,
        criteria_not_met=list(result.reasons),
        reason=None if result.ready else reason,
        decided_by=None if result.ready else decided_by,
        escort_relation=relation,
    )
    if result.ready:
        return DischargeRecord(relation, _text(body.escort_name))
    return DischargeRecord(relation, _text(body.escort_name), reason, decided_by)


@router.post("/api/sessions/{session_id}/notes", status_code=201)
async def add_note(session_id: SessionId, body: NoteBody, request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    session = svc.sessions.by_id.get(session_id) or await asyncio.to_thread(
        session_store.get_session, svc.engine, session_id
    )
    if session is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no session {session_id}")
    ts = svc.clock.now()
    note_id = await asyncio.to_thread(
        session_store.add_note, svc.engine, session_id, ts, user.username, body.text, body.kind, body.category
    )
    await audit(request, user.username, "session_note", f"session:{session_id}", kind=body.kind, category=body.category)
    svc.commands.publish(
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
