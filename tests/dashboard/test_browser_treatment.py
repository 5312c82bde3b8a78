"""Quick entry on the bed page in real headless Chromium: a nurse records MOAA/S in one press, CADSS-6 by
its items, a drug and an adverse event with its category, and corrects the dose given; the stored rows
are what she entered, and a wrong entry shows the server's reason instead of being kept."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store import assessments as assessment_store
from monitor.store import database
from monitor.store import sessions as session_store
from tests.conftest import free_port
from tests.dashboard.browser import ARTIFACTS, chromium, press, sign_in, wait_js
from tests.dashboard.review_seed import Known, seed
from tests.dashboard.review_server import ReviewServer

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[ReviewServer, int]]:
    url = f"sqlite:///{tmp_path / 'bed.db'}"
    engine = database.make_engine(url)
    database.upgrade(engine)
    now = time.time()  # the server's clock is the real one: the session must be open now
    open_session = Known(phases=[("baseline", now - 900), ("infusion", now - 600)])
    sid = asyncio.run(seed(engine, open_session, bed="chair-2", patient="PT-QUICK", dose=40.0))
    engine.dispose()
    srv = ReviewServer(free_port(), url, {"chair-2": "Chair 2"}).start()
    try:
        yield srv, sid
    finally:
        srv.stop()


def test_a_nurse_records_assessments_a_drug_and_an_adverse_event_from_the_bed_page(
    server: tuple[ReviewServer, int],
) -> None:
    srv, sid = server
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, srv.base, "nurse", "/beds/chair-2")
        wait_js(page, "document.querySelector('#treatment')?.dataset.ready === '1'")
        assert page.is_visible("#treatment")

        press(page, '#tr-moaas button[data-score="3"]')
        wait_js(page, "document.querySelector('#tr-msg').textContent.startsWith('moaas 3')")

        for i, v in enumerate(["1", "0", "2", "0", "1", "3"], 1):
            page.select_option(f'#tr-cadss6 select[name="item{i}"]', v)
        press(page, "#tr-cadss6 button")
        wait_js(page, "document.querySelector('#tr-msg').textContent.startsWith('cadss6 7')")

        page.fill("#tr-nausea-score", "12")  # out of range: the browser's own check stops it, so bypass it
        page.evaluate("document.querySelector('#tr-nausea-score').removeAttribute('max')")
        press(page, "#tr-nausea button")
        wait_js(page, "document.querySelector('#tr-msg').textContent.includes('outside 0-10')")

        page.fill('#tr-med input[name="drug"]', "ondansetron")
        page.fill('#tr-med input[name="dose"]', "4")
        page.select_option('#tr-med select[name="unit"]', "mg")
        page.select_option('#tr-med select[name="route"]', "IV")
        press(page, "#tr-med button")
        wait_js(page, "document.querySelector('#tr-msg').textContent.startsWith('ondansetron 4 mg IV')")

        page.select_option('#tr-adverse select[name="category"]', "nausea-vomiting")
        page.fill('#tr-adverse input[name="text"]', "vomited once, ondansetron given")
        press(page, "#tr-adverse button")
        wait_js(page, "document.querySelector('#tr-msg').textContent === 'adverse event recorded'")

        page.fill('#tr-dose-edit input[name="dose_mg"]', "30")
        page.fill('#tr-dose-edit input[name="reason"]', "pump paused 5 min")
        press(page, "#tr-dose-edit button")
        wait_js(page, "document.querySelector('#tr-dose').textContent.includes('entered by nurse')")
        wait_js(page, "document.querySelectorAll('#tr-entries li').length === 3")
        assert page.get_attribute("#tr-record", "href") == f"/api/sessions/{sid}/record.pdf"
        assert page.is_hidden("#tr-rems")  # no protocol with a REMS form

        page.fill('#tr-identity input[name="name"]', "Zoë Müller")
        page.fill('#tr-identity input[name="mrn"]', "MRN-77")
        press(page, "#tr-identity button")
        wait_js(page, "document.querySelector('#tr-msg').textContent === 'identifiers saved for the record'")
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator("#treatment").screenshot(path=str(ARTIFACTS / "bed-treatment.png"))
        assert errors == []

    engine = database.make_engine(srv.db_url)
    try:
        got = [
            (a["scale"], a["score"], a["items"], a["user"]) for a in assessment_store.session_assessments(engine, sid)
        ]
        assert got == [("moaas", 3.0, None, "nurse"), ("cadss6", 7.0, [1, 0, 2, 0, 1, 3], "nurse")]
        meds = assessment_store.session_medications(engine, sid)
        assert [(m["drug"], m["dose"], m["unit"], m["route"]) for m in meds] == [("ondansetron", 4.0, "mg", "IV")]
        adverse = [
            (n["category"], n["text"]) for n in session_store.session_notes(engine, sid) if n["kind"] == "adverse"
        ]
        assert adverse == [("nausea-vomiting", "vomited once, ondansetron given")]
        assert assessment_store.identity(engine, sid) == {"name": "Zoë Müller", "birth_date": None, "mrn": "MRN-77"}
        entry = assessment_store.given_dose_entry(engine, sid)
        assert entry is not None and (entry["dose_mg"], entry["reason"]) == (30.0, "pump paused 5 min")
    finally:
        engine.dispose()
