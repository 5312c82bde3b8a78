"""The one-tap "actionable?" answer on the alarm strip, in real Chromium with real presses while data streams.

Acknowledge stays one press; the answer is offered on the acknowledged row for a few seconds, in a
place every row keeps from the start (the Acknowledge and Silence buttons do not move when it
appears). A latched alarm that leaves the screens with its acknowledgement keeps its row until the
answer is given or the offer ends. Not answering is fine: nothing is stored then.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page
from sqlalchemy import select

from monitor.model import Vital
from monitor.store import schema
from tests.dashboard.browser import ARTIFACTS, chromium, press, sign_in, wait_js
from tests.dashboard.liveserver import LiveServer, running

pytestmark = pytest.mark.browser

BEDS = ["chair-1", "chair-2", "chair-3"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with running(tmp_path, BEDS) as srv:
        yield srv


def _stored(server: LiveServer, alarm_id: str) -> tuple[Any, Any]:
    svc = server.service
    assert svc is not None
    with svc.engine.connect() as conn:
        row = conn.execute(
            select(schema.alarms.c.acknowledged_by, schema.alarms.c.actionable).where(schema.alarms.c.id == alarm_id)
        ).one()
    return row[0], row[1]


def _until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not seen in time"
        time.sleep(0.05)


#: Where a button is on screen (its left, top and width).
BOX = "(s) => { const r = document.querySelector(s).getBoundingClientRect(); return [r.x, r.y, r.width]; }"


def _box(page: Page, selector: str) -> list[float]:
    box: list[float] = page.evaluate(BOX, selector)
    return box


def _spo2_alarm(server: LiveServer, bed: str) -> str:
    svc = server.service
    assert svc is not None
    found: list[str] = []

    def seen() -> bool:
        found[:] = [a.id for a in svc.live.alarms.values() if a.bed == bed and a.rule_id == "spo2-critical"]
        return bool(found)

    _until(seen)
    return found[0]


def test_acknowledge_is_one_press_and_the_answer_one_more_offered_on_the_row(server: LiveServer) -> None:
    svc = server.service
    assert svc is not None

    async def start_all() -> None:
        for i, bed in enumerate(BEDS):
            await svc.sessions.start(bed, f"PT-{i}", "nurse")

    server.call(start_all)
    server.feeder.period_s = 0.2  # data streams at 5 readings/s per chair while the nurse presses
    for bed in BEDS:
        server.feeder.values[bed][Vital.SPO2] = 80.0
    first, second, latched = (_spo2_alarm(server, bed) for bed in BEDS)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, server.base, "nurse", "/")
        row = f'#alarmbar .alarm[data-alarm="{first}"]'
        page.locator(row).wait_for(timeout=20_000)
        assert page.evaluate(f"!document.querySelector('{row} .ask').classList.contains('open')")
        before = (_box(page, f"{row} button.ack"), _box(page, f"{row} button.silence"))

        press(page, f"{row} button.ack")
        _until(lambda: _stored(server, first)[0] == "nurse")  # one press acknowledged it, no answer needed
        wait_js(page, f"document.querySelector('{row} .ask').classList.contains('open')")
        assert (_box(page, f"{row} button.ack"), _box(page, f"{row} button.silence")) == before, "nothing moved"
        page.screenshot(path=str(ARTIFACTS / "alarm-actionable-offer-1600x1000.png"))
        press(page, f"{row} button.yes")
        _until(lambda: _stored(server, first) == ("nurse", True))
        wait_js(page, f"!document.querySelector('{row} .ask').classList.contains('open')")
        assert "actionable" in page.inner_text(f"{row} .flags")

        # Acknowledged and not answered: the offer ends by itself, nothing is stored.
        row2 = f'#alarmbar .alarm[data-alarm="{second}"]'
        press(page, f"{row2} button.ack")
        _until(lambda: _stored(server, second)[0] == "nurse")
        wait_js(page, f"document.querySelector('{row2} .ask').classList.contains('open')")
        wait_js(page, f"!document.querySelector('{row2} .ask').classList.contains('open')", timeout_s=20)
        assert _stored(server, second) == ("nurse", None)

        # A latched alarm (over, not acknowledged) leaves every screen with its acknowledgement: its row
        # stays here for the answer, then goes.
        server.feeder.values["chair-3"][Vital.SPO2] = 97.0
        _until(lambda: svc.live.alarms[latched].ended is not None)
        row3 = f'#alarmbar .alarm[data-alarm="{latched}"]'
        wait_js(page, f"document.querySelector('{row3}').classList.contains('resolved')")
        press(page, f"{row3} button.ack")
        _until(lambda: _stored(server, latched)[0] == "nurse")
        assert latched not in svc.live.alarms, "off the screens on the server"
        wait_js(page, f"document.querySelector('{row3} .ask')?.classList.contains('open')")
        press(page, f"{row3} button.no")
        _until(lambda: _stored(server, latched) == ("nurse", False))
        page.mouse.move(5, 5)  # the pointer leaves the strip: the held rows may go
        wait_js(page, f"!document.querySelector('{row3}')")
        assert not errors, errors
