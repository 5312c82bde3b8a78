"""Shared request helpers: the service behind the app, and audit records of user actions."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request

from monitor.service import Service
from monitor.store import audit as audit_store


def service_of(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


async def audit(request: Request, user: str | None, action: str, target: str | None = None, **detail: Any) -> None:
    """Record who did what; the action's response waits for the record (an unaudited change must not happen)."""
    svc = service_of(request)
    client = request.client.host if request.client else None
    await asyncio.to_thread(audit_store.write_audit, svc.engine, user, action, target, {**detail, "ip": client})
