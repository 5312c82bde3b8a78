"""``GET /api/sessions/{id}/alarm-history``: the live view of a session's alarms and their changes (any staff).

The review side's ``/api/sessions/{id}/alarms`` is the export for clinicians and admins; the bed page
needs the same history for nurses, including alarms that started a moment ago and are not yet committed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from dashboard.auth import StaffUser
from dashboard.deps import service_of
from monitor.events import alarm_json
from monitor.store import alarms as alarm_store

router = APIRouter()


@router.get("/api/sessions/{session_id}/alarm-history")
async def session_alarms(session_id: int, request: Request, user: StaffUser) -> list[dict[str, Any]]:
    svc = service_of(request)
    alarms = await asyncio.to_thread(alarm_store.session_alarms, svc.engine, session_id)
    history = await asyncio.to_thread(alarm_store.alarm_history, svc.engine, [a.id for a in alarms]) if alarms else []
    by_alarm: dict[str, list[dict[str, Any]]] = {}
    for h in history:
        by_alarm.setdefault(h["alarm_id"], []).append(
            {"ts": h["ts"], "transition": h["transition"], "state": h["state"], "user": h["user"]}
        )
    out = []
    stored = {a.id for a in alarms}
    for a in alarms:
        shown = svc.live.alarms.get(a.id, a)  # the live state is newer than the last commit
        out.append({**alarm_json(shown), "history": by_alarm.get(a.id, [])})
    # Alarms started a moment ago may be on screen before the writer's batch commits.
    for a in svc.live.alarms.values():
        if a.session_id == session_id and a.id not in stored:
            out.append({**alarm_json(a), "history": []})
    return sorted(out, key=lambda a: a["started"])
