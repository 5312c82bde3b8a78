"""No page hides an alarm: the strip, its buttons and the tones on the bed page and the session review;
"sound on" kept for the browser's session (a flashing prompt while the browser blocks it); a lost
connection shows the banner and, after 10 s, sounds its own tone. Real Chromium, real mouse presses.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.model import Vital
from tests.dashboard.browser import ARTIFACTS, chromium, press, sign_in
from tests.dashboard.liveserver import LiveServer, running

pytestmark = pytest.mark.browser

BEDS = ["chair-1", "chair-2", "chair-3"]
#: Chromium's own rule for pages on the web: audio starts only after a gesture on the page.
GESTURE_REQUIRED = "--autoplay-policy=user-gesture-required"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with running(tmp_path, BEDS) as srv:
        yield srv


def desaturate(server: LiveServer, bed: str) -> None:
    svc = server.service
    assert svc is not None
    server.feeder.values[bed][Vital.SPO2] = 80.0  # spo2-critical: always on, no delay
    deadline = time.monotonic() + 8
    while not any(a.bed == bed for a in svc.live.alarms.values()):
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_sound_on_follows_the_nurse_to_the_bed_page_and_a_lost_connection_sounds(server: LiveServer) -> None:
    desaturate(server, "chair-3")
    with chromium(GESTURE_REQUIRED) as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        sign_in(page, server.base, "nurse", "/")
        page.locator('#alarmbar .alarm[data-bed="chair-3"]').wait_for()
        press(page, page.locator("#sound"))
        page.wait_for_selector("#sound", state="hidden")
        assert page.evaluate("window.ivmon.audio.enabled") is True
        page.wait_for_function("window.ivmon.audio.beeps.high >= 1", timeout=3_000)

        # The bed page of another chair: chair-3's alarm is in its strip, with the same buttons.
        page.goto(server.base + "/beds/chair-1")
        strip = page.locator('#alarmbar .alarm[data-bed="chair-3"]')
        strip.wait_for()
        assert "SpO2 80 % (limit 85 %)" in strip.inner_text()
        assert strip.locator("button.ack").is_visible() and strip.locator("button.silence").is_visible()
        # Sound stays on, but the browser needs a gesture on this page first: a flashing prompt says so.
        sound = page.locator("#sound.blocked")
        sound.wait_for(timeout=3_000)
        assert "blocks" in sound.inner_text()
        assert page.evaluate("window.ivmon.audio.wanted") is True
        press(page, page.locator("#now"))  # any click on the page lets the sound start
        page.wait_for_selector("#sound", state="hidden", timeout=3_000)
        page.wait_for_function("window.ivmon.audio.beeps.high >= 1", timeout=3_000)
        page.screenshot(path=str(ARTIFACTS / "bed-page-with-strip-1600x1000.png"))

        # The connection goes: the banner at once, the technical tone after 10 s.
        server.stop()
        page.wait_for_selector("#banner", state="visible", timeout=15_000)
        page.wait_for_function("window.ivmon.audio.beeps.connection >= 1", timeout=20_000)
        assert page.evaluate("window.ivmon.audio.playing") == "connection"


def test_the_session_review_shows_every_chairs_alarms_and_acknowledges_them(server: LiveServer) -> None:
    svc = server.service
    assert svc is not None
    desaturate(server, "chair-2")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1024, "height": 768})
        sign_in(page, server.base, "clinician", "/sessions")
        row = page.locator('#alarmbar .alarm[data-bed="chair-2"]')
        row.wait_for()
        assert "Chair 2" in row.inner_text(), "the chair's label, as on the central view"
        page.screenshot(path=str(ARTIFACTS / "review-with-strip-1024x768.png"))
        alarm_id = row.get_attribute("data-alarm")
        assert alarm_id is not None
        press(page, row.locator("button.ack"))
        deadline = time.monotonic() + 5
        while svc.live.alarms[alarm_id].acknowledged_by != "clinician":
            assert time.monotonic() < deadline, "the press on Acknowledge did not land"
            time.sleep(0.05)
        page.locator(f'#alarmbar .alarm.acknowledged[data-alarm="{alarm_id}"]').wait_for(timeout=3_000)
