"""The infusion record read back from its PDF (pypdf): every required field, the patient identifier and
"Page i of n" on every page, times in the clinic's zone with the zone named, notes never cut short, odd
text printed inert; the REMS facts derived from the session; the CLI writes the same record."""

from __future__ import annotations

import asyncio
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
from tests.dashboard.review_seed import PATIENT, T0, known_session, seed

CLINIC = {"name": "Lakeside Ketamine Clinic", "address": "12 Harbour Road, Kiel", "timezone": "Europe/Berlin"}
LONG_NOTE = " ".join(f"word{i:03d}" for i in range(60)) + " THE-END-OF-THE-NOTE"
ODD = "Zoë \u202eevil\u202c $x^2$ \x00 日本 🙂 =cmd|' /C calc'!A0"  # (an unpaired surrogate never gets stored)


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[str, int]:
    url = f"sqlite:///{tmp_path / 'record.db'}"
    engine = database.make_engine(url)
    database.upgrade(engine)
    sid = asyncio.run(seed(engine, known_session(), dose=35.0))
    nurse = store.Actor("nurse", {})
    store.add_assessment(engine, nurse, sid, T0 + 1500, "moaas", 3.0, None, T0 + 1500)
    store.add_assessment(engine, nurse, sid, T0 + 1600, "cadss6", 7.0, [1, 0, 2, 0, 1, 3], T0 + 1600)
    store.add_medication(engine, nurse, sid, T0 + 1700, "ondansetron", 4.0, "mg", "IV", T0 + 1700)
    store.add_medication(engine, nurse, sid, T0 + 1800, "clonidine", 0.1, "mg", "PO", T0 + 1800)
    session_store.add_note(
        engine, sid, T0 + 1750, "nurse", "BP 182/104 twice, clonidine given", "adverse", "hypertension-treated"
    )
    session_store.add_note(engine, sid, T0 + 3100, "nurse", LONG_NOTE, "note")
    session_store.add_note(engine, sid, T0 + 3200, "nurse", ODD, "note")
    store.set_given_dose(engine, nurse, sid, 22.0, 23.33, "line occluded 4 min", T0 + 3300)
    store.set_identity(engine, nurse, sid, "Zoë Müller", "1980-01-01", "MRN-5521", T0 + 100)
    engine.dispose()
    return url, sid


@pytest.fixture
def service(seeded: tuple[str, int]) -> Service:
    return demo_service(seeded[0], beds={"chair-2": "Chair 2"}, clinic=CLINIC)


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service)) as c:
        yield c


def pages_of(pdf: bytes) -> list[str]:
    return [p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def test_the_record_holds_every_required_field_in_the_clinics_zone(
    client: TestClient, service: Service, seeded: tuple[str, int]
) -> None:
    sid = seeded[1]
    login(client, "nurse")
    r = client.get(f"/api/sessions/{sid}/record.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    pages = pages_of(r.content)
    assert len(pages) >= 2
    text = "\n".join(pages)
    # T0 is 02:13:20 UTC on 2025-11-13: 03:13 in Berlin (CET, +0100).
    for expected in (
        "Lakeside Ketamine Clinic",
        "12 Harbour Road, Kiel",
        f"Patient {PATIENT}",
        "Zoë Müller",
        "1980-01-01",
        "MRN-5521",
        "chair-2",
        "Europe/Berlin, CET +0100",
        "2025-11-13 03:13",
        "35.0 mg",  # planned
        "0.50 mg/kg",  # planned per kg (70 kg)
        "35.0 mg/h",
        "22.00 mg",  # given, entered
        "0.314 mg/kg",
        "line occluded 4 min",
        "rate x time: 23.33 mg",
        "HR bpm",
        "SpO2 %",
        "BP mmHg",
        "MOAA/S sedation",
        "CADSS-6 dissociation",
        "1 0 2 0 1 3",
        "ondansetron",
        "clonidine",
        "Hypertension treated",
        "BP 182/104 twice, clonidine given",
        "Transient desaturation, chin lift",
        "THE-END-OF-THE-NOTE",
        "bp-rise",
        "not acknowledged",
        "Ready to leave",
        "Discharged",
        "Escort",
        "Staff who acted",
        "Signatures",
        "(nurse)",
    ):
        assert expected in text, expected
    for i in range(60):
        assert f"word{i:03d}" in text  # the long note in full
    for n, page in enumerate(pages, 1):
        assert f"Patient {PATIENT} · Zoë Müller · born 1980-01-01 · MRN MRN-5521 · session {sid}" in page, n
        assert f"Page {n} of {len(pages)}" in page
        assert "Lakeside Ketamine Clinic" in page
    # The vitals table: the 03:23 row (baseline start + 10 min is the first infusion row) carries 130/85.
    assert "130/85" in text
    assert [a["action"] for a in audit_store.read_audit(service.engine)].count("record_download") == 1


def test_odd_text_prints_inert_and_never_fails_the_record(client: TestClient, seeded: tuple[str, int]) -> None:
    login(client, "nurse")
    text = "\n".join(pages_of(client.get(f"/api/sessions/{seeded[1]}/record.pdf").content))
    assert "Zoë" in text and "$x^2$" in text  # not typeset as mathematics
    assert "\u202e" not in text and "\x00" not in text  # the bidi override and NUL replaced
    assert "\ufffd" in text  # what the font cannot draw shows as a replacement mark, not as nothing


def test_inert_pdf_text_replaces_what_could_harm_or_vanish() -> None:
    from dashboard.records.flow import inert_pdf_text

    assert inert_pdf_text("a\ud800b\u202ec\x07d\te\nf") == "a?b\ufffdc\ufffdd e\nf"
    assert inert_pdf_text("日") == "\ufffd" and inert_pdf_text("Zoë µg –") == "Zoë µg –"


def test_an_open_session_prints_and_a_missing_one_is_404(client: TestClient, service: Service) -> None:
    login(client, "nurse")
    r = client.post("/api/sessions", json={"bed": "chair-2", "patient_ref": "PT-OPEN"}, headers={"X-CSRF-Token": ""})
    assert r.status_code == 403  # the CSRF header is checked before anything starts
    assert client.get("/api/sessions/424242/record.pdf").status_code == 404
    client.cookies.clear()
    assert client.get("/api/sessions/1/record.pdf").status_code == 401


def test_the_cli_writes_the_same_record(seeded: tuple[str, int], tmp_path: Path) -> None:
    from monitor.cli import main

    url, sid = seeded
    config = tmp_path / "ivmon.toml"
    config.write_text('[clinic]\nname = "Lakeside Ketamine Clinic"\ntimezone = "Europe/Berlin"\n')
    out = tmp_path / "record.pdf"
    assert (
        main(["export", str(sid), "--format", "record", "--db", url, "--config", str(config), "--out", str(out)]) == 0
    )
    pages = pages_of(out.read_bytes())
    assert all(f"Patient {PATIENT}" in p for p in pages)
    assert "Europe/Berlin" in pages[-1] and "THE-END-OF-THE-NOTE" in "\n".join(pages)
    assert main(["export", str(sid), "--format", "rems", "--db", url, "--out", str(tmp_path / "r.pdf")]) == 2


@pytest.fixture
def esketamine(service: Service) -> int:
    """An esketamine session: dosed at T0+600, ready at T0+5400, discharged with an escort at T0+6000."""
    from monitor.model import DischargeRecord, Phase, PhaseChange
    from monitor.store import sessions as session_store

    k = known_session()
    k.phases = k.phases[:-1]  # discharged below, with its escort
    k.alarms, k.notes = [], []
    engine = service.engine
    sid = asyncio.run(seed(engine, k, bed="chair-2", patient="PT-ESK", dose=56.0, protocol="in-esketamine"))
    nurse = store.Actor("nurse", {})
    store.add_assessment(engine, nurse, sid, T0 + 1500, "moaas", 4.0, None, T0 + 1500)
    store.add_assessment(engine, nurse, sid, T0 + 1500, "cadss6", 0.0, [0, 0, 0, 0, 0, 0], T0 + 1500)
    session_store.mark_ready(engine, sid, T0 + 5400)
    escort = DischargeRecord(escort_relation="sister", escort_name="Ada Lovelace")
    session_store.record_phase(engine, sid, PhaseChange(Phase.DISCHARGED, T0 + 6000, "nurse"), discharge=escort)
    return sid


def test_the_rems_facts_are_derived_from_the_session(
    client: TestClient, esketamine: int, seeded: tuple[str, int]
) -> None:
    login(client, "nurse")
    r = client.get(f"/api/sessions/{esketamine}/rems.pdf")
    assert r.status_code == 200, r.text
    pages = pages_of(r.content)
    text = "\n".join(pages)
    # Berlin times: dose at T0+600 = 03:23; cuff readings at 03:23 (130/85, at the dose), 03:63=04:03 (160/85),
    # the last before the end at T0+5700 = 04:48 (128/85).
    for expected in (
        "Patient PT-ESK",
        "in-esketamine",
        "BP before dosing 130/85 mmHg at 03:23",
        "BP at about 40 min 160/85 mmHg at 04:03",
        "BP before the end 128/85 mmHg at 04:48",
        "Total observation 90 min",
        "Ready to leave at 2025-11-13 04:43",
        "Sedation YES (MOAA/S 4 recorded)",
        "Dissociation NO (1 CADSS-6 assessment(s), all 0)",
        "Respiratory depression YES (SpO2 below 90 % for",
        "Europe/Berlin",
        "Page 1 of 1",
    ):
        assert expected in " ".join(text.split()), expected
    record = "\n".join(pages_of(client.get(f"/api/sessions/{esketamine}/record.pdf").content))
    assert "Ada Lovelace (sister)" in record and "2025-11-13 04:43" in record
    # A session of another protocol has no REMS form.
    assert client.get(f"/api/sessions/{seeded[1]}/rems.pdf").status_code == 409


def test_the_protocols_charting_interval_sets_the_vitals_rows() -> None:
    from dashboard.records.data import protocol_plan
    from monitor.charting.draft import ChartingPlan
    from monitor.model import Phase
    from monitor.protocols import shipped_protocols

    clinic = ChartingPlan(interval_s={Phase.BASELINE: 600.0, Phase.INFUSION: 120.0, Phase.RECOVERY: 600.0})
    esketamine = shipped_protocols()["in-esketamine"]
    plan = protocol_plan(clinic, esketamine)
    by_phase: dict[str, float | None] = {p.phase: p.chart_every_min for p in esketamine.phases}
    for phase in Phase:
        minutes = by_phase.get(phase.value)
        want = clinic.interval_s.get(phase) if minutes is None else minutes * 60.0
        assert plan.interval_s.get(phase) == want, phase
    assert protocol_plan(clinic, None) is clinic
