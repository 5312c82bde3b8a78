"""``GET/PUT/DELETE /api/sessions/{id}/rules``: a session's alarm rules; changes by clinicians and admins, audited."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from alerts.rules import RuleError
from dashboard.auth import ReviewUser, StaffUser
from dashboard.deps import audit, service_of
from dashboard.rules import parse_override, save_override
from monitor.model import Session
from monitor.service import Service

router = APIRouter()


class RulesBody(BaseModel):
    #: Rule tables exactly as in the TOML rule file (id, vital, op, limit | baseline_delta | baseline_ratio, ...).
    rules: list[dict[str, Any]] = Field(min_length=1, max_length=200)


def _open_session(svc: Service, session_id: int) -> Session:
    session = svc.sessions.by_id.get(session_id)
    if session is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no open session {session_id}")
    return session


def _view(svc: Service, session_id: int) -> dict[str, Any]:
    engine = svc.alarms
    rules = engine.session_rules(session_id)
    return {
        "session": session_id,
        "override": rules != list(engine.rules),
        "rules": [r.to_toml_dict() for r in rules],
        "inactive": [{"rule": rid, "reason": why} for rid, why in engine.inactive_rules(session_id)],
    }


@router.get("/api/sessions/{session_id}/rules")
def get_rules(session_id: int, request: Request, user: StaffUser) -> dict[str, Any]:
    svc = service_of(request)
    _open_session(svc, session_id)
    return _view(svc, session_id)


@router.put("/api/sessions/{session_id}/rules")
async def put_rules(session_id: int, body: RulesBody, request: Request, user: ReviewUser) -> dict[str, Any]:
    svc = service_of(request)
    _open_session(svc, session_id)
    try:
        rules = parse_override(body.rules, svc.alarms.rules, session_id)
    except RuleError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    await asyncio.to_thread(save_override, svc.engine, session_id, rules, user.username, svc.clock.now())
    svc.alarms.set_session_rules(session_id, rules)
    await audit(
        request, user.username, "rules_change", f"session:{session_id}", rules=[r.to_toml_dict() for r in rules]
    )
    return _view(svc, session_id)


@router.delete("/api/sessions/{session_id}/rules")
async def reset_rules(session_id: int, request: Request, user: ReviewUser) -> dict[str, Any]:
    svc = service_of(request)
    _open_session(svc, session_id)
    await asyncio.to_thread(save_override, svc.engine, session_id, None, user.username, svc.clock.now())
    svc.alarms.clear_session_rules(session_id)
    await audit(request, user.username, "rules_reset", f"session:{session_id}")
    return _view(svc, session_id)
