"""A whole intranasal esketamine session in real Chromium, on a clock 60 times the wall's.

The nurse starts the session with the protocol (the page shows the dose), the pre-dose BP and the BP
at 40 min are counted as taken as the cuff readings arrive, the next cuff reading counts down on the
bed page and the tile, and the discharge, long before the 2 h of observation are over, asks for the
reason and who decided.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.clock import ScaledClock
from monitor.store import sessions as session_store
from monitor.store.readings import session_readings
from tests.dashboard.browser import ARTIFACTS, chromium, sign_in
from tests.dashboard.liveserver import LiveServer, running

BEDS = ["chair-1"]
RATE = 60.0  # clock seconds per real second: 40 clock minutes in 40 s


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with running(tmp_path, BEDS, clock=ScaledClock(RATE)) as srv:
        srv.feeder.period_s = 2.0  # clock seconds: HR and SpO2 every 2 s
        srv.feeder.nibp_s = 60.0  # the cuff every minute before dosing (however slow the machine), then 5 min
        yield srv


def test_an_esketamine_session_from_start_to_a_discharge_with_a_reason(server: LiveServer) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, server.base, "nurse", "/beds/chair-1")
        page.wait_for_selector("#start:not([hidden])")
        page.fill("#start [name=patient_ref]", "PT-ESK-1")
        page.select_option("#start [name=protocol]", "in-esketamine")
        page.fill("#start [name=weight_kg]", "70")
        assert page.is_hidden("#start [name=dose_mg_per_kg]"), "a fixed dose is not per kg"
        page.fill("#start [name=dose_mg]", "84")
        page.wait_for_selector("#dose-arithmetic:has-text('84 mg intranasal (fixed dose)')")
        page.fill("#start [name=dose_mg]", "70")
        page.wait_for_selector("#dose-arithmetic:has-text('not one of 56 or 84 mg')")
        page.fill("#start [name=dose_mg]", "56")
        page.wait_for_selector("#dose-arithmetic:has-text('56 mg intranasal')")
        page.click("#start button[type=submit]")
        page.wait_for_selector("#session-line:has-text('PT-ESK-1')")
        page.wait_for_selector("#due-protocol:has-text('Intranasal esketamine')")
        page.wait_for_selector("#checkpoints li:has-text('BP before dosing')")

        # Dosing once the pre-dose BP is in (the first cuff reading comes at once).
        svc = server.service
        assert svc is not None
        sid = svc.sessions.open_by_bed["chair-1"].id
        page.wait_for_selector("#checkpoints li.pending:has-text('BP before dosing')")
        # The nurse doses once the pre-dose BP is on the chart (stored for this session).
        deadline = time.monotonic() + 15
        while session_readings(svc.engine, sid, ["sbp"]).empty:
            assert time.monotonic() < deadline, "no cuff reading in the session"
            time.sleep(0.1)
        page.click("#to-infusion")
        server.feeder.nibp_s = 300.0
        page.wait_for_selector("#session-line:has-text('infusion')")
        page.wait_for_selector("#checkpoints li.taken:has-text('BP before dosing')", timeout=15_000)
        page.wait_for_selector("#due-nibp:has-text('Next BP in')")
        page.wait_for_selector("#due-assessment:has-text('Next assessment in')")
        page.click("#to-recovery")
        page.wait_for_selector("#session-line:has-text('recovery')")
        # The central view's tile counts down the same schedule.
        tile_page = browser.new_page(viewport={"width": 1400, "height": 900})
        sign_in(tile_page, server.base, "nurse", "/")
        tile_page.wait_for_selector(".tile[data-bed='chair-1'] .nibp:has-text('Next BP')")
        tile_page.wait_for_selector(".tile[data-bed='chair-1'] .protocol:has-text('Intranasal esketamine')")
        tile_page.close()

        # 40 clock minutes pass in about 40 s: a cuff reading in the 35-45 min window takes the checkpoint.
        page.wait_for_selector("#checkpoints li.taken:has-text('BP due at 40 min')", timeout=90_000)
        assert not any(a.rule_id == "checkpoint-bp-2" for a in svc.alarms.active_alarms()), "taken: no alarm"
        page.screenshot(path=str(ARTIFACTS / "esketamine-bed-page.png"))

        # Discharge an hour before the 2 h of observation: the page asks why and who decided.
        page.check("#escort")
        page.fill("#escort-relation", "sister")
        page.click("#to-discharged")
        page.wait_for_selector("#control-msg:has-text('criteria not met')")
        assert page.is_visible("#discharge-reason") and page.is_visible("#decided-by")
        assert "recovery" in page.inner_text("#session-line"), "not discharged without a reason"
        page.fill("#discharge-reason", "patient well, observed by the prescriber")
        page.fill("#decided-by", "Dr Okafor")
        page.click("#to-discharged")
        page.wait_for_selector("#session-line:has-text('no open session')")
        assert not errors, f"JavaScript errors: {errors}"
    stored = session_store.get_session(svc.engine, sid)
    assert stored is not None and stored.discharge is not None
    assert (stored.protocol, stored.dose_mg, stored.discharge.escort_relation, stored.discharge.decided_by) == (
        "in-esketamine",
        56.0,
        "sister",
        "Dr Okafor",
    )
