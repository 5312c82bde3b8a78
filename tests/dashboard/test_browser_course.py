"""The course page in real headless Chromium: a clinician sees the sessions and outcome scores charted
together, records a PHQ-9 score in the form, and the chart and table show it (stored as entered)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store import assessments as assessment_store
from monitor.store import database
from monitor.store import outcomes as outcome_store
from tests.conftest import free_port
from tests.dashboard.browser import ARTIFACTS, chromium, press, sign_in, wait_js
from tests.dashboard.review_seed import PATIENT, T0, known_session, seed
from tests.dashboard.review_server import ReviewServer
from tests.dashboard.test_course_api import WEEK, shifted

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ReviewServer]:
    url = f"sqlite:///{tmp_path / 'course.db'}"
    engine = database.make_engine(url)
    database.upgrade(engine)
    asyncio.run(seed(engine, known_session(), dose=35.0, protocol="iv-ketamine-depression"))
    asyncio.run(seed(engine, shifted(WEEK), dose=42.0, protocol="iv-ketamine-depression"))
    clinician = assessment_store.Actor("clinician", {})
    outcome_store.add_outcome(engine, clinician, PATIENT, "phq9", 20.0, "2025-11-12", T0)
    outcome_store.add_outcome(engine, clinician, PATIENT, "gad7", 14.0, "2025-11-12", T0)
    engine.dispose()
    srv = ReviewServer(free_port(), url, {"chair-2": "Chair 2"}).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_a_clinician_reads_the_course_and_records_an_outcome(server: ReviewServer) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, server.base, "clinician", f"/patients/{PATIENT}/course")
        wait_js(page, "document.body.dataset.ready === '1'", 15)
        assert page.locator("#sessions tbody tr").count() == 2
        assert page.locator("#outcomes tbody tr").count() == 2
        # Outcome lines, peak and baseline SBP, dose given and side effects on one time axis.
        names = page.evaluate("document.getElementById('chart').data.map((t) => t.name)")
        assert names == [
            "PHQ-9 depression",
            "GAD-7 anxiety",
            "Peak SBP (mmHg)",
            "Baseline SBP (mmHg)",
            "Dose given (mg/kg)",
            "Side effects",
        ]
        assert page.evaluate("document.querySelectorAll('#chart .trace').length") >= 5  # drawn, not only data
        assert "Transient desaturation" not in page.inner_text("#sessions")  # categories, not free text
        assert "Other ×1" in page.inner_text("#sessions")

        page.select_option("#o-scale", "phq9")
        page.fill("#o-score", "9")
        page.fill("#o-date", "2025-11-26")
        press(page, "#o-save")
        wait_js(page, "document.body.dataset.outcomes === '3'")
        assert page.inner_text("#o-msg") == "outcome recorded"
        assert page.evaluate("document.getElementById('chart').data[0].y") == [20, 9]
        page.fill("#o-score", "30")  # above PHQ-9's 27: the page's own limit stops it before the server
        assert page.evaluate("document.getElementById('o-score').checkValidity()") is False
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "course-page.png"), full_page=True)
        assert page.get_attribute("#dl-pdf", "href") == f"/api/patients/{PATIENT}/course.pdf"
        assert errors == []

    engine = database.make_engine(server.db_url)
    try:
        got = [(o["scale"], o["score"], o["date"], o["user"]) for o in outcome_store.patient_outcomes(engine, PATIENT)]
        assert ("phq9", 9.0, "2025-11-26", "clinician") in got and len(got) == 3
    finally:
        engine.dispose()
