"""Training data on screen, in real headless Chromium: marked TRAINING DATA, never on a patient's tile.

A monitor in demo mode (HL7 MSH-11 ``T``, accepted with ``[hl7] processing_ids``)
sends simulated values. The listener marks them ``training`` and binds them to
no chair; the central view must say so in words, and the chair's tile must not
show them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.model import Quality, Reading, Vital
from tests.dashboard.browser import sign_in
from tests.dashboard.liveserver import LiveServer, running
from tests.dashboard.test_browser_central import _chromium

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with running(tmp_path, ["chair-1"]) as srv:
        yield srv


def test_training_data_is_marked_and_stays_off_the_tiles(server: LiveServer) -> None:
    svc = server.service
    assert svc is not None
    pw, browser = _chromium()
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, server.base, "nurse", "/")
        now = time.time()
        training = [
            Reading(Vital.SPO2, 61.0, "%", now, "ICU/PCU^^pDemo7&0&0", Quality.TRAINING, bed="chair-1"),
            Reading(Vital.HR, 187.0, "bpm", now, "ICU/PCU^^pDemo7&0&0", Quality.TRAINING, bed="chair-1"),
        ]
        server.call(lambda: svc.pipeline.submit(training))
        box = page.locator("#unassigned")
        box.wait_for(state="visible", timeout=15_000)
        page.wait_for_function(
            "() => document.querySelector('#unassigned').textContent.includes('TRAINING DATA')", timeout=15_000
        )
        text = box.text_content() or ""
        assert "ICU/PCU^^pDemo7&0&0" in text and "SpO₂ 61" in text  # the Monitors panel (devices.js)
        tile = page.locator('#tiles [data-bed="chair-1"]').text_content() or ""
        assert "187" not in tile and "61" not in tile.split(), "a training value on a patient's tile"
        assert not [a for a in svc.live.alarms.values() if a.bed == "chair-1"], "training data was judged"
        assert errors == []
    finally:
        browser.close()
        pw.stop()
