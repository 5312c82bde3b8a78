"""The HL7 codes admin page and API over the real app: admins see every code seen; nurses may not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from dashboard.app import create_app
from monitor.config import Hl7Settings, load_settings
from monitor.demo import ensure_demo_users
from monitor.service import Service, build_service
from monitor.store.hl7_codes import CodeCount, add_counts
from tests.conftest import free_port


@pytest.fixture
async def running(sqlite_url: str) -> AsyncIterator[tuple[Service, str]]:
    settings = load_settings(db_url=sqlite_url, hl7=Hl7Settings(enabled=False))
    service = build_service(settings)
    ensure_demo_users(service)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield service, f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def login(client: httpx.AsyncClient, user: str) -> None:
    r = await client.post("/api/login", json={"username": user, "password": "demo"})
    assert r.status_code == 200
    client.headers["X-CSRF-Token"] = r.json()["csrf"]


def seen(code: str, outcome: str, flagged: bool, count: int) -> CodeCount:
    return CodeCount("MON-1 @ 10.0.0.7", f"{code}^X^99V", "%", code, "X", "99V", "%", count, "97", outcome, flagged)


async def test_admin_lists_codes_nurse_may_not(running: tuple[Service, str]) -> None:
    service, base = running
    add_counts(service.engine, [seen("1", "spo2", False, 5), seen("2", "unmapped", True, 3)], now=1000.0)
    add_counts(service.engine, [seen("1", "spo2", False, 2)], now=2000.0)
    async with httpx.AsyncClient(base_url=base) as admin:
        await login(admin, "admin")
        rows = (await admin.get("/api/hl7/codes")).json()
        assert [(r["code"], r["count"], r["flagged"]) for r in rows] == [("2", 3, True), ("1", 7, False)]
        assert [r["code"] for r in (await admin.get("/api/hl7/codes", params={"since": 1500})).json()] == ["1"]
        page = await admin.get("/admin/hl7-codes")
        assert page.status_code == 200 and "HL7 codes" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
    async with httpx.AsyncClient(base_url=base) as nurse:
        await login(nurse, "nurse")
        assert (await nurse.get("/api/hl7/codes")).status_code == 403
        assert (await nurse.get("/admin/hl7-codes")).status_code == 403
    async with httpx.AsyncClient(base_url=base) as nobody:
        assert (await nobody.get("/api/hl7/codes")).status_code == 401
        assert (await nobody.get("/admin/hl7-codes")).status_code == 303
