"""Engine creation (SQLite in WAL mode, or PostgreSQL) and migrations on start."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import URL, Engine, create_engine, event, inspect, make_url

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
#: Seconds a new PostgreSQL connection may take (libpq's minimum is 2): one takes milliseconds.
PG_CONNECT_TIMEOUT_S = 5


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            private_file(Path(path))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL: readers never block the writer; synchronous=FULL keeps a commit durable
            # across power loss, which an HL7 AA promises.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(postgres_url(url), pool_pre_ping=True, pool_size=10, max_overflow=10)


def private_folder(folder: Path) -> None:
    """The service's data folder: readable by the service's user only (patients' readings, raw HL7)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_uid == os.getuid():
        folder.chmod(0o700)


def private_file(path: Path) -> None:
    """The SQLite database 0600 before SQLite opens it (its -wal and -shm files take the same mode);
    a folder made for it, 0700. An existing folder is left as it is: it may be anyone's (``/srv``)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and file.stat().st_uid == os.getuid():
            file.chmod(0o600)


def postgres_url(url: str) -> URL:
    """The psycopg driver, and a connect timeout unless the URL sets one (``?connect_timeout=``).

    psycopg's default is 130 s: while the database host does not answer, each attempt to
    reconnect would hold the writer that long, and keep holding it after the database is back
    (every monitor waiting for its ACK meanwhile).
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    parsed = make_url(url)
    if "connect_timeout" in parsed.query:
        return parsed
    return parsed.update_query_dict({"connect_timeout": str(PG_CONNECT_TIMEOUT_S)})


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent; runs on every start)."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    log.info("database schema at %s (%s)", revision, engine.dialect.name)


def has_schema(engine: Engine) -> bool:
    return inspect(engine).has_table("alembic_version")
