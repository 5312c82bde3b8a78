"""``GET /api/alarms/report.pdf`` and ``.csv``: the monthly alarm report (clinicians and admins, audited).

``from`` and ``to`` are POSIX seconds or ISO 8601 (offset-less: UTC); without them, the 30 days up to
now. A period is at most a year (``dashboard.alarm_report.report_period``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Query, Request, Response

from dashboard.alarm_report import gather, render_report_pdf, report_csv, report_period
from dashboard.auth import ReviewUser
from dashboard.deps import audit, service_of

router = APIRouter()


def period(from_: str | None, to: str | None, now: float) -> tuple[float, float]:
    try:
        return report_period(from_, to, now)
    except ValueError as exc:
        raise HTTPException(422, f"from/to: {exc}") from None


def _name(start: float, end: float, ext: str) -> str:
    day = "%Y-%m-%d"
    return f"alarm-report-{datetime.fromtimestamp(start, UTC):{day}}-{datetime.fromtimestamp(end, UTC):{day}}.{ext}"


async def _report(request: Request, user: str, from_: str | None, to: str | None, fmt: str) -> Response:
    svc = service_of(request)
    start, end = period(from_, to, svc.clock.now())
    report = await asyncio.to_thread(gather, svc.engine, svc.settings, start, end, svc.clock.now())
    if fmt == "pdf":
        body = await asyncio.to_thread(render_report_pdf, report, svc.settings)
        media, disposition = "application/pdf", "inline"
    else:
        body, media, disposition = report_csv(report), "text/csv; charset=utf-8", "attachment"
    await audit(request, user, "alarm_report", "alarms", format=fmt, start=start, end=end)
    headers = {"Content-Disposition": f'{disposition}; filename="{_name(start, end, fmt)}"'}
    return Response(body, media_type=media, headers=headers)


@router.get("/api/alarms/report.pdf")
async def report_pdf(
    request: Request, user: ReviewUser, from_: str | None = Query(default=None, alias="from"), to: str | None = None
) -> Response:
    """The report as PDF: settings, who may change them, response expected, checks."""
    return await _report(request, user.username, from_, to, "pdf")


@router.get("/api/alarms/report.csv")
async def report_csv_download(
    request: Request, user: ReviewUser, from_: str | None = Query(default=None, alias="from"), to: str | None = None
) -> Response:
    """Every figure of the report as rows ``section, group, priority, metric, value``."""
    return await _report(request, user.username, from_, to, "csv")
