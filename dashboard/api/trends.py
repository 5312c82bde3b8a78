"""``GET /api/beds/{bed}/trend``: the recent history behind a tile's sparklines and the bed page's trends."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request

from dashboard.auth import StaffUser
from dashboard.deps import service_of
from dashboard.trends import bed_trend, trend_json

router = APIRouter()


@router.get("/api/beds/{bed_id}/trend")
async def trend(
    bed_id: str,
    request: Request,
    user: StaffUser,
    minutes: float = Query(default=30.0, gt=0, le=24 * 60),
    vitals: str | None = Query(default=None, description="comma-separated vital keys (default: all)"),
) -> dict[str, Any]:
    svc = service_of(request)
    end = svc.clock.now()
    start = end - minutes * 60.0
    keys = [v for v in (vitals or "").split(",") if v] or None
    series = await asyncio.to_thread(bed_trend, svc.engine, bed_id, start, None, keys)
    return trend_json(bed_id, start, end, series)
