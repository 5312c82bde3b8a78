"""The HL7 codes admin page and API over the real app: admins see every code seen; nurses may not."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from monitor.service import Service
from monitor.store.hl7_codes import CodeCount, add_counts
from tests.dashboard.apiserver import login, served


@pytest.fixture
async def running(sqlite_url: str) -> AsyncIterator[tuple[Service, str]]:
    async with served(sqlite_url) as both:
        yield both


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
