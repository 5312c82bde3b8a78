"""``GET /api/beds``: every chair's latest vitals with their ages, its session and its alarms;
``POST /api/beds``: an admin adds a chair (sessions start only on beds that exist)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from dashboard.auth import AdminUser, StaffUser
from dashboard.deps import audit, service_of
from dashboard.limits import limits_of
from dashboard.views import beds_view, unassigned_view
from monitor.store import sessions as session_store

router = APIRouter()


@router.get("/api/beds")
def beds(request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    return {"beds": beds_view(svc), "unassigned": unassigned_view(svc)}


class NewBed(BaseModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    label: str = Field(min_length=1, max_length=128)


@router.post("/api/beds", status_code=201)
async def add_bed(body: NewBed, request: Request, user: AdminUser) -> dict[str, str]:
    svc = service_of(request)
    if body.id in await asyncio.to_thread(session_store.list_beds, svc.engine):
        raise HTTPException(status.HTTP_409_CONFLICT, f"bed {body.id} exists already")
    await asyncio.to_thread(session_store.ensure_beds, svc.engine, {body.id: body.label})
    await audit(request, user.username, "bed_add", f"bed:{body.id}", label=body.label)
    return {"id": body.id, "label": body.label}


@router.get("/api/beds/{bed_id}/limits")
def limits(bed_id: str, request: Request, user: StaffUser) -> dict[str, Any]:
    """The limits in force at the chair now (they change with the session and its phase)."""
    svc = service_of(request)
    return {"bed": bed_id, "limits": limits_of(svc.alarms, svc.sessions.open_by_bed.get(bed_id))}
