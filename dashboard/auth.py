"""Logins, server-side sessions, roles and CSRF.

Passwords are hashed with Argon2 (argon2-cffi). The session cookie carries a
random token; only its SHA-256 is stored, so a leaked database holds no usable
session. State-changing requests must echo the session's CSRF token in the
``X-CSRF-Token`` header (the page reads it from the non-HttpOnly
``ivmon_csrf`` cookie); a cross-site form cannot.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request, WebSocket, status
from sqlalchemy import Engine

from monitor.model import Role
from monitor.store import auth as auth_store
from monitor.store import auth as store_auth
from monitor.store.failures import classify

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


log = logging.getLogger(__name__)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


#: A login cached by a web process is read from the database again after this long: a logout,
#: a role or password change or a disabled user reaches every process within it.
RECHECK_S = 2.0
#: Key prefixes of the shared throttle (monitor/store/auth.py).
KNOWN = "known:"


class LoginThrottle:
    """Growing delays on failed logins, decided before the password hash, shared through the database.

    Three counters: the address (guessing many accounts), the account at that address (guessing one
    password), and the account everywhere (guessing from many addresses). The account-wide counter
    does not apply at an address the account has logged in from before (``known_keep_s``): an
    attacker elsewhere can slow down strangers' guesses on that account, not lock its user out.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        per_pair: int = 5,
        per_address: int = 10,
        per_account: int = 20,
        first_delay_s: float = 15.0,
        max_delay_s: float = 300.0,
        account_max_delay_s: float = 60.0,
        forget_s: float = 900.0,
        known_keep_s: float = 30 * 86_400.0,
    ) -> None:
        self.engine = engine
        self.per_pair = per_pair
        self.per_address = per_address
        self.per_account = per_account
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.account_max_delay_s = account_max_delay_s
        self.forget_s = forget_s
        self.known_keep_s = known_keep_s

    def login_keys(self, username: str, address: str) -> list[store_auth.ThrottleKey]:
        name = username.lower()
        first = self.first_delay_s
        return [
            store_auth.ThrottleKey(f"ip:{address}", self.per_address, self.max_delay_s, first),
            store_auth.ThrottleKey(f"pair:{name}|{address}", self.per_pair, self.max_delay_s, first),
            store_auth.ThrottleKey(f"user:{name}", self.per_account, self.account_max_delay_s, first),
        ]

    def reserve_login(self, username: str, address: str, now: float | None = None) -> float:
        """0.0: go ahead and check the password (the attempt is counted as failed until it succeeds);
        else the seconds to wait."""
        name = username.lower()
        return store_auth.reserve_attempt(
            self.engine,
            self.login_keys(username, address),
            # machine time: login throttling and expiry (monitor/clock.py).
            time.time() if now is None else now,
            forget_s=self.forget_s,
            skip_if_known=(f"user:{name}", f"{KNOWN}{name}|{address}"),
        )

    def login_succeeded(self, username: str, address: str, now: float | None = None) -> None:
        name = username.lower()
        store_auth.attempt_succeeded(
            self.engine,
            self.login_keys(username, address),
            f"pair:{name}|{address}",
            # machine time: login throttling and expiry (monitor/clock.py).
            time.time() if now is None else now,
            known_marker=f"{KNOWN}{name}|{address}",
            known_prefix=KNOWN,
            known_keep_s=self.known_keep_s,
        )

    def reserve(self, key: str, budget: int = 5, now: float | None = None) -> float:
        """A single counter (e.g. the first-run setup link per address)."""
        keys = [store_auth.ThrottleKey(key, budget, self.max_delay_s, self.first_delay_s)]
        return store_auth.reserve_attempt(
            # machine time: login throttling and expiry (monitor/clock.py).
            self.engine,
            keys,
            time.time() if now is None else now,
            forget_s=self.forget_s,
        )


@dataclass(slots=True)
class _Cached:
    principal: Principal
    checked: float
    last_active: float


class Auth:
    def __init__(
        self,
        engine: Engine,
        session_hours: float = 12.0,
        idle_minutes: float = 0.0,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.engine = engine
        self.session_s = session_hours * 3600
        #: Logins unused this long end (0: never); an open central view counts as use (dashboard/revocation.py).
        self.idle_s = idle_minutes * 60
        #: How often a login's last activity is written (the idle timeout is this precise).
        self.touch_s = min(30.0, self.idle_s / 10) if self.idle_s else 0.0
        self.throttle = throttle if throttle is not None else LoginThrottle(engine)
        self._cache: dict[str, _Cached] = {}

    def login(self, username: str, password: str) -> tuple[str, Principal] | None:
        user = auth_store.get_user(self.engine, username)
        ok = verify_password(user["password_hash"] if user else None, password)
        if not (ok and user and user["active"]):
            return None
        token = secrets.token_urlsafe(32)
        # machine time: login throttling and expiry (monitor/clock.py).
        now = time.time()
        principal = Principal(
            username=user["username"],
            role=Role(user["role"]),
            csrf=secrets.token_urlsafe(24),
            token_hash=_digest(token),
            expires=now + self.session_s,
        )
        store_auth.create_login(
            self.engine,
            principal.token_hash,
            principal.username,
            principal.role.value,
            principal.csrf,
            now,
            principal.expires,
        )
        self._cache[principal.token_hash] = _Cached(principal, now, now)
        return token, principal

    def principal(self, token: str | None, now: float | None = None) -> Principal | None:
        """The login behind a session cookie, if it still holds; a request with it counts as activity."""
        if not token:
            return None
        # machine time: login throttling and expiry (monitor/clock.py).
        now = time.time() if now is None else now
        digest = _digest(token)
        cached = self._cache.get(digest)
        if cached is None or now - cached.checked > RECHECK_S:
            try:
                row = store_auth.find_login(self.engine, digest)
            except Exception as exc:
                if classify(exc) != "transient":
                    raise
                if cached is None:  # never seen here: it cannot be checked
                    raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "storage unavailable") from exc
                # The database away: a login this process already holds stays valid until the database
                # answers again (revocation resumes then), so the nurses' screens and their acknowledge
                # buttons keep working through a storage outage.
                log.warning("logins cannot be checked (%s): this process's cached login holds", type(exc).__name__)
                return cached.principal if cached.principal.expires >= now else None
            if row is None:
                self._cache.pop(digest, None)
                return None
            cached = _Cached(
                Principal(row.username, Role(row.role), row.csrf, digest, row.expires), now, row.last_active
            )
            self._cache[digest] = cached
        p = cached.principal
        if p.expires < now or (self.idle_s and now - cached.last_active > self.idle_s):
            self.logout(p)
            return None
        if self.idle_s and now - cached.last_active > self.touch_s:
            store_auth.touch_logins(self.engine, [digest], now)
            cached.last_active = now
        return p

    def logout(self, principal: Principal) -> None:
        self._cache.pop(principal.token_hash, None)
        store_auth.end_login(self.engine, principal.token_hash)

    def ended(self, token_hashes: set[str], in_use: set[str], now: float | None = None) -> set[str]:
        """Of these logins (the open screens' ones), those that no longer hold: ended elsewhere,
        expired, or idle. ``in_use`` (logins with a central view open) count as active now."""
        # machine time: login throttling and expiry (monitor/clock.py).
        now = time.time() if now is None else now
        rows = store_auth.valid_logins(self.engine, token_hashes)
        gone = {t for t in token_hashes if t not in rows or rows[t].expires < now}
        if self.idle_s:
            stale = {t for t, r in rows.items() if now - r.last_active > self.touch_s}
            store_auth.touch_logins(self.engine, stale & (in_use - gone), now)
            gone |= {t for t in stale - in_use if now - rows[t].last_active > self.idle_s}
        for t in gone:
            self._cache.pop(t, None)
            store_auth.end_login(self.engine, t)
        for t in in_use - gone:
            if (cached := self._cache.get(t)) is not None:
                cached.last_active = max(cached.last_active, now)
        # Cached logins nobody used for a while leave the cache (it would otherwise only grow).
        for t in [t for t, c in self._cache.items() if now - c.checked > 600]:
            del self._cache[t]
        return gone


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
#: Clinical records of a session (assessments, drugs given): the nurses and clinicians at the chair.
CARE_TEAM = require(Role.NURSE, Role.CLINICIAN)
#: Follow-up outcome scores: a clinician's judgement.
CLINICIAN_ONLY = require(Role.CLINICIAN)

#: Route parameter types: ``user: StaffUser`` enforces login, role and CSRF.
StaffUser = Annotated[Principal, Depends(ANY_STAFF)]
ReviewUser = Annotated[Principal, Depends(CLINICAL_REVIEW)]
AdminUser = Annotated[Principal, Depends(ADMIN_ONLY)]
CareUser = Annotated[Principal, Depends(CARE_TEAM)]
ClinicianUser = Annotated[Principal, Depends(CLINICIAN_ONLY)]
