"""Assessments, drugs given, adverse events, the dose given and the record's identifiers, through the real
app and storage: who may record them, what a wrong entry gets (422 with the reason), and the audit trail."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dashboard.app import create_app
from monitor.service import Service
from monitor.store import audit as audit_store
from monitor.store import database
from monitor.store import sessions as session_store
from tests.dashboard.appclient import demo_service, login
from tests.dashboard.review_seed import known_session, seed


@pytest.fixture
def service(tmp_path: Path) -> Service:
    url = f"sqlite:///{tmp_path / 'treatment.db'}"
    engine = database.make_engine(url)
    database.upgrade(engine)
    asyncio.run(seed(engine, known_session(), dose=35.0))
    engine.dispose()
    return demo_service(url, beds={"chair-1": "Chair 1", "chair-2": "Chair 2"})


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service)) as c:
        yield c


def open_session(client: TestClient, **extra: Any) -> int:
    login(client, "nurse")
    body = {"bed": "chair-1", "patient_ref": "PT-77", "weight_kg": 80, "dose_mg": 40, "rate_mg_per_h": 60, **extra}
    r = client.post("/api/sessions", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def audit_actions(service: Service) -> list[tuple[str, str | None, dict[str, Any]]]:
    return [(a["action"], a["user"], a["detail"]) for a in audit_store.read_audit(service.engine)]


def test_a_nurse_records_each_scale_and_reads_them_back_in_time_order(client: TestClient, service: Service) -> None:
    sid = open_session(client)
    entries = [
        {"scale": "moaas", "score": 4},
        {"scale": "cadss6", "items": [1, 0, 2, 0, 1, 3]},
        {"scale": "nausea", "score": 2},
        {"scale": "bprs4", "items": [0, 1, 0, 6], "score": 7},
    ]
    for body in entries:
        r = client.post(f"/api/sessions/{sid}/assessments", json=body)
        assert r.status_code == 201, r.text
    got = client.get(f"/api/sessions/{sid}/assessments").json()
    assert [(a["scale"], a["score"], a["items"], a["user"]) for a in got] == [
        ("moaas", 4.0, None, "nurse"),
        ("cadss6", 7.0, [1, 0, 2, 0, 1, 3], "nurse"),
        ("nausea", 2.0, None, "nurse"),
        ("bprs4", 7.0, [0, 1, 0, 6], "nurse"),
    ]
    audited = [d["scale"] for action, user, d in audit_actions(service) if action == "assessment" and user == "nurse"]
    assert sorted(audited) == ["bprs4", "cadss6", "moaas", "nausea"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"scale": "moaas", "score": 6}, "outside 0-5"),
        ({"scale": "moaas", "score": 2.5}, "not a whole number"),
        ({"scale": "moaas"}, "needs a score"),
        ({"scale": "nausea", "score": -1}, "outside 0-10"),
        ({"scale": "cadss6", "items": [1, 1, 1]}, "has 6 items, got 3"),
        ({"scale": "cadss6", "items": [1, 1, 1, 1, 1, 5]}, "item 6: 5 outside 0-4"),
        ({"scale": "cadss6", "score": 3}, "needs its 6 item scores"),
        ({"scale": "bprs4", "items": [1, 1, 1, 1], "score": 5}, "not the sum of its items"),
        ({"scale": "moaas", "items": [1]}, "single score"),
        ({"scale": "phq9", "score": 3}, "unknown scale"),
    ],
)
def test_an_entry_that_does_not_fit_its_scale_gets_422_with_the_reason(
    client: TestClient, service: Service, body: dict[str, Any], reason: str
) -> None:
    sid = open_session(client)
    r = client.post(f"/api/sessions/{sid}/assessments", json=body)
    assert r.status_code == 422
    assert reason in r.json()["detail"]
    assert client.get(f"/api/sessions/{sid}/assessments").json() == []


def test_medications_are_recorded_with_dose_unit_route_and_time(client: TestClient, service: Service) -> None:
    sid = open_session(client)
    now = service.clock.now()
    r = client.post(
        f"/api/sessions/{sid}/medications",
        json={"drug": "ondansetron", "dose": 4, "unit": "mg", "route": "IV", "ts": now - 60},
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"/api/sessions/{sid}/medications", json={"drug": "clonidine", "dose": 0.1, "unit": "mg", "route": "po"}
    )
    assert r.status_code == 201, r.text
    got = client.get(f"/api/sessions/{sid}/medications").json()
    assert [(m["drug"], m["dose"], m["unit"], m["route"]) for m in got] == [
        ("ondansetron", 4.0, "mg", "IV"),
        ("clonidine", 0.1, "mg", "PO"),
    ]
    assert got[0]["ts"] == pytest.approx(now - 60)
    for bad in (
        {"drug": "x", "dose": 4, "unit": "spoons", "route": "IV"},
        {"drug": "x", "dose": 4, "unit": "mg", "route": "ear"},
        {"drug": "x", "dose": 0, "unit": "mg", "route": "IV"},
        {"drug": "x", "dose": 4, "unit": "mg", "route": "IV", "ts": now + 3600},
    ):
        assert client.post(f"/api/sessions/{sid}/medications", json=bad).status_code == 422, bad
    assert len(client.get(f"/api/sessions/{sid}/medications").json()) == 2
    assert sum(1 for action, _, _ in audit_actions(service) if action == "medication") == 2


def test_adverse_events_carry_a_category_and_other_notes_none(client: TestClient, service: Service) -> None:
    sid = open_session(client)
    r = client.post(
        f"/api/sessions/{sid}/notes",
        json={"kind": "adverse", "category": "hypertension-treated", "text": "BP 182/104, clonidine given"},
    )
    assert r.status_code == 201, r.text
    assert client.post(f"/api/sessions/{sid}/notes", json={"kind": "adverse", "text": "felt odd"}).status_code == 201
    bad = client.post(f"/api/sessions/{sid}/notes", json={"kind": "adverse", "category": "bad-luck", "text": "x"})
    assert bad.status_code == 422
    assert (
        client.post(f"/api/sessions/{sid}/notes", json={"kind": "note", "category": "other", "text": "x"}).status_code
        == 422
    )
    notes = client.get(f"/api/sessions/{sid}").json()["notes"]
    assert [(n["kind"], n["category"]) for n in notes] == [("adverse", "hypertension-treated"), ("adverse", "other")]
    scales = client.get("/api/scales").json()
    assert [c["key"] for c in scales["adverse_categories"]] == [
        "hypertension-treated",
        "nausea-vomiting",
        "emergence-reaction",
        "desaturation-intervention",
        "other",
    ]


def test_only_the_care_team_records_and_every_write_needs_the_csrf_token(client: TestClient, service: Service) -> None:
    sid = open_session(client)
    login(client, "clinician")
    assert client.post(f"/api/sessions/{sid}/assessments", json={"scale": "moaas", "score": 5}).status_code == 201
    login(client, "admin")
    assert client.post(f"/api/sessions/{sid}/assessments", json={"scale": "moaas", "score": 5}).status_code == 403
    assert (
        client.post(
            f"/api/sessions/{sid}/medications", json={"drug": "x", "dose": 1, "unit": "mg", "route": "IV"}
        ).status_code
        == 403
    )
    assert len(client.get(f"/api/sessions/{sid}/assessments").json()) == 1  # reading is for all staff
    login(client, "nurse")
    del client.headers["X-CSRF-Token"]
    assert client.post(f"/api/sessions/{sid}/assessments", json={"scale": "moaas", "score": 5}).status_code == 403
    client.cookies.clear()
    assert client.get(f"/api/sessions/{sid}/assessments").status_code == 401
    login(client, "nurse")
    assert client.post("/api/sessions/999999/assessments", json={"scale": "moaas", "score": 5}).status_code == 404


def test_the_dose_given_is_rate_times_time_when_stopped_early_and_a_nurse_may_correct_it_with_a_reason(
    client: TestClient, service: Service
) -> None:
    # The seeded session: 35 mg at 35 mg/h, infusion from T0+600 to T0+3000 (40 min) -> 23.33 mg given.
    sid = next(s.id for s in session_store.find_sessions(service.engine) if s.patient_ref == "P-0042")
    login(client, "nurse")
    got = client.get(f"/api/sessions/{sid}/given-dose").json()
    assert got["planned_mg"] == 35.0 and got["planned_mg_per_kg"] == pytest.approx(0.5)
    assert got["computed_from"] == "rate x time"
    assert got["computed_mg"] == pytest.approx(35.0 * 2400 / 3600, abs=0.01)
    assert got["given_mg"] == got["computed_mg"] and got["entered_by"] is None
    assert client.put(f"/api/sessions/{sid}/given-dose", json={"dose_mg": 20}).status_code == 422  # reason needed
    r = client.put(f"/api/sessions/{sid}/given-dose", json={"dose_mg": 20, "reason": "line occluded 7 min"})
    assert r.status_code == 200, r.text
    got = client.get(f"/api/sessions/{sid}/given-dose").json()
    assert (got["given_mg"], got["given_mg_per_kg"], got["entered_by"]) == (
        20.0,
        pytest.approx(20 / 70, abs=1e-3),
        "nurse",
    )
    assert got["reason"] == "line occluded 7 min" and got["computed_mg"] == pytest.approx(23.33, abs=0.01)
    [(_, user, detail)] = [a for a in audit_actions(service) if a[0] == "given_dose"]
    assert user == "nurse" and detail["dose_mg"] == 20 and detail["reason"] == "line occluded 7 min"


def test_identifiers_are_stored_for_the_record_and_audited_without_their_values(
    client: TestClient, service: Service
) -> None:
    sid = open_session(client)
    r = client.put(
        f"/api/sessions/{sid}/identity", json={"name": "Zoë Müller", "birth_date": "1980-01-01", "mrn": "MRN-5"}
    )
    assert r.status_code == 204, r.text
    assert client.get(f"/api/sessions/{sid}/identity").json() == {
        "name": "Zoë Müller",
        "birth_date": "1980-01-01",
        "mrn": "MRN-5",
    }
    assert client.put(f"/api/sessions/{sid}/identity", json={"birth_date": "1980-13-01"}).status_code == 422
    [(_, user, detail)] = [a for a in audit_actions(service) if a[0] == "session_identity"]
    assert user == "nurse" and detail["fields"] == ["birth_date", "mrn", "name"]
    assert "Müller" not in str(audit_store.read_audit(service.engine))
