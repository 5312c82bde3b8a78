"""Fixtures shared by the whole suite: databases, free ports, and the rule that CI runs everything.

The recordings the tests read are in ``tests/fixtures`` (see its SOURCES.md): a clone alone passes.
Under CI (``CI=true``, or ``IVMON_REQUIRE_SERVICES=1``, which ``.ci/run`` sets) a required service that is
missing (PostgreSQL; Chromium fails everywhere) fails the test instead of skipping it, and a run that
skipped anything fails: a green CI means every test ran.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import Engine, create_engine, text

from monitor.store import database

#: PostgreSQL used by the storage tests (this machine: trust auth, database ``test``).
PG_ADMIN_URL = os.environ.get("IVMON_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def services_required() -> bool:
    """True on CI: a missing service is an error there, not a reason to skip."""
    flags = (os.environ.get("CI", ""), os.environ.get("IVMON_REQUIRE_SERVICES", ""))
    return any(flag.strip().lower() in ("1", "true", "yes") for flag in flags)


def missing_service(reason: str) -> NoReturn:
    """Skip on a developer's machine, fail on CI."""
    if services_required():
        pytest.fail(f"{reason} (required under CI)", pytrace=False)
    pytest.skip(reason)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """On CI a skipped test fails the run: otherwise CI could pass with a part of the suite never run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter is not None else 0
    if services_required() and skipped and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter is not None:
            reporter.write_line(f"FAILED: {skipped} test(s) skipped under CI; every test must run there", red=True)


_handed_out: set[int] = set()


def free_port() -> int:
    """A port free now and not handed out before by this process.

    The kernel may offer the same free port to two binds in a row: a test that takes
    one for its HL7 listener and one for HTTP would get one port for both.
    """
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ivmon.db'}"


def _pg_reachable() -> str | None:
    try:
        eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    problem = _pg_reachable()
    if problem is not None:
        missing_service(f"PostgreSQL not reachable at {PG_ADMIN_URL} ({problem}); set IVMON_TEST_PG_URL")
    name = f"ivmon_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same storage test on SQLite and on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ivmon.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def migrated_engine(db_url: str) -> Iterator[Engine]:
    engine = database.make_engine(db_url)
    database.upgrade(engine)
    yield engine
    engine.dispose()
