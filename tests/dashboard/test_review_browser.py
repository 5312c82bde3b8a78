"""Session review in real headless Chromium against a real server: what a clinician sees and does.

In order: the clinician signs in, filters the list, opens a session, sees the
stacked charts with phase bands and alarm spans, hovers the systolic peak and
reads its value, downloads the readings as CSV; a screenshot is kept in
``test-artifacts/``. A nurse is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from monitor.store import database
from tests.conftest import free_port
from tests.dashboard.review_seed import PATIENT, T0, known_session, seed
from tests.dashboard.review_server import ReviewServer

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[ReviewServer, int]]:
    url = f"sqlite:///{tmp_path / 'ivmon.db'}"
    engine = database.make_engine(url)
    database.upgrade(engine)
    sid = asyncio.run(seed(engine, known_session()))
    other = known_session()
    other.phases = [(p, ts + 86400) for p, ts in other.phases]
    other.readings = [(ts + 86400, v, x, q) for ts, v, x, q in other.readings[:50]]
    other.alarms, other.notes = [], []
    asyncio.run(seed(engine, other, bed="chair-4", patient="Q-7"))
    engine.dispose()
    srv = ReviewServer(free_port(), url, {"chair-2": "Chair 2", "chair-4": "Chair 4"}).start()
    try:
        yield srv, sid
    finally:
        srv.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: run scripts/ensure-chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


def sign_in(page: Any, base: str, user: str, next_path: str) -> None:
    page.goto(f"{base}/login?next={next_path}")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")


def test_clinician_reviews_a_session_and_a_nurse_is_refused(server: tuple[ReviewServer, int], browser: Any) -> None:
    srv, sid = server
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(timezone_id="UTC", accept_downloads=True, viewport={"width": 1400, "height": 1300})
    page = context.new_page()
    sign_in(page, srv.base, "clinician", "/sessions")
    page.wait_for_url(f"{srv.base}/sessions")
    page.wait_for_selector("#sessions tbody tr")
    assert page.locator("#sessions tbody tr").count() == 2

    page.fill("#f-patient", PATIENT)
    page.click("#apply")
    # Functions, not expressions: an expression is run with eval(), which the pages' CSP forbids.
    page.wait_for_function("() => document.querySelectorAll('#sessions tbody tr').length === 1")
    row = page.locator("#sessions tbody tr").first
    assert "Chair 2" in row.inner_text() and "+49" in row.inner_text()  # the chair's one name: its label
    assert "patient=P-0042" in page.url  # the filter is in the address, bookmarkable
    # The chair filter takes the label a person reads (or the id).
    page.fill("#f-patient", "")
    for name in ("Chair 4", "chair 4", "chair-4"):
        page.fill("#f-bed", name)
        page.click("#apply")
        # The list before the filter may also hold one row (Chair 2's): wait for the filtered one.
        from playwright.sync_api import expect

        rows = page.locator("#sessions tbody tr")
        expect(rows.first).to_contain_text("Chair 4")
        expect(rows).to_have_count(1)
    page.fill("#f-bed", "")
    page.fill("#f-patient", PATIENT)
    page.click("#apply")
    page.wait_for_function("document.querySelectorAll('#sessions tbody tr').length === 1")

    row.locator("a").click()
    page.wait_for_url(f"{srv.base}/sessions/{sid}")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    assert "P-0042" in page.inner_text("#details")

    shapes = page.evaluate("document.getElementById('chart').layout.shapes.map(s => s.name)")
    assert {"phase:baseline", "phase:infusion", "phase:recovery"} <= set(shapes)
    assert sum(1 for s in shapes if s.startswith("alarm:")) == 5
    assert "mark:infusion start" in shapes and "mark:infusion stop" in shapes
    assert page.locator("#chart .shapelayer path").count() >= len(shapes) - 5  # drawn, not only configured
    assert page.locator("#chart .scatterlayer .trace").count() >= 5

    # Hover the systolic peak (171 mmHg at T0 + 1500 s) and read it back.
    point = page.evaluate(
        """([x, y]) => {
            const gd = document.getElementById('chart');
            const fl = gd._fullLayout, box = gd.getBoundingClientRect();
            return [box.left + fl.xaxis._offset + fl.xaxis.d2p(x), box.top + fl.yaxis2._offset + fl.yaxis2.d2p(y)];
        }""",
        [pd.Timestamp(T0 + 1500, unit="s").strftime("%Y-%m-%d %H:%M:%S.000"), 171],
    )
    page.mouse.move(point[0] - 3, point[1] - 3)
    page.mouse.move(point[0], point[1])
    page.wait_for_function("() => document.getElementById('readout').textContent.includes('Systolic 171 mmHg')")
    assert "02:38:20" in page.inner_text("#readout")
    assert "171" in page.evaluate("document.querySelector('#chart .hoverlayer').textContent")
    page.screenshot(path=str(ARTIFACTS / "review-session.png"), full_page=True)

    with page.expect_download() as info:
        page.click("#dl-readings-csv")
    csv = pd.read_csv(info.value.path())
    assert len(csv) == 1834 and list(csv.columns[:4]) == ["time", "epoch_s", "vital", "value"]
    context.close()

    nurse = browser.new_context()
    page = nurse.new_page()
    sign_in(page, srv.base, "nurse", f"/sessions/{sid}")
    page.wait_for_selector("text=Session review is for clinicians and admins")
    response = page.goto(f"{srv.base}/sessions")
    assert response is not None and response.status == 403
    nurse.close()
