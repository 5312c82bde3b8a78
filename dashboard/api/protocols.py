"""``GET /api/protocols``: the session protocols (templates); ``GET /api/protocols/{id}/dose``: the dose arithmetic.

The start-session form asks the server for the arithmetic (one calculation, in ``monitor.protocols.dose``)
and shows it before the nurse starts.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi import Path as PathParam

from dashboard.auth import StaffUser
from dashboard.deps import service_of
from monitor.protocols import Protocol
from monitor.protocols.dose import DoseError, DosePlan, plan_dose

router = APIRouter()

ProtocolId = Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]


def protocol_json(protocol: Protocol) -> dict[str, Any]:
    return protocol.model_dump(mode="json")


def dose_json(plan: DosePlan) -> dict[str, Any]:
    return {
        "dose_mg": plan.dose_mg,
        "rate_mg_per_h": plan.rate_mg_per_h,
        "dose_mg_per_kg": plan.dose_mg_per_kg,
        "infusion_min": plan.infusion_min,
        "arithmetic": plan.arithmetic,
    }


def find_protocol(protocols: dict[str, Protocol], protocol_id: str) -> Protocol:
    """The template, or 422 naming the known ones."""
    found = protocols.get(protocol_id)
    if found is None:
        known = ", ".join(sorted(protocols)) or "none"
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"no protocol {protocol_id!r} (known: {known})")
    return found


@router.get("/api/protocols")
def list_protocols(request: Request, user: StaffUser) -> list[dict[str, Any]]:
    protocols = service_of(request).protocols
    return [protocol_json(protocols[key]) for key in sorted(protocols)]


@router.get("/api/protocols/{protocol_id}/dose")
def preview_dose(
    protocol_id: ProtocolId,
    request: Request,
    user: StaffUser,
    weight_kg: Annotated[float | None, Query(gt=0, le=400)] = None,
    dose_mg_per_kg: Annotated[float | None, Query(gt=0, le=5)] = None,
    dose_mg: Annotated[float | None, Query(gt=0, le=2000)] = None,
    infusion_min: Annotated[float | None, Query(gt=0, le=24 * 60)] = None,
) -> dict[str, Any]:
    protocol = find_protocol(service_of(request).protocols, protocol_id)
    try:
        plan = plan_dose(
            protocol, weight_kg=weight_kg, dose_mg_per_kg=dose_mg_per_kg, dose_mg=dose_mg, infusion_min=infusion_min
        )
    except DoseError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    return {"protocol": protocol.id, **dose_json(plan)}
