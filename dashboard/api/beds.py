"""``GET /api/beds``: every chair's latest vitals with their ages, its session and its alarms."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from dashboard.auth import StaffUser
from dashboard.deps import service_of
from dashboard.views import beds_view, unassigned_view

router = APIRouter()


@router.get("/api/beds")
def beds(request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    return {"beds": beds_view(svc), "unassigned": unassigned_view(svc)}
