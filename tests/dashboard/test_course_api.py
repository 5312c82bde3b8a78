"""Outcome scores and the course of treatment through the real app and storage: only a clinician records
outcomes, wrong scores get 422 with the reason, the course joins sessions and outcomes, CSV cells are
inert and the PDF reads back."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pypdf
import pytest
from fastapi.testclient import TestClient

from dashboard.app import create_app
from monitor.service import Service
from monitor.store import assessments as store
from monitor.store import audit as audit_store
from monitor.store import database
from monitor.store import sessions as session_store
from tests.dashboard.appclient import demo_service, login
from tests.dashboard.review_seed import PATIENT, T0, Known, known_session, seed

WEEK = 7 * 86400.0


def shifted(days: float) -> Known:
    k = known_session()
    k.phases = [(p, ts + days) for p, ts in k.phases]
    k.readings = [(ts + days, v, x, q) for ts, v, x, q in k.readings]
    for a in k.alarms:
        a.started += days
        a.ended = None if a.ended is None else a.ended + days
        a.acknowledged_at = None if a.acknowledged_at is None else a.acknowledged_at + days
        a.id += f"-{int(days)}"
    k.notes = [(ts + days, kind, text) for ts, kind, text in k.notes]
    return k


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[str, list[int]]:
    url = f"sqlite:///{tmp_path / 'course.db'}"
    engine = database.make_engine(url)
    database.upgrade(engine)
    first = asyncio.run(seed(engine, shifted(0), dose=35.0, protocol="iv-ketamine-depression"))
    second = asyncio.run(seed(engine, shifted(WEEK), dose=42.0, protocol="iv-ketamine-depression"))
    other = asyncio.run(seed(engine, shifted(2 * WEEK), patient='=HYPERLINK("x")', dose=10.0))
    session_store.add_note(engine, second, T0 + WEEK + 2000, "nurse", "vomited", "adverse", "nausea-vomiting")
    store.add_assessment(engine, store.Actor("nurse", {}), second, T0 + WEEK + 1500, "moaas", 3.0, None, T0 + WEEK)
    engine.dispose()
    return url, [first, second, other]


@pytest.fixture
def service(seeded: tuple[str, list[int]]) -> Service:
    return demo_service(seeded[0], beds={"chair-2": "Chair 2"}, clinic={"timezone": "UTC"})


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service)) as c:
        yield c


def test_only_a_clinician_records_outcomes_and_wrong_scores_get_the_reason(
    client: TestClient, service: Service
) -> None:
    body = {"scale": "phq9", "score": 18, "date": "2025-11-12"}
    for role in ("nurse", "admin"):
        login(client, role)
        assert client.post(f"/api/patients/{PATIENT}/outcomes", json=body).status_code == 403
    login(client, "clinician")
    r = client.post(f"/api/patients/{PATIENT}/outcomes", json=body)
    assert r.status_code == 201, r.text
    for bad, reason in (
        ({"scale": "phq9", "score": 28, "date": "2025-11-12"}, "outside 0-27"),
        ({"scale": "gad7", "score": 22, "date": "2025-11-12"}, "outside 0-21"),
        ({"scale": "madrs", "score": 61, "date": "2025-11-12"}, "outside 0-60"),
        ({"scale": "madrs", "score": 10.5, "date": "2025-11-12"}, "not a whole number"),
        ({"scale": "moaas", "score": 3, "date": "2025-11-12"}, "unknown scale"),
        ({"scale": "phq9", "score": 3, "date": "2999-01-01"}, "in the future"),
    ):
        r = client.post(f"/api/patients/{PATIENT}/outcomes", json=bad)
        assert r.status_code == 422 and reason in r.json()["detail"], (bad, r.text)
    assert (
        client.post(f"/api/patients/{PATIENT}/outcomes", json={"scale": "phq9", "score": 3, "date": "x"}).status_code
        == 422
    )
    del client.headers["X-CSRF-Token"]
    assert client.post(f"/api/patients/{PATIENT}/outcomes", json=body).status_code == 403
    audited = [(a["action"], a["user"], a["target"]) for a in audit_store.read_audit(service.engine)]
    assert audited.count(("outcome", "clinician", f"patient:{PATIENT}")) == 1


def test_the_course_joins_sessions_and_outcomes(client: TestClient, seeded: tuple[str, list[int]]) -> None:
    first, second, _ = seeded[1]
    login(client, "clinician")
    for scale, score, day in (("phq9", 19, "2025-11-12"), ("phq9", 11, "2025-11-26"), ("gad7", 12, "2025-11-12")):
        assert (
            client.post(
                f"/api/patients/{PATIENT}/outcomes", json={"scale": scale, "score": score, "date": day}
            ).status_code
            == 201
        )
    c = client.get(f"/api/patients/{PATIENT}/course").json()
    assert [s["id"] for s in c["sessions"]] == [first, second]  # oldest first, only this patient's
    s1, s2 = c["sessions"]
    assert s1["protocol"] == "iv-ketamine-depression"
    assert s1["dose_mg_per_kg"] == pytest.approx(0.5) and s2["dose_mg_per_kg"] == pytest.approx(0.6)
    assert s1["given_mg_per_kg"] == pytest.approx(35 * 2400 / 3600 / 70, abs=1e-3)  # 40 min of a 60 min infusion
    assert s1["baseline_sbp"] is not None and s1["peak_sbp"] == 171.0
    assert s1["alarms"]["high"] == 1
    assert s1["side_effects"] == {"other": 1}  # the seeded desaturation note, no category given
    assert s2["side_effects"] == {"nausea-vomiting": 1, "other": 1}
    assert s2["assessments"]["moaas"] == {"min": 3.0, "max": 3.0, "count": 1}
    assert [(o["scale"], o["score"], o["date"]) for o in c["outcomes"]] == [
        ("phq9", 19.0, "2025-11-12"),  # by date, then as entered
        ("gad7", 12.0, "2025-11-12"),
        ("phq9", 11.0, "2025-11-26"),
    ]
    login(client, "nurse")
    assert client.get(f"/api/patients/{PATIENT}/course").status_code == 403  # course review: clinicians


def test_the_course_exports_as_inert_csv_and_as_a_pdf(client: TestClient, service: Service) -> None:
    login(client, "clinician")
    ref = '=HYPERLINK("x")'
    assert (
        client.post(
            f"/api/patients/{ref}/outcomes", json={"scale": "madrs", "score": 30, "date": "2025-11-30"}
        ).status_code
        == 201
    )
    r = client.get(f"/api/patients/{ref}/course.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["kind"] for row in rows] == ["session", "outcome"]
    assert all(row["patient_ref"] == "'" + ref for row in rows)  # a formula never runs in a spreadsheet
    assert rows[1]["scale"] == "madrs" and float(rows[1]["score"]) == 30.0
    r = client.get(f"/api/patients/{PATIENT}/course.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    pages = [p.extract_text() for p in pypdf.PdfReader(io.BytesIO(r.content)).pages]
    text = "\n".join(pages)
    for expected in (
        "Course of treatment",
        f"Patient {PATIENT}",
        "iv-ketamine-depression",
        "0.50/0.33",
        "171 (+",
        "Other x1",
        "UTC",
    ):
        assert expected in text, expected
    assert all(f"Page {i} of {len(pages)}" in p for i, p in enumerate(pages, 1))
    actions = [a["action"] for a in audit_store.read_audit(service.engine)]
    assert actions.count("course_export") == 2
