"""The alarm committee's statistics over the real API, from alarms stored by the real pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from monitor.model import Reading, Vital
from monitor.service import Service
from tests.dashboard.apiserver import login, served


@pytest.fixture
async def running(sqlite_url: str) -> AsyncIterator[tuple[Service, str]]:
    async with served(sqlite_url, beds={"chair-1": "Chair 1"}) as both:
        yield both


async def test_stats_by_rule_count_acknowledgement_and_self_resolution(running: tuple[Service, str]) -> None:
    service, base = running
    s = await service.sessions.start("chair-1", "P-1", "nurse", ts=1000.0)
    # spo2-critical (< 85, no delay): one episode that ends by itself after 5 s ...
    await service.pipeline.submit([Reading(Vital.SPO2, 80.0, "%", 1010.0, "mon", bed="chair-1")])
    await service.pipeline.submit([Reading(Vital.SPO2, 97.0, "%", 1015.0, "mon", bed="chair-1")])
    # ... and one acknowledged by a nurse
    await service.pipeline.submit([Reading(Vital.SPO2, 82.0, "%", 1100.0, "mon", bed="chair-1")])
    [open_alarm] = [a for a in service.live.alarms.values() if a.rule_id == "spo2-critical" and a.ended is None]
    async with httpx.AsyncClient(base_url=base) as nurse:
        await login(nurse, "nurse")
        assert (await nurse.post(f"/api/alarms/{open_alarm.id}/acknowledge")).status_code == 200
        assert (await nurse.get("/api/alarms/stats")).status_code == 403, "statistics are for clinicians and admins"
    await service.writer.durable()
    async with httpx.AsyncClient(base_url=base) as clinician:
        await login(clinician, "clinician")
        # The alarms are stamped in 1970: the default range (the last 30 days) would not hold them.
        params: dict[str, str | int] = {"by": "rule", "window_s": 15, "from": 0, "to": 86_400}
        body = (await clinician.get("/api/alarms/stats", params=params)).json()
    [row] = [g for g in body["groups"] if g["rule"] == "spo2-critical"]
    assert row["kind"] == "physiological" and row["count"] == 2
    assert row["acknowledged_share"] == 0.5
    assert row["self_resolved_share"] == 0.5
    assert s.id


async def test_a_site_wide_storage_alarm_can_be_acknowledged(running: tuple[Service, str]) -> None:
    from monitor.outage import INGEST_MESSAGE, OutageAlarm
    from monitor.store import alarms as alarm_store
    from monitor.store import audit as audit_store

    service, base = running
    outage = OutageAlarm(
        prefix="storage",
        message=INGEST_MESSAGE,
        alarms=service.alarms,
        record=service.pipeline.record_alarm_changes,
        after_s=0.0,
    )
    outage.update(True, 100.0)
    assert outage.alarm is not None
    alarm_id = outage.alarm.id
    async with httpx.AsyncClient(base_url=base) as nurse:
        await login(nurse, "nurse")
        r = await nurse.post(f"/api/alarms/{alarm_id}/acknowledge")
        assert r.status_code == 200, r.text
        assert r.json()["acknowledged_by"] == "nurse"
    [stored] = [a for a in alarm_store.open_alarms(service.engine) if a.id == alarm_id]
    assert stored.acknowledged_by == "nurse"
    assert audit_store.read_audit(service.engine)[0]["action"] == "alarm_acknowledge"
