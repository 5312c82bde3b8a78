"""Alarms on screen: list, acknowledge, silence (audio paused). Every action is audited."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from dashboard.auth import StaffUser
from dashboard.deps import audit, service_of
from monitor.commands import Acknowledge, CommandResult, Silence
from monitor.events import alarm_json
from monitor.model import PRIORITY_RANK, Alarm
from monitor.store import alarms as alarm_store

router = APIRouter()


class SilenceBody(BaseModel):
    seconds: float | None = Field(default=None, gt=0, le=600)


class AcknowledgeBody(BaseModel):
    #: The optional one-tap answer: was the alarm actionable (None: not answered).
    actionable: bool | None = None


class ActionableBody(BaseModel):
    actionable: bool


@router.get("/api/alarms")
def list_alarms(request: Request, user: StaffUser, state: str = "active") -> list[dict[str, Any]]:
    svc = service_of(request)
    if state != "active":
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "only state=active is listed here; see /api/sessions/{id}/alarms"
        )
    alarms = sorted(svc.live.alarms.values(), key=lambda a: (-PRIORITY_RANK[a.priority], a.started))
    return [alarm_json(a) for a in alarms]


@router.post("/api/alarms/{alarm_id}/acknowledge")
async def acknowledge(
    alarm_id: str, request: Request, user: StaffUser, body: AcknowledgeBody | None = None
) -> dict[str, Any]:
    """Acknowledge (one click); ``{"actionable": true|false}`` answers the committee's question at once."""
    svc = service_of(request)
    result = await svc.commands.run(Acknowledge(alarm=alarm_id), user.username)  # CommandFailed: its status
    await audit(request, user.username, "alarm_acknowledge", f"alarm:{alarm_id}")
    out = _as_now(svc.live.alarms.get(alarm_id), result, alarm_id)
    # Stored after the acknowledgement, which awaited its commit: the alarm's row exists by now.
    if (
        body is not None
        and body.actionable is not None
        and await _answer(request, user.username, alarm_id, body.actionable)
    ):
        out["actionable"] = body.actionable
    return out


@router.post("/api/alarms/{alarm_id}/actionable")
async def answer_actionable(alarm_id: str, body: ActionableBody, request: Request, user: StaffUser) -> dict[str, Any]:
    """The one-tap answer given after the acknowledgement (the alarm may have left the screens): audited."""
    if not await _answer(request, user.username, alarm_id, body.actionable):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alarm {alarm_id}")
    return {"id": alarm_id, "actionable": body.actionable}


async def _answer(request: Request, user: str, alarm_id: str, actionable: bool) -> bool:
    svc = service_of(request)
    now = svc.clock.now()
    found = await asyncio.to_thread(alarm_store.record_actionable, svc.engine, alarm_id, actionable, user, now)
    if found:
        await audit(request, user, "alarm_actionable", f"alarm:{alarm_id}", actionable=actionable)
        if (shown := svc.live.alarms.get(alarm_id)) is not None:
            shown.actionable = actionable  # this process's screens and API say so at once
    return found


@router.post("/api/alarms/{alarm_id}/silence")
async def silence(alarm_id: str, request: Request, user: StaffUser, body: SilenceBody | None = None) -> dict[str, Any]:
    svc = service_of(request)
    seconds = body.seconds if body else None
    result = await svc.commands.run(Silence(alarm=alarm_id, seconds=seconds), user.username)
    await audit(request, user.username, "alarm_silence", f"alarm:{alarm_id}", seconds=seconds)
    return _as_now(svc.live.alarms.get(alarm_id), result, alarm_id)


def _as_now(on_screen: Alarm | None, result: CommandResult, alarm_id: str) -> dict[str, Any]:
    """The alarm as it is now: on screen, or as the action left it (a latched alarm leaves the screen)."""
    alarm = on_screen or (result.changes[-1].alarm if result.changes else None)
    return alarm_json(alarm) if alarm else {"id": alarm_id}
