"""X-Forwarded-For is believed only from configured reverse proxies (real ``ivmon serve`` processes).

uvicorn's default believes it from any process on the machine: a local user could then pose as any
address to the login throttle and the audit log.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from monitor.store import audit as audit_store
from monitor.store import database
from tests.scale.procs import PASSWORD, Server, add_user, write_config


def _login_ip(tmp_path: Path, name: str, extra: str) -> str:
    db_url = f"sqlite:///{tmp_path / f'{name}.db'}"
    add_user(db_url)
    server = Server(write_config(tmp_path / f"{name}.toml", db_url, extra=extra), "all").start()
    try:
        server.wait_healthy()
        r = httpx.post(
            f"{server.base}/api/login",
            json={"username": "nurse1", "password": PASSWORD},
            headers={"X-Forwarded-For": "10.66.0.7"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
    finally:
        server.stop()
    login = next(a for a in audit_store.read_audit(database.make_engine(db_url)) if a["action"] == "login")
    return str(login["detail"]["ip"])


def test_forwarded_addresses_count_only_from_trusted_proxies(tmp_path: Path) -> None:
    assert _login_ip(tmp_path, "plain", "") == "127.0.0.1", "no proxy configured: the header is ignored"
    trusted = '[http]\ntrusted_proxies = ["127.0.0.1/32"]'
    assert _login_ip(tmp_path, "proxied", trusted) == "10.66.0.7", "from the configured proxy: believed"
