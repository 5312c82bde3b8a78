"""Fixtures shared by the whole suite: the shared real-data folder, databases, a running server."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from monitor.store import database

#: PostgreSQL used by the storage tests (this machine: trust auth, database ``test``).
PG_ADMIN_URL = os.environ.get("IVMON_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real recorded data beside the checkout (../shared/data); skips when absent."""
    root = Path(os.environ.get("IVMON_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    if not root.is_dir():
        pytest.skip(f"shared test data not found at {root} (set IVMON_SHARED_DATA)")
    return root


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
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL} ({problem}); set IVMON_TEST_PG_URL")
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
