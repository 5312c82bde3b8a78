"""``GET /api/sessions/{id}/schedule``: what the session's protocol makes due, for the tile and the bed page.

Computed on the service's clock from the session's stored cuff readings (``monitor.protocols.schedule``,
the same arithmetic that raises the missed-checkpoint alarms); the page counts down from the times.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi import Path as PathParam

from dashboard.auth import StaffUser
from dashboard.deps import service_of
from monitor.model import Phase, Quality, Vital
from monitor.protocols.dose import session_arithmetic
from monitor.protocols.schedule import CheckpointState, schedule_of
from monitor.store import assessments as assessment_store
from monitor.store import readings as reading_store
from monitor.store import sessions as session_store

router = APIRouter()

SessionId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]


def _checkpoint(state: CheckpointState) -> dict[str, Any]:
    c = state.checkpoint
    return {
        "label": c.label,
        "kind": c.kind,
        "scale": c.scale,
        "due": state.due,
        "window": [None, None] if state.due is None else [state.due - c.early_min * 60, state.due + c.late_min * 60],
        "status": state.status.value,
        "taken_at": state.taken_at,
    }


@router.get("/api/sessions/{session_id}/schedule")
async def session_schedule(session_id: SessionId, request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    session = svc.sessions.by_id.get(session_id) or await asyncio.to_thread(
        session_store.get_session, svc.engine, session_id
    )
    if session is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no session {session_id}")
    protocol = svc.protocols.get(session.protocol) if session.protocol else None
    frame = await asyncio.to_thread(
        reading_store.session_readings, svc.engine, session_id, [Vital.SBP.value], session.started
    )
    cuff = sorted(set(frame.loc[frame["quality"] == Quality.VALID.value, "ts"].tolist()))
    assessments: dict[str, list[float]] = {}
    for entry in await asyncio.to_thread(assessment_store.session_assessments, svc.engine, session_id):
        assessments.setdefault(entry["scale"], []).append(entry["ts"])
    settings = svc.settings.alarms
    now = svc.clock.now()
    if not session.is_open:
        now = session.phases[-1].ts  # a closed session's schedule as it stood when it ended
    plan = schedule_of(
        session,
        protocol,
        cuff,
        now,
        default_cycle_s={
            Phase.INFUSION: settings.nibp_cycle_infusion_s,
            Phase.RECOVERY: settings.nibp_cycle_recovery_s,
        },
        assessments={scale: sorted(times) for scale, times in assessments.items()},
    )
    labels: dict[str, str] = {p.phase: p.label for p in protocol.phases} if protocol is not None else {}
    nxt = plan.next_assessment
    return {
        "session": session_id,
        "now": now,
        "protocol": protocol.id if protocol is not None else None,
        "protocol_name": protocol.name if protocol is not None else None,
        "phase": session.phase.value,
        "phase_label": labels.get(session.phase.value, session.phase.value),
        "dose_arithmetic": session_arithmetic(
            protocol, session.weight_kg, session.dose_mg_per_kg, session.dose_mg, session.rate_mg_per_h
        )
        if protocol is not None
        else "",
        "next_nibp": {"due": plan.next_nibp_due, "reason": plan.next_nibp_reason} if plan.next_nibp_due else None,
        "next_assessment": {"label": nxt.checkpoint.label, "scale": nxt.checkpoint.scale, "due": nxt.due}
        if nxt is not None
        else None,
        "planned_infusion_end": plan.planned_infusion_end,
        "overrun_s": plan.overrun_s,
        "earliest_discharge": plan.earliest_discharge,
        "checkpoints": [_checkpoint(s) for s in plan.checkpoints],
    }
