"""``POST /api/setup``: the first admin, created through the one-time link the first run prints."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from dashboard.auth import Auth, hash_password
from dashboard.deps import audit, service_of
from dashboard.setup import SetupToken
from monitor.model import Role
from monitor.store import auth as auth_store
from monitor.store import auth as store_auth

router = APIRouter()


class SetupBody(BaseModel):
    token: str = Field(min_length=8, max_length=128)
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    password: str = Field(min_length=10, max_length=256)


@router.post("/api/setup", status_code=201)
async def setup(body: SetupBody, request: Request) -> dict[str, Any]:
    svc = service_of(request)
    auth: Auth = request.app.state.auth
    ip = f"setup:{request.client.host if request.client else '?'}"
    wait = await asyncio.to_thread(auth.throttle.reserve, ip)
    if wait > 0:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, f"too many attempts; try again in {int(wait) + 1} s")
    token: SetupToken | None = request.app.state.setup_token
    if token is None or await asyncio.to_thread(auth_store.count_users, svc.engine) > 0:
        raise HTTPException(status.HTTP_409_CONFLICT, "setup is closed: users exist already (use ivmon user add)")
    problem = token.check(body.token)
    if problem is not None:
        await audit(request, None, "setup_refused", reason=problem)
        raise HTTPException(status.HTTP_403_FORBIDDEN, problem)
    token.used = True  # before the slow hash: a second request with the same token is refused
    password_hash = await asyncio.to_thread(hash_password, body.password)
    await asyncio.to_thread(store_auth.save_user, svc.engine, body.username, password_hash, Role.ADMIN.value)
    await audit(request, body.username, "setup_first_admin", f"user:{body.username}")
    return {"username": body.username, "role": Role.ADMIN.value}
