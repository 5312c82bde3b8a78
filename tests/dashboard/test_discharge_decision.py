"""Discharge that means it, over HTTP: the escort's relation is recorded; before the criteria are met a
discharge needs the reason and who decided (audited); both appear in the session's API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from alerts.engine import AlarmEngine
from monitor.model import Phase, Vital
from monitor.store import audit as audit_store
from tests.dashboard.liveserver import LiveServer, running
from tests.dashboard.test_live_server import login

BEDS = ["chair-1", "chair-2"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with running(tmp_path, BEDS) as srv:
        yield srv


def _in_recovery(server: LiveServer, client: httpx.Client, bed: str) -> int:
    res = client.post(
        "/api/sessions",
        json={"bed": bed, "patient_ref": f"PT-{bed}", "weight_kg": 70, "protocol": "iv-ketamine-depression"},
    )
    assert res.status_code == 201, res.text
    sid = int(res.json()["id"])
    for phase in ("infusion", "recovery"):
        moved = client.post(f"/api/sessions/{sid}/phase", json={"phase": phase})
        assert moved.status_code == 200, moved.text
    return sid


def test_discharge_before_the_criteria_needs_a_reason_and_who_decided_and_records_the_escort(
    server: LiveServer,
) -> None:
    with login(server.base, "nurse") as nurse:
        sid = _in_recovery(server, nurse, "chair-1")
        url = f"/api/sessions/{sid}/phase"
        readiness = nurse.get(f"/api/sessions/{sid}/discharge").json()
        assert readiness["ready"] is False and readiness["criteria"]["min_recovery_min"] == 30
        no_escort = nurse.post(url, json={"phase": "discharged"})
        assert no_escort.status_code == 422 and "escort" in no_escort.text
        no_relation = nurse.post(url, json={"phase": "discharged", "escort_confirmed": True, "escort_relation": " "})
        assert no_relation.status_code == 422 and "relation" in no_relation.text
        escort = {"phase": "discharged", "escort_confirmed": True, "escort_relation": "partner", "escort_name": "Sam"}
        no_reason = nurse.post(url, json=escort)
        assert no_reason.status_code == 422
        assert "criteria not met" in no_reason.text and "of 30 min since the infusion stopped" in no_reason.text
        no_decider = nurse.post(url, json={**escort, "discharge_reason": "patient insists, stable"})
        assert no_decider.status_code == 422 and "decided_by" in no_decider.text
        assert server.service is not None and sid in server.service.sessions.by_id, "still open after refusals"
        done = nurse.post(url, json={**escort, "discharge_reason": "patient insists, stable", "decided_by": "Dr Lee"})
        assert done.status_code == 200, done.text
        assert done.json()["discharge"] == {
            "escort_relation": "partner",
            "escort_name": "Sam",
            "reason": "patient insists, stable",
            "decided_by": "Dr Lee",
        }
        stored = nurse.get(f"/api/sessions/{sid}").json()
        assert stored["phase"] == "discharged" and stored["discharge"]["decided_by"] == "Dr Lee"
    with login(server.base, "clinician") as clinician:  # the review reads it too
        listed = clinician.get("/api/sessions", params={"bed": "chair-1"}).json()
        assert listed[0]["discharge"]["escort_relation"] == "partner"
    assert server.service is not None
    audit = audit_store.read_audit(server.service.engine)
    decision = next(a for a in audit if a["action"] == "discharge_decision")
    assert decision["user"] == "nurse" and decision["detail"]["criteria_met"] is False
    assert decision["detail"]["decided_by"] == "Dr Lee" and decision["detail"]["criteria_not_met"]
    phase = next(a for a in audit if a["action"] == "session_phase" and a["detail"]["phase"] == "discharged")
    assert phase["detail"]["escort_relation"] == "partner" and "Sam" not in str(phase["detail"])


def test_discharge_with_the_criteria_met_takes_no_reason_and_keeps_when_the_patient_was_ready(
    server: LiveServer,
) -> None:
    svc = server.service
    assert svc is not None
    # A session (no protocol: a backdated one would have missed its checkpoints) whose recovery started
    # an hour ago, with readings within the criteria: met as soon as two cuff readings are in.
    server.feeder.nibp_s = 1.0
    now = svc.clock.now()
    session = server.call(lambda: svc.sessions.start("chair-2", "PT-9", "nurse", ts=now - 3 * 3600))
    server.call(lambda: svc.sessions.change_phase(session.id, Phase.INFUSION, "nurse", ts=now - 2 * 3600))
    server.call(lambda: svc.sessions.change_phase(session.id, Phase.RECOVERY, "nurse", ts=now - 3600))
    engine = svc.alarms
    assert isinstance(engine, AlarmEngine)
    for vital, value in ((Vital.SBP, 122.0), (Vital.DBP, 78.0), (Vital.HR, 71.0)):
        engine.set_baseline(session.id, vital, value)
    with login(server.base, "nurse") as nurse:
        for _ in range(100):  # the scripted monitor sends HR/SpO2 every second and a cuff reading every minute
            ready = nurse.get(f"/api/sessions/{session.id}/discharge").json()
            if ready["ready"]:
                break
            time.sleep(0.2)
        assert ready["ready"], ready
        assert ready["ready_at"] is not None
        done = nurse.post(
            f"/api/sessions/{session.id}/phase",
            json={"phase": "discharged", "escort_confirmed": True, "escort_relation": "son"},
        )
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["discharge"]["reason"] is None and body["discharge"]["escort_relation"] == "son"
        assert body["ready_at"] == ready["ready_at"]
    assert httpx.post(f"{server.base}/api/sessions/{session.id}/phase", json={"phase": "aborted"}).status_code in (
        401,
        403,
    )
