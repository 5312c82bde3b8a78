"""The integrator's view of HL7 (admin): ``GET /api/hl7/codes`` and the page ``/admin/hl7-codes``.

Every observation code the listener has seen, per sender, with its count, an
example value and unit, what ivmon made of it, and a flag on unmapped codes
that look like a vital. A mapping is added in ``[hl7] local_codes``; the
running service re-reads the file within seconds (``monitor/config_watch.py``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, RedirectResponse, Response

from dashboard.auth import SESSION_COOKIE, AdminUser
from dashboard.deps import service_of
from monitor.model import Role
from monitor.store.hl7_codes import MAX_ROWS, list_codes

router = APIRouter()

PAGE = Path(__file__).resolve().parent.parent / "pages" / "hl7-codes.html"


@router.get("/api/hl7/codes")
async def read_codes(
    request: Request,
    user: AdminUser,
    since: float | None = Query(default=None, description="only codes seen since (POSIX seconds)"),
    limit: int = Query(default=MAX_ROWS, ge=1, le=MAX_ROWS),
) -> list[dict[str, Any]]:
    return await asyncio.to_thread(list_codes, service_of(request).engine, since, limit)


@router.get("/admin/hl7-codes", include_in_schema=False)
def codes_page(request: Request) -> Response:
    principal = request.app.state.auth.principal(request.cookies.get(SESSION_COOKIE))
    if principal is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    if principal.role is not Role.ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the HL7 codes page is for administrators")
    return FileResponse(PAGE)  # CSP, nosniff, no-store: dashboard/headers.py, on every page
