"""The review API through the real app and storage: exports round trip, access, audit, the PDF, the list."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pypdf
import pytest
from fastapi.testclient import TestClient

from dashboard.app import create_app
from monitor.config import load_settings
from monitor.demo import ensure_demo_users
from monitor.service import Service, build_service
from monitor.store import audit as audit_store
from monitor.store import database
from monitor.store import readings as reading_store
from monitor.store import sessions as session_store
from tests.dashboard.review_seed import PATIENT, T0, known_session, seed


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[str, int, int]:
    url = f"sqlite:///{tmp_path / 'review.db'}"
    engine = database.make_engine(url)
    database.upgrade(engine)
    first = asyncio.run(seed(engine, known_session(), dose=30.0))
    later = known_session()
    later.phases = [(p, ts + 7 * 86400) for p, ts in later.phases]
    later.readings = [(ts + 7 * 86400, v, x, q) for ts, v, x, q in later.readings]
    for a in later.alarms:
        a.started += 7 * 86400
        a.ended = None if a.ended is None else a.ended + 7 * 86400
        a.acknowledged_at = None if a.acknowledged_at is None else a.acknowledged_at + 7 * 86400
        a.id += "-b"
    later.notes = []
    second = asyncio.run(seed(engine, later, bed="chair-5", dose=40.0))
    engine.dispose()
    return url, first, second


@pytest.fixture
def service(seeded: tuple[str, int, int]) -> Service:
    settings = load_settings(db_url=seeded[0], beds={"chair-2": "Chair 2", "chair-5": "Chair 5"})
    svc = build_service(settings)
    ensure_demo_users(svc)
    return svc


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service)) as c:
        yield c


def login(client: TestClient, user: str) -> None:
    client.cookies.clear()
    r = client.post("/api/login", json={"username": user, "password": "demo"})
    assert r.status_code == 200, r.text


def stored(service: Service, sid: int) -> pd.DataFrame:
    return reading_store.session_readings(service.engine, sid)


def test_csv_and_parquet_exports_read_back_equal_the_stored_readings(
    client: TestClient, service: Service, seeded: tuple[str, int, int]
) -> None:
    sid = seeded[1]
    login(client, "clinician")
    want = stored(service, sid)
    assert len(want) == 1834

    r = client.get(f"/api/sessions/{sid}/readings?format=csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    header = r.text.splitlines()[0]
    assert header == "time,epoch_s,vital,value,unit,quality,source"
    got = pd.read_csv(io.StringIO(r.text))
    for col in ("vital", "value", "unit", "quality", "source"):
        assert got[col].tolist() == want[col].tolist(), col
    assert got["epoch_s"].tolist() == want["ts"].tolist()
    first = got["time"].iloc[0]
    assert first.endswith("+00:00") and first.startswith("2025-11-13T02:13:20")
    parsed = pd.to_datetime(got["time"], format="ISO8601", utc=True)
    assert np.allclose((parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds(), want["ts"], atol=1e-6)

    r = client.get(f"/api/sessions/{sid}/readings?format=parquet")
    assert r.status_code == 200
    pq = pd.read_parquet(io.BytesIO(r.content))
    assert pq["value"].tolist() == want["value"].tolist()
    assert pq["epoch_s"].tolist() == want["ts"].tolist()
    assert pq["vital"].tolist() == want["vital"].tolist() and pq["unit"].tolist() == want["unit"].tolist()
    assert str(pq["time"].dt.tz) == "UTC"

    r = client.get(f"/api/sessions/{sid}/readings?format=json&vitals=sbp,dbp&from={T0 + 600}&to={T0 + 1500}")
    body = r.json()
    assert body["units"]["sbp"] == "mmHg"
    assert [(x["vital"], x["value"]) for x in body["readings"]] == [
        ("sbp", 130.0),
        ("dbp", 85.0),
        ("sbp", 150.0),
        ("dbp", 95.0),
        ("sbp", 165.0),
        ("dbp", 100.0),
        ("sbp", 171.0),
        ("dbp", 104.0),
    ]
    r = client.get(f"/api/sessions/{sid}/readings?format=json&vitals=sbp&from=2025-11-13T02:23:20%2B00:00")
    assert r.json()["readings"][0]["epoch_s"] == T0 + 600
    assert client.get(f"/api/sessions/{sid}/readings?vitals=bogus").status_code == 422
    assert client.get(f"/api/sessions/{sid}/readings?format=xls").status_code == 422
    assert client.get("/api/sessions/999/readings").status_code == 404


def test_alarm_and_event_exports(client: TestClient, seeded: tuple[str, int, int]) -> None:
    sid = seeded[1]
    login(client, "admin")
    alarms = pd.read_csv(io.StringIO(client.get(f"/api/sessions/{sid}/alarms?format=csv").text))
    row = alarms.set_index("rule").loc["bp-rise"]
    assert row["time_to_ack_s"] == 120 and row["unit"] == "mmHg" and row["worst"] == 171
    assert str(row["started_time"]).endswith("+00:00")
    events = client.get(f"/api/sessions/{sid}/events?format=json").json()["events"]
    kinds = [(e["kind"], e["what"]) for e in events]
    assert ("phase", "infusion") in kinds and ("adverse", "note") in kinds and ("alarm", "started") in kinds
    assert [e["epoch_s"] for e in events] == sorted(e["epoch_s"] for e in events)
    pq = pd.read_parquet(io.BytesIO(client.get(f"/api/sessions/{sid}/events?format=parquet").content))
    assert len(pq) == len(events)


def test_nurse_is_refused_and_exports_are_audited(
    client: TestClient, service: Service, seeded: tuple[str, int, int]
) -> None:
    sid = seeded[1]
    login(client, "nurse")
    for url in (
        f"/api/sessions/{sid}/readings?format=csv",
        f"/api/sessions/{sid}/alarms",
        f"/api/sessions/{sid}/events",
        f"/api/sessions/{sid}/report.pdf",
        "/api/review/sessions",
        f"/api/review/sessions/{sid}",
    ):
        assert client.get(url).status_code == 403, url
    page = client.get(f"/sessions/{sid}", follow_redirects=False)
    assert page.status_code == 403 and "clinicians and admins" in page.text
    client.cookies.clear()
    assert client.get("/sessions", follow_redirects=False).status_code == 303
    assert client.get(f"/api/sessions/{sid}/readings").status_code == 401

    login(client, "clinician")
    assert client.get("/sessions").status_code == 200
    client.get(f"/api/sessions/{sid}/readings?format=parquet&vitals=hr")
    client.get(f"/api/sessions/{sid}/alarms?format=csv")
    client.get(f"/api/sessions/{sid}/events?format=json")
    client.get(f"/api/sessions/{sid}/report.pdf")
    audit = audit_store.read_audit(service.engine)
    actions = [(a["user"], a["action"], a["target"]) for a in audit]
    for action in ("export_readings", "export_alarms", "export_events", "report_download"):
        assert ("clinician", action, f"session:{sid}") in actions, action
    readings = next(a for a in audit if a["action"] == "export_readings")
    assert readings["detail"]["format"] == "parquet" and readings["detail"]["vitals"] == ["hr"]
    assert PATIENT not in json.dumps(audit)  # no patient data in the audit detail


def test_report_pdf_has_the_details_and_a_rendered_chart(client: TestClient, seeded: tuple[str, int, int]) -> None:
    sid = seeded[1]
    login(client, "clinician")
    r = client.get(f"/api/sessions/{sid}/report.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    pdf = pypdf.PdfReader(io.BytesIO(r.content))
    assert 1 <= len(pdf.pages) <= 2
    text = pdf.pages[0].extract_text()
    for expected in (f"session {sid}", "chair-2", PATIENT, "30.0 mg", "Peak systolic rise", "49 mmHg"):
        assert expected in text, expected
    assert "SpO2 (%)" in text and "BP (mmHg)" in text  # the chart axes
    images = pdf.pages[0].images
    assert images and max(img.image.size[0] for img in images if img.image is not None) > 300  # the rasterised traces
    assert "bp-rise" in pdf.pages[1].extract_text()


def test_list_filters_sorts_and_history(client: TestClient, seeded: tuple[str, int, int]) -> None:
    _, first, second = seeded
    login(client, "clinician")
    body = client.get("/api/review/sessions").json()
    assert body["total"] == 2 and [r["id"] for r in body["rows"]] == [second, first]
    row = body["rows"][1]
    assert row["peak_sbp_rise"] == 49 and row["min_spo2"] == 89 and row["alarms_high"] == 1
    assert row["alarms_medium"] == 2 and row["alarms_low"] == 0 and row["duration_s"] == 6000
    assert client.get("/api/review/sessions?bed=chair-5").json()["rows"][0]["id"] == second
    assert client.get("/api/review/sessions?patient_ref=P-0").json()["total"] == 2
    assert client.get("/api/review/sessions?patient_ref=Q").json()["total"] == 0
    window = client.get(f"/api/review/sessions?from={T0 + 86400}&to=2030-01-01T00:00:00Z").json()
    assert [r["id"] for r in window["rows"]] == [second]
    asc = client.get("/api/review/sessions?sort=dose_mg&order=asc").json()
    assert [r["dose_mg"] for r in asc["rows"]] == [30.0, 40.0]
    assert client.get("/api/review/sessions?sort=nonsense").status_code == 422

    d = client.get(f"/api/review/sessions/{second}").json()
    assert [h["id"] for h in d["history"]] == [first, second]
    assert d["history"][0]["peak_sbp_rise"] == 49
    assert {p["phase"] for p in d["phases"]} == {"baseline", "infusion", "recovery"}
    assert d["summary"]["peak_sbp_rise"] == 49 and len(d["series"]["hr"]["t"]) == 601
    assert d["flagged"]["hr"]["q"] == ["invalid"]
    rise = next(x for x in d["limits"] if x["rule"] == "bp-rise")
    assert rise["limit"] == 162


def test_plotly_is_served_from_the_installed_package_gzipped(client: TestClient) -> None:
    r = client.get("/assets/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert b"plotly.js" in r.content[:200]  # httpx decoded it
    again = client.get("/assets/plotly.min.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def test_ivmon_export_writes_the_same_tables_and_the_report(
    seeded: tuple[str, int, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor.cli import main

    url, sid, _ = seeded
    out = tmp_path / "s.csv"
    assert main(["export", str(sid), "--db", url, "--format", "csv", "--out", str(out)]) == 0
    written = capsys.readouterr().out.split()
    assert sorted(Path(p).name for p in written) == ["s.alarms.csv", "s.events.csv", "s.readings.csv"]
    engine = database.make_engine(url)
    want = reading_store.session_readings(engine, sid)
    got = pd.read_csv(tmp_path / "s.readings.csv")
    assert got["value"].tolist() == want["value"].tolist() and got["epoch_s"].tolist() == want["ts"].tolist()
    assert (
        main(
            [
                "export",
                str(sid),
                "--db",
                url,
                "--format",
                "parquet",
                "--what",
                "readings",
                "--out",
                str(tmp_path / "r.parquet"),
            ]
        )
        == 0
    )
    assert pd.read_parquet(tmp_path / "r.parquet")["value"].tolist() == want["value"].tolist()
    assert main(["export", str(sid), "--db", url, "--format", "pdf", "--out", str(tmp_path / "r.pdf")]) == 0
    text = pypdf.PdfReader(tmp_path / "r.pdf").pages[0].extract_text()
    assert PATIENT in text and f"session {sid}" in text
    assert main(["export", "999", "--db", url]) == 2
    assert ("cli", "export_cli", f"session:{sid}") in [
        (a["user"], a["action"], a["target"]) for a in audit_store.read_audit(engine)
    ]
    engine.dispose()


def test_a_session_without_readings_still_reviews(client: TestClient, service: Service) -> None:
    from monitor.model import Phase, PhaseChange, Session

    session = Session(0, "chair-5", "P-EMPTY", Phase.BASELINE, T0, phases=[PhaseChange(Phase.BASELINE, T0, "nurse")])
    sid = session_store.insert_session(service.engine, session, "nurse")
    session_store.record_phase(service.engine, sid, PhaseChange(Phase.ABORTED, T0 + 60, "nurse"), "patient declined")
    login(client, "clinician")
    d = client.get(f"/api/review/sessions/{sid}").json()
    assert d["series"] == {} and d["summary"]["peak_sbp_rise"] is None and d["summary"]["duration_s"] == 60
    assert client.get(f"/api/sessions/{sid}/report.pdf").status_code == 200
    assert client.get(f"/api/sessions/{sid}/readings?format=csv").text.startswith("time,epoch_s,vital")
    assert client.get(f"/api/sessions/{sid}/readings?format=parquet").status_code == 200
    rows = client.get("/api/review/sessions?patient_ref=P-EMPTY").json()["rows"]
    assert rows[0]["min_spo2"] is None and rows[0]["alarms_high"] == 0
