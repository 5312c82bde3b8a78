"""First run: no default password. With no users, the server issues a one-time link to create the first admin.

The token is random, kept only as its SHA-256, valid once and for one hour,
and worthless as soon as any user exists.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

SETUP_VALID_S = 3600.0


@dataclass(slots=True)
class SetupToken:
    digest: str
    expires: float
    used: bool = False

    @classmethod
    def issue(cls, now: float | None = None, valid_s: float = SETUP_VALID_S) -> tuple[str, SetupToken]:
        token = secrets.token_urlsafe(24)
        # machine time: the setup token's validity.
        now = time.time() if now is None else now
        return token, cls(hashlib.sha256(token.encode()).hexdigest(), now + valid_s)

    def check(self, token: str, now: float | None = None) -> str | None:
        """None when ``token`` may be used now, else why not."""
        # machine time: the setup token's validity.
        now = time.time() if now is None else now
        if self.used:
            return "this setup link was already used"
        if now > self.expires:
            return "this setup link has expired; restart the server for a new one"
        if not secrets.compare_digest(hashlib.sha256(token.encode()).hexdigest(), self.digest):
            return "wrong setup token"
        return None


def setup_link(host: str, port: int, token: str) -> str:
    shown = "localhost" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}/setup?token={token}"
