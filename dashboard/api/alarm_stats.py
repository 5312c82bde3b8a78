"""``GET /api/alarms/stats``: what the clinic's alarm committee reviews (clinicians and admins)."""

from __future__ import annotations

import asyncio
import math
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from alerts.stats import alarm_stats
from dashboard.auth import ReviewUser
from dashboard.deps import service_of
from monitor.store import alarms as alarm_store

router = APIRouter()

DEFAULT_DAYS = 30
MAX_DAYS = 366
MAX_ALARMS = 200_000


@router.get("/api/alarms/stats")
async def stats(
    request: Request,
    user: ReviewUser,
    by: Literal["session", "rule", "bed", "day"] = "rule",
    from_: float | None = Query(default=None, alias="from"),
    to: float | None = None,
    window_s: float = Query(default=15.0, ge=0, le=3600),
) -> dict[str, Any]:
    """Per group and kind: count, total duration, share acknowledged and time to acknowledge, share that
    resolved by itself within ``window_s`` (what a longer condition delay would have suppressed), escalations."""
    svc = service_of(request)
    # Bounded: without a range, the last DEFAULT_DAYS; never more than MAX_DAYS or MAX_ALARMS at once.
    to = svc.clock.now() if to is None else to
    from_ = to - DEFAULT_DAYS * 86_400 if from_ is None else from_
    if not 0 <= to - from_ <= MAX_DAYS * 86_400:
        raise HTTPException(422, f"from/to: a range of at most {MAX_DAYS} days, from before to")
    alarms = await asyncio.to_thread(alarm_store.alarms_between, svc.engine, from_, to, MAX_ALARMS + 1)
    if len(alarms) > MAX_ALARMS:
        raise HTTPException(422, f"more than {MAX_ALARMS} alarms in this range: ask for a shorter one")
    frame = alarm_stats(alarms, by, window_s=window_s, now=svc.clock.now())
    rows = [{str(k): _plain(v) for k, v in record.items()} for record in frame.to_dict(orient="records")]
    return {"by": by, "from": from_, "to": to, "window_s": window_s, "groups": rows}


def _plain(value: Any) -> Any:
    """numpy scalars and NaN to JSON-friendly values."""
    if value is None or isinstance(value, str):
        return value
    number = float(value)
    return None if math.isnan(number) else number
