"""Output is inert and the web side tells no one more than it must, against a real server.

CSV exports escape formulas, the PDF never parses mathtext, the login's ``next=`` stays on this
server, the API's map and the health details need a login, every page carries CSP / nosniff /
frame-ancestors, patient data is ``no-store``, a review view is audited, sessions start only on
configured beds, the alarm statistics are bounded.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.inert import FORMULA_START
from monitor.model import Reading, Vital
from monitor.store import audit as audit_store
from tests.dashboard.liveserver import LiveServer, running
from tests.dashboard.test_browser_central import _chromium

BEDS = ["chair-1", "chair-2"]
FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\tTAB", "\rCR"]
MATH_NOTE = r"dose $\frac{1}{$ per $x^$ kg, marker-7f3a"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with running(tmp_path, BEDS) as srv:
        yield srv


def _login(base: str, user: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    r = client.post("/api/login", json={"username": user, "password": "demo"})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf"]
    return client


def _session_with_hostile_text(server: LiveServer, nurse: httpx.Client) -> int:
    r = nurse.post("/api/sessions", json={"bed": "chair-1", "patient_ref": "PT-1"})
    assert r.status_code == 201, r.text
    sid = int(r.json()["id"])
    for text in [*FORMULAS, MATH_NOTE]:
        assert nurse.post(f"/api/sessions/{sid}/notes", json={"text": text}).status_code == 201
    svc = server.service
    assert svc is not None
    # A device id from the wire that starts like a formula (HL7 OBX-18 is the sender's to choose).
    reading = Reading(Vital.HR, 80.0, "bpm", time.time(), "=1+1|DEVICE", bed="chair-1")
    server.call(lambda: svc.pipeline.submit([reading]))
    return sid


def test_csv_exports_escape_formulas_and_the_pdf_prints_dollars_literally(
    server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    nurse, clinician = _login(server.base, "nurse"), _login(server.base, "clinician")
    sid = _session_with_hostile_text(server, nurse)
    cells: list[str] = []
    for what in ("events", "readings", "alarms"):
        r = clinician.get(f"/api/sessions/{sid}/{what}?format=csv")
        assert r.status_code == 200, r.text
        cells += [cell for row in csv.reader(io.StringIO(r.text, newline="")) for cell in row]
    assert not [c for c in cells if c.startswith(FORMULA_START)], "no cell a spreadsheet would evaluate"
    for text in FORMULAS:
        assert "'" + text in cells, f"{text!r} is kept, behind an apostrophe"
    assert "'=1+1|DEVICE" in cells
    assert any(c.startswith("-") is False and c.replace(".", "").isdigit() for c in cells), "numbers stay numbers"

    with caplog.at_level(logging.DEBUG):
        pdf = clinician.get(f"/api/sessions/{sid}/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), pdf.text[:300]
    assert "marker-7f3a" not in caplog.text, "a note never reaches the log"


def test_review_views_are_audited_and_patient_data_is_never_cached(server: LiveServer) -> None:
    nurse, clinician = _login(server.base, "nurse"), _login(server.base, "clinician")
    sid = _session_with_hostile_text(server, nurse)
    for client, path in (
        (clinician, f"/api/review/sessions/{sid}"),
        (clinician, f"/api/sessions/{sid}/readings?format=json"),
        (clinician, "/api/review/sessions"),
        (nurse, "/api/beds"),
        (nurse, f"/api/sessions/{sid}"),
        (nurse, f"/api/sessions/{sid}/alarm-history"),
        (nurse, "/api/alarms"),
    ):
        r = client.get(path)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["cache-control"] == "no-store", path
        assert r.headers["x-content-type-options"] == "nosniff", path
    svc = server.service
    assert svc is not None
    audit = audit_store.read_audit(svc.engine)
    assert any(
        a["action"] == "review_view" and a["user"] == "clinician" and a["target"] == f"session:{sid}" for a in audit
    )


def test_every_html_page_has_csp_nosniff_and_no_framing(server: LiveServer) -> None:
    nurse, clinician = _login(server.base, "nurse"), _login(server.base, "clinician")
    pages = [
        (nurse, "/"),
        (nurse, "/beds/chair-1"),
        (nurse, "/sessions"),  # a nurse is refused the review pages: with an HTML page of its own
        (clinician, "/sessions"),
        (clinician, "/sessions/1"),
        (httpx.Client(base_url=server.base), "/login"),
        (httpx.Client(base_url=server.base), "/setup"),
    ]
    for client, path in pages:
        r = client.get(path)
        assert r.headers["content-type"].startswith("text/html"), path
        csp = r.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, (path, csp)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["cache-control"] == "no-store", path
    static = httpx.get(f"{server.base}/static/common.js")
    assert static.headers["x-content-type-options"] == "nosniff"


def test_api_map_is_off_health_says_only_ok_to_strangers(server: LiveServer) -> None:
    anon = httpx.Client(base_url=server.base)
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert anon.get(path).status_code == 404, f"{path} is off unless [http] api_docs = true"
    brief = anon.get("/api/health").json()
    assert set(brief) == {"status"} and brief["status"] in ("ok", "degraded"), "no pids, errors or counts"
    details = _login(server.base, "nurse").get("/api/health").json()
    assert "last_error" in details["database"] and "writer_process" in details["database"]


def test_sessions_start_only_on_configured_beds_and_an_admin_adds_one(server: LiveServer) -> None:
    nurse, admin = _login(server.base, "nurse"), _login(server.base, "admin")
    r = nurse.post("/api/sessions", json={"bed": "phantom", "patient_ref": "PT-9"})
    assert r.status_code == 422 and "no bed 'phantom'" in r.json()["detail"]
    assert nurse.post("/api/beds", json={"id": "chair-9", "label": "Chair 9"}).status_code == 403
    assert admin.post("/api/beds", json={"id": "chair-9", "label": "Chair 9"}).status_code == 201
    assert admin.post("/api/beds", json={"id": "chair-9", "label": "Chair 9"}).status_code == 409
    assert nurse.post("/api/sessions", json={"bed": "chair-9", "patient_ref": "PT-9"}).status_code == 201
    svc = server.service
    assert svc is not None
    assert any(a["action"] == "bed_add" and a["user"] == "admin" for a in audit_store.read_audit(svc.engine))


def test_alarm_statistics_are_bounded(server: LiveServer) -> None:
    clinician = _login(server.base, "clinician")
    r = clinician.get("/api/alarms/stats")
    assert r.status_code == 200
    body = r.json()
    assert body["to"] - body["from"] == 30 * 86_400, "without a range: the last 30 days, not every alarm"
    assert clinician.get("/api/alarms/stats", params={"from": 0, "to": 400 * 86_400}).status_code == 422
    assert clinician.get("/api/alarms/stats", params={"from": 10, "to": 5}).status_code == 422


def test_the_sqlite_file_is_private(server: LiveServer) -> None:
    path = Path(server.db_url.split("///", 1)[1])
    for file in (path, path.with_name(path.name + "-wal")):
        assert file.stat().st_mode & 0o777 == 0o600, file


def test_login_next_goes_only_to_this_server(server: LiveServer) -> None:
    pw, browser = _chromium()
    try:
        page = browser.new_page()
        for hostile in ("/%5Cevil.example/x", "//evil.example/x", "/%09/evil.example", "https://evil.example/"):
            page.goto(f"{server.base}/login?next={hostile}")
            page.fill("#username", "nurse")
            page.fill("#password", "demo")
            page.click("#signin")
            page.wait_for_url(lambda url: url.split("?")[0] != f"{server.base}/login")
            assert page.url.startswith(server.base + "/"), f"next={hostile} led to {page.url}"
            # Leave the signed-in page first: with its cookie gone, its script sends it to the login
            # with next=/ and could win the race against the next goto below.
            page.goto("about:blank")
            page.context.clear_cookies()
        page.goto(f"{server.base}/login?next=/beds/chair-2")
        page.fill("#username", "nurse")
        page.fill("#password", "demo")
        page.click("#signin")
        page.wait_for_url(f"{server.base}/beds/chair-2")
    finally:
        browser.close()
        pw.stop()
