"""What was done at the chair: scale assessments, drugs given, the ketamine dose actually given, and the
optional patient identifiers of the infusion record. The care team (nurse, clinician) records them;
every entry is audited in the transaction that stores it (``monitor.store.assessments``).

Adverse events are notes (``POST /api/sessions/{id}/notes`` with ``kind`` "adverse" and a category).
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field, field_validator

from dashboard.api.sessions import SessionId
from dashboard.auth import CareUser, StaffUser
from dashboard.deps import service_of
from monitor.given_dose import given_dose
from monitor.model import Session
from monitor.scales import ADVERSE_CATEGORIES, OUTCOME_SCALES, SESSION_SCALES, ScaleError, checked_score
from monitor.service import Service
from monitor.store import assessments as store
from monitor.store import sessions as session_store

router = APIRouter()

#: An entry may be made up to this long after the session closed (charting after discharge is usual),
#: and never dated in the future beyond a clock's drift.
LATE_ENTRY_S = 24 * 3600.0
CLOCK_SLACK_S = 120.0

#: Units and routes offered on the page; the API takes these only, so the record reads the same everywhere.
DOSE_UNITS = ("mg", "mcg", "g", "mL", "units")
ROUTES = ("IV", "PO", "IM", "SC", "SL", "IN", "PR", "INH")


class AssessmentBody(BaseModel):
    scale: str = Field(min_length=1, max_length=16)
    score: float | None = Field(default=None, allow_inf_nan=False)
    items: list[float] | None = Field(default=None, max_length=32)
    #: When it was assessed (POSIX seconds); default: now.
    ts: float | None = Field(default=None, allow_inf_nan=False)


class MedicationBody(BaseModel):
    drug: str = Field(min_length=1, max_length=128)
    dose: float = Field(gt=0, le=100_000, allow_inf_nan=False)
    unit: str
    route: str
    ts: float | None = Field(default=None, allow_inf_nan=False)

    @field_validator("drug")
    @classmethod
    def _printable(cls, drug: str) -> str:
        if not drug.strip() or not drug.isprintable():
            raise ValueError("drug: printable text")
        return drug.strip()

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, unit: str) -> str:
        if unit not in DOSE_UNITS:
            raise ValueError(f"unit {unit!r} not one of {', '.join(DOSE_UNITS)}")
        return unit

    @field_validator("route")
    @classmethod
    def _known_route(cls, route: str) -> str:
        if route.upper() not in ROUTES:
            raise ValueError(f"route {route!r} not one of {', '.join(ROUTES)}")
        return route.upper()


class GivenDoseBody(BaseModel):
    dose_mg: float = Field(ge=0, le=2000, allow_inf_nan=False)
    reason: str = Field(min_length=3, max_length=500)


class IdentityBody(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    birth_date: date | None = None
    mrn: str | None = Field(default=None, max_length=64)


async def session_or_404(svc: Service, session_id: int) -> Session:
    session = svc.sessions.by_id.get(session_id) or await asyncio.to_thread(
        session_store.get_session, svc.engine, session_id
    )
    if session is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no session {session_id}")
    return session


def _actor(request: Request, username: str) -> store.Actor:
    return store.Actor(username, {"ip": request.client.host if request.client else None})


def _entry_time(svc: Service, session: Session, ts: float | None) -> float:
    """When an entry happened: now by default; otherwise within the session (a late entry is allowed)."""
    now = svc.clock.now()
    if ts is None:
        return now
    closed = next((c.ts for c in session.phases if not session.is_open and c.phase == session.phase), None)
    if ts < session.started - CLOCK_SLACK_S or ts > now + CLOCK_SLACK_S:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "ts outside the session (or in the future)")
    if closed is not None and ts > closed + LATE_ENTRY_S:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "ts long after the session closed")
    return ts


@router.get("/api/scales")
async def scales(user: StaffUser) -> dict[str, Any]:
    """The scales, adverse event categories, dose units and routes the pages offer."""
    return {
        "session": [s.as_json() for s in SESSION_SCALES.values()],
        "outcome": [s.as_json() for s in OUTCOME_SCALES.values()],
        "adverse_categories": [{"key": k, "title": t} for k, t in ADVERSE_CATEGORIES.items()],
        "dose_units": list(DOSE_UNITS),
        "routes": list(ROUTES),
    }


@router.post("/api/sessions/{session_id}/assessments", status_code=201)
async def add_assessment(
    session_id: SessionId, body: AssessmentBody, request: Request, user: CareUser
) -> dict[str, Any]:
    svc = service_of(request)
    session = await session_or_404(svc, session_id)
    try:
        score = checked_score(SESSION_SCALES, body.scale, body.score, body.items)
    except ScaleError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    ts = _entry_time(svc, session, body.ts)
    items = None if body.items is None else [float(i) for i in body.items]
    new_id = await asyncio.to_thread(
        store.add_assessment,
        svc.engine,
        _actor(request, user.username),
        session_id,
        ts,
        body.scale,
        score,
        items,
        svc.clock.now(),
    )
    return {"id": new_id, "session": session_id, "scale": body.scale, "score": score, "items": items, "ts": ts}


@router.get("/api/sessions/{session_id}/assessments")
async def list_assessments(session_id: SessionId, request: Request, user: StaffUser) -> list[dict[str, Any]]:
    svc = service_of(request)
    await session_or_404(svc, session_id)
    return await asyncio.to_thread(store.session_assessments, svc.engine, session_id)


@router.post("/api/sessions/{session_id}/medications", status_code=201)
async def add_medication(
    session_id: SessionId, body: MedicationBody, request: Request, user: CareUser
) -> dict[str, Any]:
    svc = service_of(request)
    session = await session_or_404(svc, session_id)
    ts = _entry_time(svc, session, body.ts)
    new_id = await asyncio.to_thread(
        store.add_medication,
        svc.engine,
        _actor(request, user.username),
        session_id,
        ts,
        body.drug,
        body.dose,
        body.unit,
        body.route,
        svc.clock.now(),
    )
    return {"id": new_id, "session": session_id, "ts": ts, **body.model_dump(exclude={"ts"})}


@router.get("/api/sessions/{session_id}/medications")
async def list_medications(session_id: SessionId, request: Request, user: StaffUser) -> list[dict[str, Any]]:
    svc = service_of(request)
    await session_or_404(svc, session_id)
    return await asyncio.to_thread(store.session_medications, svc.engine, session_id)


@router.get("/api/sessions/{session_id}/given-dose")
async def get_given_dose(session_id: SessionId, request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    session = await session_or_404(svc, session_id)
    entered = await asyncio.to_thread(store.given_dose_entry, svc.engine, session_id)
    return given_dose(session, svc.clock.now(), entered).as_json()


@router.put("/api/sessions/{session_id}/given-dose")
async def set_given_dose(
    session_id: SessionId, body: GivenDoseBody, request: Request, user: CareUser
) -> dict[str, Any]:
    """The dose given when it differs from rate x time (a bag not emptied, a pump paused), with the reason."""
    svc = service_of(request)
    session = await session_or_404(svc, session_id)
    now = svc.clock.now()
    computed = given_dose(session, now).computed_mg
    await asyncio.to_thread(
        store.set_given_dose,
        svc.engine,
        _actor(request, user.username),
        session_id,
        body.dose_mg,
        computed,
        body.reason.strip(),
        now,
    )
    entered = await asyncio.to_thread(store.given_dose_entry, svc.engine, session_id)
    return given_dose(session, now, entered).as_json()


@router.put("/api/sessions/{session_id}/identity", status_code=204)
async def set_identity(session_id: SessionId, body: IdentityBody, request: Request, user: CareUser) -> None:
    """Name, date of birth and MRN for the printed record (optional; audited by field, never by value)."""
    svc = service_of(request)
    await session_or_404(svc, session_id)
    await asyncio.to_thread(
        store.set_identity,
        svc.engine,
        _actor(request, user.username),
        session_id,
        (body.name or "").strip() or None,
        None if body.birth_date is None else body.birth_date.isoformat(),
        (body.mrn or "").strip() or None,
        svc.clock.now(),
    )


@router.get("/api/sessions/{session_id}/identity")
async def get_identity(session_id: SessionId, request: Request, user: CareUser) -> dict[str, Any]:
    svc = service_of(request)
    await session_or_404(svc, session_id)
    found = await asyncio.to_thread(store.identity, svc.engine, session_id)
    return found or {"name": None, "birth_date": None, "mrn": None}
