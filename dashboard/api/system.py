"""Health and login/logout."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from dashboard.auth import CSRF_COOKIE, SESSION_COOKIE, Auth, StaffUser
from dashboard.deps import audit, service_of

router = APIRouter()


@router.get("/api/health")
def health(request: Request) -> dict[str, Any]:
    """ok or degraded for anyone (load balancers, monitoring); the details only for logged-in staff."""
    return health_for(request, service_of(request).health())


def health_for(request: Request, full: dict[str, Any]) -> dict[str, Any]:
    """Internals (process ids, database errors, queue depths) are for staff, not for whoever asks."""
    auth: Auth = request.app.state.auth
    if auth.principal(request.cookies.get(SESSION_COOKIE)) is None:
        return {"status": full["status"]}
    return full


class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


@router.post("/api/login")
async def login(body: LoginBody, request: Request, response: Response) -> dict[str, Any]:
    auth: Auth = request.app.state.auth
    ip = request.client.host if request.client else "?"
    # Decided before the password hash, atomically in the shared database: concurrent guesses
    # cannot all slip past a check that only counted failures after hashing.
    wait = await asyncio.to_thread(auth.throttle.reserve_login, body.username, ip)
    if wait > 0:
        await audit(request, body.username, "login_throttled")
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed logins; try again in {math.ceil(wait)} s",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    result = await asyncio.to_thread(auth.login, body.username, body.password)
    if result is None:
        await audit(request, body.username, "login_failed")
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password")
    token, principal = result
    await asyncio.to_thread(auth.throttle.login_succeeded, body.username, ip)
    secure = request.url.scheme == "https"
    # machine time: login expiry (monitor/clock.py).
    max_age = int(principal.expires - time.time())
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict", secure=secure, max_age=max_age, path="/"
    )
    response.set_cookie(CSRF_COOKIE, principal.csrf, httponly=False, samesite="strict", secure=secure, path="/")
    await audit(request, principal.username, "login")
    return {"username": principal.username, "role": principal.role.value, "csrf": principal.csrf}


@router.post("/api/logout")
async def logout(request: Request, response: Response, user: StaffUser) -> dict[str, str]:
    auth: Auth = request.app.state.auth
    await asyncio.to_thread(auth.logout, user)
    await request.app.state.hub.close_user(user.username, user.token_hash)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    await audit(request, user.username, "logout")
    return {"status": "logged out"}


@router.get("/api/me")
def me(user: StaffUser) -> dict[str, str]:
    return {"username": user.username, "role": user.role.value, "csrf": user.csrf}
