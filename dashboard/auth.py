"""Logins, server-side sessions, roles and CSRF.

Passwords are hashed with Argon2 (argon2-cffi). The session cookie carries a
random token; only its SHA-256 is stored, so a leaked database holds no usable
session. State-changing requests must echo the session's CSRF token in the
``X-CSRF-Token`` header (the page reads it from the non-HttpOnly
``ivmon_csrf`` cookie); a cross-site form cannot.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request, WebSocket, status
from sqlalchemy import Engine, delete, insert, select

from monitor.model import Role
from monitor.store import repo, schema

SESSION_COOKIE = "ivmon_session"
CSRF_COOKIE = "ivmon_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_hasher = PasswordHasher()
# Verifying against this keeps an unknown user's login as slow as a known one's.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(slots=True, frozen=True)
class Principal:
    username: str
    role: Role
    csrf: str
    token_hash: str
    expires: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginThrottle:
    """Failed logins per user name and per address: after ``limit`` in ``window_s``, wait."""

    def __init__(self, limit: int = 5, window_s: float = 300.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def retry_after(self, *keys: str, now: float | None = None) -> float:
        now = time.time() if now is None else now
        wait = 0.0
        for key in keys:
            q = self._failures.get(key)
            if not q:
                continue
            while q and q[0] < now - self.window_s:
                q.popleft()
            if len(q) >= self.limit:
                wait = max(wait, q[0] + self.window_s - now)
        return wait

    def failed(self, *keys: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for key in keys:
            self._failures[key].append(now)

    def succeeded(self, username_key: str) -> None:
        self._failures.pop(username_key, None)


class Auth:
    def __init__(self, engine: Engine, session_hours: float = 12.0) -> None:
        self.engine = engine
        self.session_s = session_hours * 3600
        self.throttle = LoginThrottle()
        self._cache: dict[str, Principal] = {}

    def login(self, username: str, password: str) -> tuple[str, Principal] | None:
        user = repo.get_user(self.engine, username)
        ok = verify_password(user["password_hash"] if user else None, password)
        if not (ok and user and user["active"]):
            return None
        token = secrets.token_urlsafe(32)
        now = time.time()
        principal = Principal(
            username=user["username"],
            role=Role(user["role"]),
            csrf=secrets.token_urlsafe(24),
            token_hash=_digest(token),
            expires=now + self.session_s,
        )
        with self.engine.begin() as conn:
            conn.execute(
                insert(schema.web_sessions).values(
                    token_hash=principal.token_hash,
                    username=principal.username,
                    role=principal.role.value,
                    csrf=principal.csrf,
                    created=now,
                    expires=principal.expires,
                )
            )
        self._cache[principal.token_hash] = principal
        return token, principal

    def principal(self, token: str | None) -> Principal | None:
        if not token:
            return None
        digest = _digest(token)
        p = self._cache.get(digest)
        if p is None:
            with self.engine.connect() as conn:
                row = conn.execute(
                    select(schema.web_sessions).where(schema.web_sessions.c.token_hash == digest)
                ).first()
            if row is None:
                return None
            p = Principal(row.username, Role(row.role), row.csrf, digest, row.expires)
            self._cache[digest] = p
        if p.expires < time.time():
            self.logout(p)
            return None
        return p

    def logout(self, principal: Principal) -> None:
        self._cache.pop(principal.token_hash, None)
        with self.engine.begin() as conn:
            conn.execute(delete(schema.web_sessions).where(schema.web_sessions.c.token_hash == principal.token_hash))


# -- FastAPI dependencies ------------------------------------------------------------------
def _auth(request: Request | WebSocket) -> Auth:
    auth: Auth = request.app.state.auth
    return auth


def current_user(request: Request) -> Principal:
    principal = _auth(request).principal(request.cookies.get(SESSION_COOKIE))
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "login required")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not secrets.compare_digest(sent, principal.csrf):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token (X-CSRF-Token header)")
    return principal


def websocket_user(ws: WebSocket) -> Principal | None:
    return _auth(ws).principal(ws.cookies.get(SESSION_COOKIE))


class require:
    """Dependency: the logged-in user must have one of ``roles``."""

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)

    def __call__(self, request: Request) -> Principal:
        principal = current_user(request)
        if principal.role not in self.roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"{principal.role.value} may not do this")
        return principal


ANY_STAFF = require(Role.NURSE, Role.CLINICIAN, Role.ADMIN)
CLINICAL_REVIEW = require(Role.CLINICIAN, Role.ADMIN)
ADMIN_ONLY = require(Role.ADMIN)

#: Route parameter types: ``user: StaffUser`` enforces login, role and CSRF.
StaffUser = Annotated[Principal, Depends(ANY_STAFF)]
ReviewUser = Annotated[Principal, Depends(CLINICAL_REVIEW)]
AdminUser = Annotated[Principal, Depends(ADMIN_ONLY)]
