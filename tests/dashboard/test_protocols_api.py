"""GET /api/protocols, the dose preview, POST /api/sessions with a protocol, and the schedule, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.model import Phase
from tests.dashboard.liveserver import LiveServer, running
from tests.dashboard.test_live_server import login

BEDS = ["chair-1", "chair-2"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with running(tmp_path, BEDS) as srv:
        yield srv


def test_every_role_lists_the_protocols_and_anonymous_gets_401(server: LiveServer) -> None:
    assert httpx.get(server.base + "/api/protocols").status_code == 401
    for role in ("nurse", "clinician", "admin"):
        with login(server.base, role) as client:
            res = client.get("/api/protocols")
            assert res.status_code == 200, res.text
            listed = {p["id"]: p for p in res.json()}
            assert set(listed) == {"im-ketamine", "in-esketamine", "iv-ketamine-depression", "iv-ketamine-pain"}
            assert listed["in-esketamine"]["records"] == ["record", "rems"]
            assert listed["iv-ketamine-depression"]["sources"]


def test_dose_preview_shows_the_arithmetic_and_refuses_a_dose_outside_the_protocol(server: LiveServer) -> None:
    with login(server.base, "nurse") as nurse:
        res = nurse.get("/api/protocols/iv-ketamine-depression/dose", params={"weight_kg": 70})
        assert res.status_code == 200, res.text
        assert res.json()["arithmetic"] == "0.5 mg/kg x 70 kg = 35 mg over 40 min = 52.5 mg/h"
        bad = nurse.get("/api/protocols/iv-ketamine-depression/dose", params={"weight_kg": 70, "dose_mg_per_kg": 1.5})
        assert bad.status_code == 422 and "0.1-1 mg/kg" in bad.text
        assert nurse.get("/api/protocols/no-such/dose").status_code == 422
        assert nurse.get("/api/protocols/NOT..valid/dose").status_code == 422


def test_a_session_started_with_a_protocol_records_dose_per_kg_mg_and_rate(server: LiveServer) -> None:
    with login(server.base, "nurse") as nurse:
        res = nurse.post(
            "/api/sessions",
            json={"bed": "chair-1", "patient_ref": "PT-1", "weight_kg": 70, "protocol": "iv-ketamine-depression"},
        )
        assert res.status_code == 201, res.text
        body = res.json()
        assert (body["protocol"], body["dose_mg_per_kg"], body["dose_mg"], body["rate_mg_per_h"]) == (
            "iv-ketamine-depression",
            0.5,
            35.0,
            52.5,
        )
        assert body["dose_arithmetic"] == "0.5 mg/kg x 70 kg = 35 mg over 40 min = 52.5 mg/h"
        stored = nurse.get(f"/api/sessions/{body['id']}").json()
        assert (stored["protocol"], stored["dose_mg_per_kg"], stored["dose_mg"]) == (
            "iv-ketamine-depression",
            0.5,
            35.0,
        )
        schedule = nurse.get(f"/api/sessions/{body['id']}/schedule").json()
        assert schedule["dose_arithmetic"] == body["dose_arithmetic"]
        assert [c["status"] for c in schedule["checkpoints"]][:2] == ["pending", "pending"]
        # Refusals: a dose outside the protocol, a typed dose that disagrees, an unknown protocol, mg/kg alone.
        for bad, why in (
            ({"protocol": "iv-ketamine-depression", "weight_kg": 70, "dose_mg_per_kg": 2}, "outside"),
            ({"protocol": "iv-ketamine-depression", "weight_kg": 70, "dose_mg": 50}, "does not match"),
            ({"protocol": "iv-ketamine-everything"}, "known:"),
            ({"dose_mg_per_kg": 0.5, "weight_kg": 70}, "need a protocol"),
            ({"protocol": "in-esketamine", "dose_mg": 70}, "56 or 84"),
        ):
            refused = nurse.post("/api/sessions", json={"bed": "chair-2", "patient_ref": "PT-2", **bad})
            assert refused.status_code == 422 and why in refused.text, (bad, refused.text)
        fixed = nurse.post(
            "/api/sessions",
            json={"bed": "chair-2", "patient_ref": "PT-2", "weight_kg": 70, "protocol": "in-esketamine", "dose_mg": 84},
        )
        assert fixed.status_code == 201, fixed.text
        assert fixed.json()["dose_arithmetic"] == "84 mg intranasal (fixed dose)"
        assert fixed.json()["rate_mg_per_h"] is None
    with login(server.base, "clinician") as clinician:
        assert clinician.get(f"/api/sessions/{body['id']}/schedule").status_code == 200
    assert httpx.get(f"{server.base}/api/sessions/{body['id']}/schedule").status_code == 401


def test_the_schedule_counts_a_recorded_assessment_against_its_checkpoint(server: LiveServer) -> None:
    svc = server.service
    assert svc is not None
    now = svc.clock.now()
    session = server.call(
        lambda: svc.sessions.start("chair-1", "PT-7", "nurse", protocol="iv-ketamine-depression", ts=now - 1800)
    )
    server.call(lambda: svc.sessions.change_phase(session.id, Phase.INFUSION, "nurse", ts=now - 25 * 60))
    with login(server.base, "nurse") as nurse:
        before = nurse.get(f"/api/sessions/{session.id}/schedule").json()
        moaas = next(c for c in before["checkpoints"] if c["label"] == "MOAA/S at 20 min")
        assert moaas["status"] == "overdue"
        assert before["next_assessment"]["label"] == "MOAA/S and CADSS-6 at 40 min"
        scored = nurse.post(f"/api/sessions/{session.id}/assessments", json={"scale": "moaas", "score": 4})
        assert scored.status_code == 201, scored.text
        after = nurse.get(f"/api/sessions/{session.id}/schedule").json()
        moaas = next(c for c in after["checkpoints"] if c["label"] == "MOAA/S at 20 min")
        assert moaas["status"] == "late" and moaas["taken_at"] is not None
