"""The central view in real headless Chromium against a real server: what a nurse sees and does.

One scenario, in order: login; six tiles updating; a patient desaturates and the
tile turns red with the alarm in the bar within (condition delay + 2 s); the
nurse acknowledges and the audit log shows who and when; the server goes away
and the "connection lost" banner appears within 15 s; the server comes back on
the same port and database and the page recovers by itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.demo import ensure_demo_users
from monitor.model import Vital
from tests.conftest import free_port
from tests.dashboard.liveserver import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
BEDS = [f"chair-{i}" for i in range(1, 7)]
SPO2_CRITICAL_DELAY_S = 0.0  # rule spo2-critical (alerts/defaults.toml): spo2 < 85, no condition delay

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    srv = LiveServer(free_port(), f"sqlite:///{tmp_path / 'ivmon.db'}", BEDS)
    srv.on_build(ensure_demo_users)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _chromium():  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: run scripts/ensure-chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run"],
    )
    return pw, browser


def test_nurse_sees_a_desaturation_acknowledges_it_and_the_page_survives_a_server_restart(server: LiveServer) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    svc = server.service
    assert svc is not None
    server.call(lambda: svc.sessions.start("chair-3", "PT-0003", "nurse", weight_kg=70, dose_mg=35, rate_mg_per_h=50))
    pw, browser = _chromium()
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 820})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # -- a nurse logs in ------------------------------------------------------------
        page.goto(server.base + "/")
        page.wait_for_url("**/login**")
        page.fill("#username", "nurse")
        page.fill("#password", "demo")
        page.click("#signin")
        page.wait_for_url(server.base + "/")
        page.wait_for_selector("#who:has-text('nurse')")

        # -- six tiles, updating -----------------------------------------------------------
        page.wait_for_function("document.querySelectorAll('.tile').length === 6", timeout=10_000)
        page.wait_for_selector("#banner", state="hidden", timeout=10_000)
        for i, bed in enumerate(BEDS):
            server.feeder.values[bed][Vital.HR] = 101.0 + i  # new values must reach every tile
        page.wait_for_function(
            """() => [...document.querySelectorAll('.tile')].every(
                   (t, i) => t.querySelector('.num.hr .value').textContent === String(101 + i))""",
            timeout=5_000,
        )
        assert page.locator(".tile.alarm-high").count() == 0
        assert page.locator(".tile .num.stale").count() == 0, "fresh values must not look stale"
        page.wait_for_timeout(1500)  # let the sparklines draw a little history
        page.screenshot(path=str(ARTIFACTS / "central-calm.png"))

        # -- a patient desaturates: the tile turns red, the alarm is in the bar ----------
        server.feeder.values["chair-3"][Vital.SPO2] = 80.0
        tile = page.locator('.tile[data-bed="chair-3"]')
        tile.and_(page.locator(".alarm-high")).wait_for(timeout=10_000)
        seen_at = time.time()
        row = page.locator('#alarmbar .alarm.high[data-bed="chair-3"]')
        row.wait_for(timeout=2_000)
        started = page.evaluate(
            "[...window.ivmon.state.alarms.values()].find(a => a.bed === 'chair-3' && a.priority === 'high').started"
        )
        assert seen_at - started <= SPO2_CRITICAL_DELAY_S + 2.0, f"alarm on screen {seen_at - started:.2f} s after start"
        assert "SpO2" in row.inner_text()
        assert page.locator(".tile.alarm-high").count() == 1
        page.screenshot(path=str(ARTIFACTS / "central-high-alarm.png"))

        # -- the nurse acknowledges; the audit log shows who and when -----------------------
        clicked = time.time()
        row.locator("button.ack").click()
        page.wait_for_selector('#alarmbar .alarm.high.acknowledged[data-bed="chair-3"]', timeout=5_000)
        assert "by nurse" in row.inner_text()
        with httpx.Client(base_url=server.base) as client:
            assert client.post("/api/login", json={"username": "clinician", "password": "demo"}).status_code == 200
            audit = client.get("/api/audit").json()
        acks = [a for a in audit if a["action"] == "alarm_acknowledge"]
        assert acks and acks[0]["user"] == "nurse" and abs(acks[0]["ts"] - clicked) < 5
        assert any(a["action"] == "login" and a["user"] == "nurse" for a in audit)

        # -- the server goes away: banner within 15 s ----------------------------------------
        server.stop()
        stopped = time.time()
        page.wait_for_selector("#banner", state="visible", timeout=15_000)
        assert time.time() - stopped <= 15.0
        assert "connection lost" in page.inner_text("#banner").lower()
        assert page.locator("body.disconnected").count() == 1, "values must be greyed while the connection is lost"

        # -- back on the same port and database: the page recovers by itself -------------------
        server.feeder.values["chair-1"][Vital.HR] = 64.0
        server.start()
        page.wait_for_selector("#banner", state="hidden", timeout=20_000)
        page.wait_for_function(
            "document.querySelector('.tile[data-bed=\"chair-1\"] .num.hr .value').textContent === '64'",
            timeout=10_000,
        )
        # The latched, still-active alarm came back from the database with its acknowledgement.
        page.wait_for_selector('#alarmbar .alarm.high[data-bed="chair-3"]', timeout=5_000)
        assert not errors, f"JavaScript errors: {errors}"
    finally:
        browser.close()
        pw.stop()
