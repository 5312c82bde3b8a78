"""The one-tap "actionable?" answer over the real API: with the acknowledgement or right after it,
stored (kept when the engine rewrites the alarm), audited, refused without login or CSRF token,
counted in the statistics."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from monitor.model import Reading, Vital
from monitor.service import Service
from monitor.store import alarms as alarm_store
from monitor.store import audit as audit_store
from monitor.store import schema
from tests.dashboard.apiserver import login, served


@pytest.fixture(params=["sqlite", "postgres"])
async def running(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Service, str]]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    async with served(url, beds={"chair-1": "Chair 1"}) as both:
        yield both


async def _alarm(service: Service, spo2: float, ts: float) -> str:
    """spo2-critical (< 85, no delay, always on) opens at ``ts``."""
    await service.pipeline.submit([Reading(Vital.SPO2, spo2, "%", ts, "mon", bed="chair-1")])
    [alarm] = [a for a in service.live.alarms.values() if a.rule_id == "spo2-critical" and a.ended is None]
    return alarm.id


def _stored(service: Service, alarm_id: str) -> tuple[bool | None, str]:
    with service.engine.connect() as conn:
        row = conn.execute(
            select(schema.alarms.c.actionable, schema.alarms.c.state).where(schema.alarms.c.id == alarm_id)
        ).one()
    return row[0], row[1]


async def test_acknowledge_with_the_answer_is_one_request_stored_and_audited(running: tuple[Service, str]) -> None:
    service, base = running
    alarm_id = await _alarm(service, 80.0, 1000.0)
    async with httpx.AsyncClient(base_url=base) as anonymous:
        r = await anonymous.post(f"/api/alarms/{alarm_id}/acknowledge", json={"actionable": True})
        assert r.status_code == 401
    async with httpx.AsyncClient(base_url=base) as nurse:
        await login(nurse, "nurse")
        csrf = nurse.headers.pop("X-CSRF-Token")
        r = await nurse.post(f"/api/alarms/{alarm_id}/acknowledge", json={"actionable": True})
        assert r.status_code == 403, "a state-changing request without the CSRF token"
        nurse.headers["X-CSRF-Token"] = csrf
        bad = await nurse.post(f"/api/alarms/{alarm_id}/acknowledge", json={"actionable": "maybe"})
        assert bad.status_code == 422
        r = await nurse.post(f"/api/alarms/{alarm_id}/acknowledge", json={"actionable": True})
        assert r.status_code == 200, r.text
        body = r.json()
    assert (body["state"], body["acknowledged_by"], body["actionable"]) == ("acknowledged", "nurse", True)
    assert _stored(service, alarm_id) == (True, "acknowledged")
    # The engine rewrites the alarm's row when it resolves: its copy has no answer, the stored one stays.
    await service.pipeline.submit([Reading(Vital.SPO2, 97.0, "%", 1010.0, "mon", bed="chair-1")])
    await service.writer.durable()
    assert _stored(service, alarm_id) == (True, "resolved")
    audit = [(a["action"], a["user"], a["target"]) for a in audit_store.read_audit(service.engine)]
    assert ("alarm_acknowledge", "nurse", f"alarm:{alarm_id}") in audit
    assert ("alarm_actionable", "nurse", f"alarm:{alarm_id}") in audit
    history = [(h["transition"], h["user"]) for h in alarm_store.alarm_history(service.engine, [alarm_id])]
    assert ("actionable", "nurse") in history


async def test_the_answer_given_after_the_alarm_left_the_screen_and_counted(running: tuple[Service, str]) -> None:
    service, base = running
    alarm_id = await _alarm(service, 80.0, 1000.0)
    async with httpx.AsyncClient(base_url=base) as nurse:
        await login(nurse, "nurse")
        assert (await nurse.post(f"/api/alarms/{alarm_id}/acknowledge")).status_code == 200  # no answer: still fine
        await service.pipeline.submit([Reading(Vital.SPO2, 97.0, "%", 1010.0, "mon", bed="chair-1")])
        assert alarm_id not in service.live.alarms, "acknowledged and resolved: off the screens"
        assert _stored(service, alarm_id)[0] is None, "not answered"
        r = await nurse.post(f"/api/alarms/{alarm_id}/actionable", json={"actionable": False})
        assert r.status_code == 200 and r.json() == {"id": alarm_id, "actionable": False}
        missing = await nurse.post("/api/alarms/no-such-alarm/actionable", json={"actionable": False})
        assert missing.status_code == 404
        second = await _alarm(service, 82.0, 1100.0)
        r = await nurse.post(f"/api/alarms/{second}/acknowledge", json={"actionable": True})
        assert r.status_code == 200
        await service.pipeline.submit([Reading(Vital.SPO2, 97.0, "%", 1150.0, "mon", bed="chair-1")])
        await _alarm(service, 81.0, 1200.0)  # never answered
    assert _stored(service, alarm_id)[0] is False
    async with httpx.AsyncClient(base_url=base) as clinician:
        await login(clinician, "clinician")
        params: dict[str, str | int] = {"by": "rule", "from": 0, "to": 86_400}
        body = (await clinician.get("/api/alarms/stats", params=params)).json()
    [row] = [g for g in body["groups"] if g["rule"] == "spo2-critical"]
    assert (row["count"], row["answered"], row["actionable"], row["actionable_share"]) == (3, 2, 1, 0.5)
