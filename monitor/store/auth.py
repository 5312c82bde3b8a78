"""Users, logins (web sessions) and the login throttle: the SQL behind ``dashboard.auth``.

Everything here is shared by every web process through the database: a login ended in one
process (logout, a role or password change, a disabled user) is gone for all of them, and the
throttle counts attempts from every process in one place.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from monitor.store import schema

users = schema.users
logins = schema.web_sessions
throttle = schema.login_throttle


# -- users -------------------------------------------------------------------------------------
def get_user(engine: Engine, username: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(schema.users).where(schema.users.c.username == username)).first()
        return dict(row._mapping) if row else None


def count_users(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(schema.users)) or 0)


def save_user(engine: Engine, username: str, password_hash: str, role: str, *, demo: bool = False) -> bool:
    """Create the user, or reset its password and role (and enable it); True if it existed.

    Every login of an existing user ends in the same transaction: a demoted clinician must not keep
    exporting, and a reset password must lock out whoever knew the old one.
    """
    with engine.begin() as conn:
        exists = conn.execute(select(users.c.id).where(users.c.username == username)).first() is not None
        if exists:
            conn.execute(
                update(users)
                .where(users.c.username == username)
                .values(password_hash=password_hash, role=role, active=True, demo=demo)
            )
            _end_logins_of(conn, username)
        else:
            conn.execute(
                insert(users).values(
                    username=username,
                    password_hash=password_hash,
                    role=role,
                    # machine time: logins and accounts are the machine's (monitor/clock.py).
                    created=time.time(),
                    active=True,
                    demo=demo,
                )
            )
        return exists


def disable_user(engine: Engine, username: str) -> bool:
    """The user can no longer log in and every login of theirs ends; False if there is no such user."""
    with engine.begin() as conn:
        done = conn.execute(update(users).where(users.c.username == username).values(active=False)).rowcount
        _end_logins_of(conn, username)
        return bool(done)


def demo_user_names(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(select(users.c.username).where(users.c.demo.is_(True)).order_by(users.c.username)))


def other_user_names(engine: Engine) -> list[str]:
    """Users that are not demo users (real staff)."""
    with engine.connect() as conn:
        return list(conn.scalars(select(users.c.username).where(users.c.demo.is_(False)).order_by(users.c.username)))


def remove_demo_users(engine: Engine) -> list[str]:
    """Delete the demo users and their logins; their names."""
    with engine.begin() as conn:
        names = list(conn.scalars(select(users.c.username).where(users.c.demo.is_(True)).order_by(users.c.username)))
        if names:
            conn.execute(delete(logins).where(logins.c.username.in_(names)))
            conn.execute(delete(users).where(users.c.username.in_(names)))
        return names


# -- logins ------------------------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class LoginRow:
    username: str
    role: str
    csrf: str
    expires: float
    last_active: float


def create_login(
    engine: Engine, token_hash: str, username: str, role: str, csrf: str, now: float, expires: float
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(logins).values(
                token_hash=token_hash,
                username=username,
                role=role,
                csrf=csrf,
                created=now,
                expires=expires,
                last_active=now,
            )
        )


def _valid_logins() -> Any:
    """Logins whose user is still active with the role the login was made with."""
    return (
        select(
            logins.c.token_hash,
            logins.c.username,
            logins.c.role,
            logins.c.csrf,
            logins.c.expires,
            func.coalesce(logins.c.last_active, logins.c.created).label("last_active"),
        )
        .select_from(logins.join(users, users.c.username == logins.c.username))
        .where(users.c.active.is_(True), users.c.role == logins.c.role)
    )


def find_login(engine: Engine, token_hash: str) -> LoginRow | None:
    with engine.connect() as conn:
        row = conn.execute(_valid_logins().where(logins.c.token_hash == token_hash)).first()
    if row is None:
        return None
    return LoginRow(row.username, row.role, row.csrf, float(row.expires), float(row.last_active))


def valid_logins(engine: Engine, token_hashes: Iterable[str]) -> dict[str, LoginRow]:
    """Which of these logins still hold (one query for every screen of a web process)."""
    wanted = list(set(token_hashes))
    if not wanted:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(_valid_logins().where(logins.c.token_hash.in_(wanted))).all()
    return {r.token_hash: LoginRow(r.username, r.role, r.csrf, float(r.expires), float(r.last_active)) for r in rows}


def touch_logins(engine: Engine, token_hashes: Iterable[str], now: float) -> None:
    wanted = list(set(token_hashes))
    if wanted:
        with engine.begin() as conn:
            conn.execute(update(logins).where(logins.c.token_hash.in_(wanted)).values(last_active=now))


def end_login(engine: Engine, token_hash: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(logins).where(logins.c.token_hash == token_hash))


def _end_logins_of(conn: Connection, username: str) -> None:
    conn.execute(delete(logins).where(logins.c.username == username))


def end_stale_logins(engine: Engine, now: float) -> int:
    with engine.begin() as conn:
        return int(conn.execute(delete(logins).where(logins.c.expires < now)).rowcount or 0)


# -- the login throttle --------------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class ThrottleKey:
    """One counter: ``budget`` attempts, then each one more waits ``base_s`` doubled, at most ``max_s``."""

    key: str
    budget: int
    max_s: float
    base_s: float = 1.0

    def delay(self, attempts: int) -> float:
        if attempts < self.budget:
            return 0.0
        return min(self.max_s, self.base_s * 2.0 ** min(attempts - self.budget, 30))


def _insert_missing(conn: Connection, key: str, now: float) -> None:
    values = {"key": key, "failures": 0, "blocked_until": 0.0, "updated": now}
    if conn.dialect.name == "postgresql":
        conn.execute(postgresql.insert(throttle).values(values).on_conflict_do_nothing(index_elements=["key"]))
    else:
        conn.execute(sqlite.insert(throttle).values(values).on_conflict_do_nothing(index_elements=["key"]))


class _Blocked(Exception):
    def __init__(self, wait: float) -> None:
        self.wait = wait


def reserve_attempt(
    engine: Engine,
    keys: list[ThrottleKey],
    now: float,
    *,
    forget_s: float,
    skip_if_known: tuple[str, str] | None = None,
) -> float:
    """Count one attempt against every key, all or none; 0.0 to go ahead, else the seconds to wait.

    The attempt counts as a failure *before* the password is checked (a success gives it back), and
    the check and the count are one atomic step on rows every process shares: of a burst of
    concurrent guesses only the budget passes, whichever process each one reaches.
    ``skip_if_known`` = (key to drop, known-marker key): the account-wide counter does not apply at
    an address where this account has logged in before, so guesses from elsewhere cannot lock it out.
    """
    ordered = sorted(keys, key=lambda k: k.key)  # one lock order for every process: no deadlock
    try:
        with engine.begin() as conn:
            for k in ordered:  # writes first: on SQLite the transaction then holds the write lock throughout
                _insert_missing(conn, k.key, now)
            if skip_if_known is not None:
                skip, marker = skip_if_known
                if conn.scalar(select(throttle.c.updated).where(throttle.c.key == marker)) is not None:
                    ordered = [k for k in ordered if k.key != skip]
            counts: dict[str, int] = {}
            for k in ordered:
                row = conn.execute(
                    update(throttle)
                    .where(throttle.c.key == k.key, throttle.c.blocked_until <= now)
                    .values(
                        failures=case((throttle.c.updated < now - forget_s, 1), else_=throttle.c.failures + 1),
                        updated=now,
                    )
                    .returning(throttle.c.failures)
                ).first()
                if row is None:  # blocked: nothing of this attempt is counted
                    until = conn.scalar(select(throttle.c.blocked_until).where(throttle.c.key == k.key))
                    raise _Blocked(max(0.0, float(until or now) - now))
                counts[k.key] = int(row.failures)
            for k in ordered:
                wait = k.delay(counts[k.key])
                if wait > 0:
                    conn.execute(update(throttle).where(throttle.c.key == k.key).values(blocked_until=now + wait))
    except _Blocked as blocked:
        return max(blocked.wait, 0.001)
    return 0.0


def attempt_succeeded(
    engine: Engine,
    keys: list[ThrottleKey],
    reset: str,
    now: float,
    *,
    known_marker: str,
    known_prefix: str,
    known_keep_s: float,
) -> None:
    """A right password: the attempt was no failure. ``reset``'s counter starts afresh; the others
    give the attempt back (the account proved here, not everywhere). ``known_marker`` records the
    address as one this account logs in from."""
    with engine.begin() as conn:
        conn.execute(delete(throttle).where(throttle.c.key == reset))
        for k in keys:
            if k.key == reset:
                continue
            conn.execute(
                update(throttle)
                .where(throttle.c.key == k.key)
                .values(failures=case((throttle.c.failures > 0, throttle.c.failures - 1), else_=0))
            )
            conn.execute(
                update(throttle)
                .where(throttle.c.key == k.key, throttle.c.failures < k.budget)
                .values(blocked_until=0.0)
            )
        _insert_missing(conn, known_marker, now)
        conn.execute(update(throttle).where(throttle.c.key == known_marker).values(updated=now))
        prune_throttle(conn, now, known_prefix, known_keep_s)


def prune_throttle(
    conn: Connection, now: float, known_prefix: str, known_keep_s: float, forget_s: float = 86_400
) -> None:
    """Forget counters quiet for a day (and not blocking), and known addresses unused for ``known_keep_s``."""
    known = throttle.c.key.startswith(known_prefix)
    conn.execute(
        delete(throttle).where(and_(~known, throttle.c.updated < now - forget_s, throttle.c.blocked_until < now))
    )
    conn.execute(delete(throttle).where(and_(known, throttle.c.updated < now - known_keep_s)))
