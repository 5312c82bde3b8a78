"""A patient's course of treatment: follow-up outcome scores (a clinician records them) and the course
across sessions (``GET /api/patients/{ref}/course``, ``course.csv``, ``course.pdf``, the course page)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field

from dashboard.auth import ClinicianUser, ReviewUser
from dashboard.deps import audit, service_of
from dashboard.records.course import course, course_csv, render_course
from dashboard.review.api import review_page
from monitor.scales import OUTCOME_SCALES, ScaleError, checked_score
from monitor.store import outcomes as store
from monitor.store.assessments import Actor

router = APIRouter()

#: Patient references are up to 64 characters (the sessions column).
PatientRef = Annotated[str, PathParam(min_length=1, max_length=64)]
#: Outcome scores older than this are refused as typing errors (a course spans years, not a century).
EARLIEST = date(1990, 1, 1)


class OutcomeBody(BaseModel):
    scale: str = Field(min_length=1, max_length=16)
    score: float = Field(allow_inf_nan=False)
    #: The day the questionnaire was completed (ISO 8601 date).
    date: date


@router.post("/api/patients/{patient_ref}/outcomes", status_code=201)
async def add_outcome(
    patient_ref: PatientRef, body: OutcomeBody, request: Request, user: ClinicianUser
) -> dict[str, Any]:
    svc = service_of(request)
    try:
        score = checked_score(OUTCOME_SCALES, body.scale, body.score, None)
    except ScaleError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    now = svc.clock.now()
    today = datetime.fromtimestamp(now, tz=UTC).astimezone(svc.settings.clinic.zone()).date()  # the clinic's day
    if body.date < EARLIEST or body.date > today:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"date {body.date} is in the future or before 1990")
    actor = Actor(user.username, {"ip": request.client.host if request.client else None})
    new_id = await asyncio.to_thread(
        store.add_outcome, svc.engine, actor, patient_ref, body.scale, score, body.date.isoformat(), now
    )
    return {
        "id": new_id,
        "patient_ref": patient_ref,
        "scale": body.scale,
        "score": score,
        "date": body.date.isoformat(),
    }


async def _course(request: Request, patient_ref: str) -> dict[str, Any]:
    svc = service_of(request)
    return await asyncio.to_thread(course, svc.engine, svc.alarms, patient_ref, svc.clock.now())


@router.get("/api/patients/{patient_ref}/course")
async def get_course(patient_ref: PatientRef, request: Request, user: ReviewUser) -> dict[str, Any]:
    return await _course(request, patient_ref)


def _download(body: bytes, media: str, name: str) -> Response:
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def _file_stem(patient_ref: str) -> str:
    """A file name from a patient reference (any text): letters, digits, dash and underscore only."""
    return "course-" + "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_" for ch in patient_ref)


@router.get("/api/patients/{patient_ref}/course.csv")
async def course_csv_export(patient_ref: PatientRef, request: Request, user: ReviewUser) -> Response:
    svc = service_of(request)
    c = await _course(request, patient_ref)
    body = course_csv(c, svc.settings.clinic.zone())
    await audit(request, user.username, "course_export", f"patient:{patient_ref}", format="csv")
    return _download(body, "text/csv; charset=utf-8", f"{_file_stem(patient_ref)}.csv")


@router.get("/api/patients/{patient_ref}/course.pdf")
async def course_pdf_export(patient_ref: PatientRef, request: Request, user: ReviewUser) -> Response:
    svc = service_of(request)
    c = await _course(request, patient_ref)
    body = await asyncio.to_thread(render_course, c, svc.settings.clinic, svc.clock.now())
    await audit(request, user.username, "course_export", f"patient:{patient_ref}", format="pdf")
    return _download(body, "application/pdf", f"{_file_stem(patient_ref)}.pdf")


@router.get("/patients/{patient_ref}/course", include_in_schema=False)
def course_page(patient_ref: str, request: Request) -> Response:
    return review_page(request, "course.html")
