"""Monitors: every source seen (``GET /api/devices``), and associating one with a chair from the screen.

``POST /api/beds/{id}/devices`` (``{"device": "...", "claim_from": ts}``) puts a monitor on a chair
from now (moving it from another chair if it was there), optionally claiming its readings since
``claim_from`` for the chair's session; ``DELETE /api/beds/{id}/devices/{device}`` takes it off.
The service stores and audits each change (monitor/devices.py).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from dashboard.auth import StaffUser
from dashboard.deps import service_of
from monitor.devices import DeviceError
from monitor.service import Service
from monitor.store import sessions as session_store

router = APIRouter()

#: Device ids as monitors send them and nurses type or scan them: printable, bounded.
DEVICE_ID = r"^[\x21-\x7e][\x20-\x7e]{0,127}$"
BedId = Annotated[str, PathParam(min_length=1, max_length=64)]


class AssociateBody(BaseModel):
    device: str = Field(min_length=1, max_length=128, pattern=DEVICE_ID)
    #: Claim the monitor's unassigned readings since this time (POSIX seconds) for the chair's session.
    claim_from: float | None = None


class ClaimBody(BaseModel):
    since: float


async def _known_bed(svc: Service, bed: str) -> None:
    if bed in svc.sessions.open_by_bed or svc.devices.bindings.on_bed(bed):
        return
    if bed not in await asyncio.to_thread(session_store.list_beds, svc.engine):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no bed {bed}")


def _failed(exc: DeviceError) -> HTTPException:
    return HTTPException(exc.status, str(exc))


@router.get("/api/devices")
def list_devices(request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    bindings = svc.devices.bindings
    return {
        "devices": svc.devices.view(),
        "claim_window_s": svc.devices.claim_window_s,
        "last_on_bed": dict(bindings.last_on_bed),
    }


@router.post("/api/beds/{bed}/devices")
async def associate(bed: BedId, body: AssociateBody, request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    await _known_bed(svc, bed)
    try:
        return await svc.devices.associate(bed, body.device, user.username, claim_from=body.claim_from)
    except DeviceError as exc:
        raise _failed(exc) from None


@router.post("/api/beds/{bed}/devices/{device:path}/claim")
async def claim(bed: BedId, device: str, body: ClaimBody, request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    try:
        return await svc.devices.claim(bed, device, body.since, user.username)
    except DeviceError as exc:
        raise _failed(exc) from None


@router.delete("/api/beds/{bed}/devices/{device:path}")
async def release(bed: BedId, device: str, request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    try:
        return await svc.devices.release(bed, device, user.username)
    except DeviceError as exc:
        raise _failed(exc) from None
