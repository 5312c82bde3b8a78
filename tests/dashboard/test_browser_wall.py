"""Wall mode: 12 chairs on a 1920x1080 screen and 8 on a 1024x768 tablet, alarm strip included, no scrolling.

Also keeps the screenshots of the central view and the bed page at 1600x1000 and 1024x768.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.model import Phase, Vital
from tests.dashboard.browser import ARTIFACTS, chromium, sign_in, wait_js
from tests.dashboard.liveserver import LiveServer, running

pytestmark = pytest.mark.browser

#: Every tile and the alarm bar inside the window, and nothing to scroll.
ALL_ON_SCREEN = """() => {
  const inside = (e) => { const r = e.getBoundingClientRect();
    return r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight + 0.5 && r.right <= innerWidth + 0.5; };
  const tiles = [...document.querySelectorAll('#tiles .tile')];
  return { tiles: tiles.length, inside: tiles.filter(inside).length,
           bar: inside(document.getElementById('alarmbar')),
           scroll: document.scrollingElement.scrollHeight - innerHeight };
}"""


def _busy(server: LiveServer) -> None:
    """Sessions in every phase, a dose and rate, alarms of two priorities: a full screen."""
    svc = server.service
    assert svc is not None

    async def start() -> None:
        for i, bed in enumerate(server.bed_ids):
            s = await svc.sessions.start(bed, f"PT-{i:04d}", "nurse", dose_mg=35, rate_mg_per_h=52.5)
            if i % 3:
                await svc.sessions.change_phase(s.id, Phase.INFUSION, "nurse")
            if i % 3 == 2:
                await svc.sessions.change_phase(s.id, Phase.RECOVERY, "nurse")

    server.call(start, timeout=60)
    server.feeder.values[server.bed_ids[1]][Vital.SPO2] = 80.0
    server.feeder.values[server.bed_ids[2]][Vital.SBP] = 95.0


@pytest.mark.parametrize(("chairs", "width", "height"), [(12, 1920, 1080), (8, 1024, 768)])
def test_wall_mode_shows_every_chair_and_the_alarms_without_scrolling(
    tmp_path: Path, chairs: int, width: int, height: int
) -> None:
    with running(tmp_path, [f"chair-{i}" for i in range(1, chairs + 1)]) as server:
        server.feeder.nibp_s = 5.0
        _busy(server)
        with chromium() as browser:
            page = browser.new_page(viewport={"width": width, "height": height})
            sign_in(page, server.base, "nurse", "/")
            page.goto(server.base + "/?wall=1")
            page.locator("#alarmbar .alarm").nth(1).wait_for(timeout=15_000)
            wait_js(page, f"document.querySelectorAll('#tiles .tile').length === {chairs}")
            page.wait_for_timeout(1500)
            seen = page.evaluate(ALL_ON_SCREEN)
            page.screenshot(path=str(ARTIFACTS / f"wall-{chairs}-chairs-{width}x{height}.png"))
            assert seen == {"tiles": chairs, "inside": chairs, "bar": True, "scroll": 0}, seen
            assert page.locator("body.wall").count() == 1


def test_screenshots_of_the_central_view_and_the_bed_page(tmp_path: Path) -> None:
    with running(tmp_path, [f"chair-{i}" for i in range(1, 9)]) as server:
        server.feeder.nibp_s = 5.0
        _busy(server)
        with chromium() as browser:
            for width, height in [(1600, 1000), (1024, 768)]:
                page = browser.new_page(viewport={"width": width, "height": height})
                sign_in(page, server.base, "nurse", "/")
                page.goto(server.base + "/?wall=0")
                page.locator("#alarmbar .alarm").nth(1).wait_for(timeout=15_000)
                page.wait_for_timeout(2500)
                tile = page.locator('.tile[data-bed="chair-2"]')
                assert "more" in tile.locator(".top-alarm").inner_text() or tile.locator(".top-alarm").is_visible()
                assert "mg" in page.locator('.tile[data-bed="chair-3"] .protocol').inner_text()
                assert "NIBP every" in page.locator('.tile[data-bed="chair-3"] .nibp').inner_text()
                page.screenshot(path=str(ARTIFACTS / f"central-{width}x{height}.png"))
                tile.click(position={"x": 30, "y": 120})  # anywhere on the tile, not only its name
                page.wait_for_url(server.base + "/beds/chair-2")
                page.locator("#alarmbar .alarm").first.wait_for()
                wait_js(page, "document.getElementById('now').textContent.includes('SpO2 ')")
                now_line = page.inner_text("#now")
                assert "% ·" in now_line and "mmHg ·" in now_line and "ago" in now_line
                page.wait_for_timeout(1500)
                page.screenshot(path=str(ARTIFACTS / f"bed-page-{width}x{height}.png"))
                page.close()
