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
from tests.dashboard.browser import ARTIFACTS, chromium, press, sign_in, wait_js
from tests.dashboard.liveserver import LiveServer, running

pytestmark = pytest.mark.browser

BEDS = ["chair-1", "chair-2", "chair-3"]
#: Desktop Chromium starts audio only after a gesture on the page; headless Chromium never blocks it
#: (whatever --autoplay-policy says). This init script gives a window that desktop rule: an
#: AudioContext stays suspended until the first pointer press. The page under test is unchanged.
BLOCK_AUDIO_UNTIL_GESTURE = """(() => {
  const Real = window.AudioContext;
  let allowed = false;
  window.addEventListener('pointerdown', () => { allowed = true; }, true);
  window.AudioContext = class extends Real {
    constructor(...args) { super(...args); if (!allowed) this.suspend(); }
    resume() { return allowed ? super.resume() : new Promise(() => {}); }
  };
})()"""


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
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        page = context.new_page()
        sign_in(page, server.base, "nurse", "/")
        page.locator('#alarmbar .alarm[data-bed="chair-3"]').wait_for()
        press(page, "#sound")
        page.wait_for_selector("#sound", state="hidden")
        assert page.evaluate("window.ivmon.audio.enabled") is True
        wait_js(page, "window.ivmon.audio.beeps.high >= 1", 3)

        # The bed page of another chair: chair-3's alarm is in its strip, with the same buttons.
        page.goto(server.base + "/beds/chair-1")
        strip = page.locator('#alarmbar .alarm[data-bed="chair-3"]')
        strip.wait_for()
        assert "SpO2 80 % (limit 85 %)" in strip.inner_text()
        assert strip.locator("button.ack").is_visible() and strip.locator("button.silence").is_visible()
        # Sound stays on for this browser session: Chromium carries the click over a same-site navigation,
        # so it sounds at once; where it does not, the prompt below says so.
        assert page.evaluate("window.ivmon.audio.wanted") is True
        wait_js(page, "window.ivmon.audio.enabled || !!document.querySelector('#sound.blocked')")

        # A new window (the same login) where sound is on but nobody has touched the page yet: the browser
        # blocks it, a flashing
        # prompt says so, and the first click anywhere lets it sound.
        fresh = browser.new_context(storage_state=context.storage_state(), viewport={"width": 1024, "height": 768})
        fresh.add_init_script(BLOCK_AUDIO_UNTIL_GESTURE)
        tab = fresh.new_page()
        tab.add_init_script("sessionStorage.setItem('ivmon.sound', 'on')")
        tab.goto(server.base + "/beds/chair-2")
        tab.locator('#alarmbar .alarm[data-bed="chair-3"]').wait_for()
        sound = tab.locator("#sound.blocked")
        sound.wait_for(timeout=3_000)
        assert "blocks" in sound.inner_text()
        assert tab.evaluate("window.ivmon.audio.enabled") is False
        press(tab, ".ranges .push")  # a static label: any click is a gesture; #now is empty until a reading
        tab.wait_for_selector("#sound", state="hidden", timeout=3_000)
        wait_js(tab, "window.ivmon.audio.beeps.high >= 1", 3)
        fresh.close()
        page.bring_to_front()
        press(page, ".ranges .push")
        wait_js(page, "window.ivmon.audio.enabled", 3)
        page.screenshot(path=str(ARTIFACTS / "bed-page-with-strip-1600x1000.png"))

        # The connection goes: the banner at once, the technical tone after 10 s.
        server.stop()
        page.wait_for_selector("#banner", state="visible", timeout=15_000)
        wait_js(page, "window.ivmon.audio.beeps.connection >= 1", 20)
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
        press(page, f'#alarmbar .alarm[data-alarm="{alarm_id}"] button.ack')
        deadline = time.monotonic() + 5
        while svc.live.alarms[alarm_id].acknowledged_by != "clinician":
            assert time.monotonic() < deadline, "the press on Acknowledge did not land"
            time.sleep(0.05)
        page.locator(f'#alarmbar .alarm.acknowledged[data-alarm="{alarm_id}"]').wait_for(timeout=3_000)
