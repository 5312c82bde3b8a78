"""Demo users (password "demo") exist only in demo databases: the demo will not touch real staff
accounts, and ``ivmon serve`` will not start on a database that holds demo users."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from argon2 import PasswordHasher

from dashboard.auth import hash_password
from monitor.store import auth as store_auth
from monitor.store import database, schema
from tests.conftest import free_port
from tests.scale.procs import ROOT, Server, write_config


def _ivmon(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_the_demo_refuses_a_database_with_real_users_and_leaves_them_as_they_were(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    engine = database.make_engine(url)
    database.upgrade(engine)
    store_auth.save_user(engine, "nurse", hash_password("the real one"), "nurse")  # a real nurse named "nurse"
    before = store_auth.other_user_names(engine)
    result = _ivmon("demo", "--db", url, "--port", str(free_port()), "--hl7-port", str(free_port()), "--beds", "1")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "refuses this database" in result.stderr and "nurse" in result.stderr
    assert store_auth.other_user_names(engine) == before and store_auth.demo_user_names(engine) == []
    with engine.connect() as conn:
        stored = conn.scalar(sa.select(schema.users.c.password_hash).where(schema.users.c.username == "nurse"))
    assert stored is not None and PasswordHasher().verify(stored, "the real one"), "the real password is untouched"


def test_serve_refuses_a_database_with_demo_users_and_names_the_command_that_removes_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ivmon.db'}"
    engine = database.make_engine(url)
    database.upgrade(engine)
    for name in ("nurse", "clinician", "admin"):
        store_auth.save_user(engine, name, hash_password("demo"), name, demo=True)
    config = write_config(tmp_path / "ivmon.toml", url)
    refused = _ivmon("serve", "--config", str(config), "--port", str(free_port()))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "demo users" in refused.stderr and "ivmon user remove-demo" in refused.stderr

    removed = _ivmon("user", "remove-demo", "--config", str(config))
    assert removed.returncode == 0 and "admin, clinician, nurse" in removed.stdout
    assert store_auth.demo_user_names(engine) == []
    server = Server(config, "all").start()
    try:
        assert server.wait_healthy()["status"] == "ok", "without demo users, serve starts"
    finally:
        server.stop()


def test_the_upgrade_marks_demo_users_of_older_databases(tmp_path: Path) -> None:
    engine = database.make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    database.upgrade(engine, "0004")
    with engine.begin() as conn:
        for name, password in (("nurse", "demo"), ("clinician", "demo"), ("admin", "not demo"), ("ward", "demo")):
            conn.execute(
                sa.text("INSERT INTO users (username, password_hash, role, created, active) VALUES (:n, :h, :r, 0, 1)"),
                {"n": name, "h": hash_password(password), "r": "nurse"},
            )
    database.upgrade(engine)
    assert store_auth.demo_user_names(engine) == ["clinician", "nurse"]
    assert store_auth.other_user_names(engine) == ["admin", "ward"]
