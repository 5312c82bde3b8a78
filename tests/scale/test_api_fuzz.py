"""The HTTP API fuzzed from its own OpenAPI schema (schemathesis): no input gives a 5xx.

Logged in as admin (the widest role) with the CSRF header, against a real
server with a real SQLite database and the real alarm engine. Logout is left
out (it would end the fuzzing session); login is fuzzed like the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from monitor.config import load_settings
from monitor.demo import ensure_demo_users
from monitor.service import build_service
from tests.scale.inproc import Running, serve

EXAMPLES_PER_OPERATION = 25


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    settings_ = load_settings(
        db_url=f"sqlite:///{tmp_path / 'ivmon.db'}",
        data_dir=tmp_path,
        beds={"chair-1": "Chair 1"},
        hl7={"enabled": False},
        http={"api_docs": True},  # the schema, for logged-in staff
        adapters=["sim://?beds=2&speed=20"],
    )
    service = build_service(settings_)
    ensure_demo_users(service)
    with serve(service) as r:
        yield r


def test_no_input_to_the_api_gives_a_server_error(running: Running) -> None:
    login = httpx.post(f"{running.base}/api/login", json={"username": "admin", "password": "demo"}, timeout=10)
    assert login.status_code == 200
    cookies = dict(login.cookies)
    headers = {"X-CSRF-Token": login.json()["csrf"]}
    assert httpx.get(f"{running.base}/openapi.json", timeout=10).status_code == 401, "the API's map needs a login"
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    schema = schemathesis.openapi.from_url(f"{running.base}/openapi.json", headers={"Cookie": cookie})
    failures: list[str] = []
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid operation fails the test here
        if operation.path == "/api/logout":
            continue
        tried += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case[Any]) -> None:
            response = case.call(base_url=running.base, headers=headers, cookies=cookies, timeout=15)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}")

        run()
    assert tried >= 8, "the schema must list the API's operations"
    assert not failures, "\n".join(failures[:20])
