"""The clinic rule set over the real API in one process: admins adopt (audited, versioned, in force at
once for new alarms); others may read; a proposal that is not a valid rule file is refused, not stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib import resources

import httpx
import pytest

from monitor.model import Reading, Vital
from monitor.service import Service
from monitor.store import audit as audit_store
from tests.dashboard.apiserver import login, served

DEFAULTS = resources.files("alerts").joinpath("defaults.toml").read_text(encoding="utf-8")
PROPOSAL = DEFAULTS.replace("limit = 85", "limit = 88", 1)  # spo2-critical, the first rule


@pytest.fixture
async def running(sqlite_url: str) -> AsyncIterator[tuple[Service, str]]:
    async with served(sqlite_url, beds={"chair-1": "Chair 1"}) as both:
        yield both


async def _spo2(service: Service, value: float, ts: float) -> None:
    await service.pipeline.submit([Reading(Vital.SPO2, value, "%", ts, "mon", bed="chair-1")])


async def test_an_admin_adopts_a_rule_set_that_judges_the_next_reading(running: tuple[Service, str]) -> None:
    service, base = running
    async with httpx.AsyncClient(base_url=base) as nurse, httpx.AsyncClient(base_url=base) as admin:
        await login(nurse, "nurse")
        await login(admin, "admin")
        first = (await nurse.get("/api/rules")).json()
        assert (first["version"], first["origin"], first["author"]) == (1, "configured", "configuration")
        assert first["rules_toml"] == DEFAULTS and first["rules"][0]["limit"] == 85.0

        await _spo2(service, 87.0, 1000.0)
        assert not service.live.alarms, "87 % is no alarm under the defaults"
        for who in ("nurse", "clinician"):
            async with httpx.AsyncClient(base_url=base) as other:
                await login(other, who)
                refused = await other.post("/api/rules/adopt", json={"rules_toml": PROPOSAL})
                assert refused.status_code == 403, f"{who} may not adopt"
        broken = await admin.post("/api/rules/adopt", json={"rules_toml": PROPOSAL.replace('op = "<"', 'op = "<<"', 1)})
        assert broken.status_code == 422 and "op must be one of" in broken.json()["detail"]
        r = await admin.post("/api/rules/adopt", json={"rules_toml": PROPOSAL, "note": "committee 2 Dec"})
        assert r.status_code == 200, r.text
        assert (r.json()["version"], r.json()["origin"], r.json()["author"]) == (2, "adopted", "admin")

        await _spo2(service, 87.5, 1001.0)
        [alarm] = service.live.alarms.values()
        assert (alarm.rule_id, alarm.limit, alarm.rule_set_version) == ("spo2-critical", 88.0, 2)
        versions = (await nurse.get("/api/rules/versions")).json()
        assert versions["in_force"] == 2 and [v["version"] for v in versions["versions"]] == [1, 2]
        assert "rules_toml" not in versions["versions"][0]
        assert (await nurse.get("/api/rules/versions/2")).json()["note"] == "committee 2 Dec"
        assert (await nurse.get("/api/rules/versions/9")).status_code == 404
    audit = [(a["action"], a["user"], a["target"]) for a in audit_store.read_audit(service.engine)]
    assert ("rules_adopt", "admin", "rule_set:2") in audit
    assert ("rules_configured", "configuration", "rule_set:1") in audit
    assert next(v for v in audit_store.read_audit(service.engine) if v["action"] == "rules_adopt")["detail"][
        "note"
    ] == ("committee 2 Dec")
