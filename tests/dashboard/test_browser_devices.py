"""Portable monitors in real headless Chromium: the Monitors panel, an unassigned monitor's alarm, and a
nurse starting a session with the monitor that is sending (issue 18).

Two monitors send PCD-01 over their own MLLP connections to the server's real listener,
both unassigned: MR-2231 with normal values, MR-9 with SpO2 80 (an always-on critical alarm).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.hl7.client import MllpClient
from monitor.model import Vital
from simulators.emit.pcd01 import encode_pcd01
from tests.dashboard.browser import sign_in
from tests.dashboard.liveserver import LiveServer
from tests.dashboard.test_browser_central import _chromium
from tests.dashboard.test_devices_api import start_server

pytestmark = pytest.mark.browser


class Monitors:
    """Monitors sending once every 0.5 s on persistent connections, in a thread of their own."""

    def __init__(self, port: int, devices: dict[str, dict[Vital, float]]) -> None:
        self.port = port
        self.devices = devices
        self.stop = threading.Event()
        self.acks: list[str] = []
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _one(self, device: str, vitals: dict[Vital, float]) -> None:
        client = MllpClient("127.0.0.1", self.port)
        await client.connect()
        try:
            while not self.stop.is_set():
                ack = await client.send(encode_pcd01(vitals, time.time(), device=device, location=""))
                self.acks.append(ack.code)
                await asyncio.sleep(0.5)
        finally:
            await client.close()

    async def _run(self) -> None:
        await asyncio.gather(*(self._one(d, v) for d, v in self.devices.items()))

    def __enter__(self) -> Monitors:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    srv = start_server(tmp_path, f"sqlite:///{tmp_path / 'ivmon.db'}")
    try:
        yield srv
    finally:
        srv.stop()


def test_a_nurse_picks_the_sending_monitor_at_session_start_and_an_unassigned_alarm_says_where(
    server: LiveServer,
) -> None:
    sending = {"MR-2231": {Vital.HR: 73.0, Vital.SPO2: 96.0}, "MR-9": {Vital.HR: 88.0, Vital.SPO2: 80.0}}
    with Monitors(server.hl7_port, sending) as monitors:  # type: ignore[attr-defined]
        pw, browser = _chromium()
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            sign_in(page, server.base, "nurse", "/")

            # -- the Monitors panel: both unassigned, where they are, MR-9 alarming like a chair ----
            panel = page.locator("#unassigned")
            panel.locator(".monitor[data-device='MR-2231']").wait_for(timeout=10_000)
            alarming = panel.locator(".monitor[data-device='MR-9']")
            alarming.wait_for(timeout=10_000)
            page.wait_for_function(
                "document.querySelector(\".monitor[data-device='MR-9']\").classList.contains('alarm-high')",
                timeout=10_000,
            )
            text = "Unassigned monitor MR-9 (127.0.0.1): SpO2 80 % (limit 85 %)"
            assert text in alarming.inner_text()
            panel.locator(".monitor[data-device='MR-2231'] .where").filter(has_text="127.0.0.1").wait_for(
                timeout=10_000
            )
            page.wait_for_function(f"document.querySelector('#alarmbar').innerText.includes({text!r})")
            animation = alarming.evaluate("e => getComputedStyle(e).animationName")
            assert animation == "monitor-flash-high"

            # -- chair 1: start a session, picking the monitor that is sending --------------------
            page.goto(server.base + "/beds/chair-1")
            form = page.locator("#start")
            form.wait_for(state="visible", timeout=10_000)
            choice = form.locator("input[name=device_pick][value='MR-2231']")
            choice.wait_for(timeout=10_000)
            assert "HR 73" in choice.locator("xpath=..").inner_text()
            page.fill("input[name=patient_ref]", "PT-2231")
            choice.check()
            button = form.locator("button[type=submit]")
            box = button.bounding_box()
            assert box is not None
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.wait_for_timeout(120)  # a person's click, while the monitors keep sending
            page.mouse.up()
            page.wait_for_selector("#phase-controls:not([hidden])", timeout=10_000)

            # -- its values are the chair's ---------------------------------------------------
            page.goto(server.base + "/")
            hr = page.locator(".tile[data-bed='chair-1'] .num.hr .value")
            hr.filter(has_text="73").wait_for(timeout=10_000)
            panel.locator(".monitor[data-device='MR-2231']").wait_for(state="detached", timeout=10_000)
            assert panel.locator(".monitor[data-device='MR-9']").count() == 1
            assert errors == []
        finally:
            browser.close()
            pw.stop()
    assert monitors.acks and set(monitors.acks) == {"AA"}
    assert server.service is not None
    assoc = server.service.devices.bindings.current("MR-2231")
    assert assoc is not None and assoc.bed == "chair-1" and assoc.user == "nurse"
