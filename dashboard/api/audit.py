"""``GET /api/audit``: who did what and when (clinicians and admins)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request

from dashboard.auth import ReviewUser
from dashboard.deps import service_of
from monitor.store import audit as audit_store

router = APIRouter()


@router.get("/api/audit")
async def read_audit(
    request: Request,
    user: ReviewUser,
    from_: float | None = Query(default=None, alias="from"),
    to: float | None = None,
) -> list[dict[str, Any]]:
    svc = service_of(request)
    return await asyncio.to_thread(audit_store.read_audit, svc.engine, from_, to)
