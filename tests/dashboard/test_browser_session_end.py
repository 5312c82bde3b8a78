"""Alarms belong to the session: a discharge files them; nothing of that patient stays on the chair.

Real server, real Chromium: the nurse discharges from the bed page (escort ticked, real clicks);
``GET /api/beds``, the central view, the bed page's strip and the audit log are checked; readings that
arrive for the chair without a session are judged by the always-on rules and say so; the next
patient's tile and chart start clean. The tile's headline is the most urgent *current* alarm.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.model import Phase, Vital
from monitor.store import alarms as alarm_store
from monitor.store import audit as audit_store
from tests.dashboard.browser import ARTIFACTS, chromium, press, sign_in, wait_js
from tests.dashboard.liveserver import LiveServer, running

pytestmark = pytest.mark.browser

BEDS = [f"chair-{i}" for i in range(1, 5)]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with running(tmp_path, BEDS) as srv:
        srv.feeder.nibp_s = 2.0
        yield srv


def wait_until(check, timeout: float = 8.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def nurse_client(server: LiveServer) -> httpx.Client:
    client = httpx.Client(base_url=server.base)
    res = client.post("/api/login", json={"username": "nurse", "password": "demo"})
    assert res.status_code == 200
    client.headers["X-CSRF-Token"] = res.json()["csrf"]
    return client


def test_discharge_files_the_sessions_alarms_and_the_chair_starts_clean(server: LiveServer) -> None:
    svc = server.service
    assert svc is not None
    feeder = server.feeder

    async def to_recovery() -> int:
        s = await svc.sessions.start("chair-2", "PT-0002", "nurse")
        await svc.sessions.change_phase(s.id, Phase.INFUSION, "nurse")
        return s.id

    sid = server.call(to_recovery)
    # A latched high alarm (SpO2 critically low, over again) and an open one (systolic critically low).
    feeder.values["chair-2"][Vital.SPO2] = 80.0
    wait_until(lambda: any(a.rule_id == "spo2-critical" and a.bed == "chair-2" for a in svc.live.alarms.values()))
    feeder.values["chair-2"][Vital.SPO2] = 97.0
    feeder.values["chair-2"][Vital.SBP] = 85.0
    wait_until(lambda: any(a.rule_id == "bp-low-critical" for a in svc.live.alarms.values()))
    wait_until(lambda: any(a.state.value == "resolved" for a in svc.live.alarms.values()))
    server.call(lambda: svc.sessions.change_phase(sid, Phase.RECOVERY, "nurse"))
    ours = {a.id for a in svc.live.alarms.values() if a.session_id == sid}
    assert len(ours) >= 2

    with chromium() as browser:
        central = browser.new_page(viewport={"width": 1600, "height": 1000})
        sign_in(central, server.base, "nurse", "/")
        tile = central.locator('.tile[data-bed="chair-2"]')
        tile.locator(".top-alarm").wait_for()
        # The headline is the current alarm; the latched one comes after it and says what it is.
        assert "Systolic critically low" in tile.locator(".top-alarm").inner_text()
        assert "more" in tile.locator(".top-alarm .more").inner_text()
        rows = central.locator('#alarmbar .alarm[data-bed="chair-2"]')
        assert "resolved, not acknowledged" in rows.last.inner_text()
        assert "SpO2 " in rows.last.inner_text() and "%" in rows.last.inner_text()
        central.screenshot(path=str(ARTIFACTS / "central-latched-before-discharge-1600x1000.png"))

        # The bed page shows every chair's alarms too (the strip), and the nurse discharges there.
        bed = browser.new_page(viewport={"width": 1024, "height": 768})
        sign_in(bed, server.base, "nurse", "/beds/chair-2")
        bed.locator('#alarmbar .alarm[data-bed="chair-2"]').first.wait_for()
        bed.screenshot(path=str(ARTIFACTS / "bed-page-strip-1024x768.png"))
        bed.fill("#abort-reason", "typed, then the patient was discharged instead")
        bed.check("#escort")
        bed.fill("#escort-relation", "friend")
        # Alarms are active: the criteria are not met, so the nurse gives the reason and who decided.
        bed.fill("#discharge-reason", "transferred to the ward, alarms handed over")
        bed.fill("#decided-by", "Dr Lee")
        press(bed, "#to-discharged")
        bed.wait_for_selector("#session-line:has-text('no open session')")

        # Nothing of the session remains: not in the API, not on either screen.
        client = nurse_client(server)
        try:
            chair = next(b for b in client.get("/api/beds").json()["beds"] if b["id"] == "chair-2")
        finally:
            client.close()
        assert chair["session"] is None
        assert [a for a in chair["alarms"] if a["session"] == sid] == []
        central.locator('#alarmbar .alarm[data-bed="chair-2"]').first.wait_for(state="detached", timeout=5_000)
        tile.locator(".top-alarm").wait_for(state="hidden", timeout=5_000)
        assert tile.locator(".phase").text_content() == "no session"
        assert tile.locator(".patient").inner_text() == ""
        assert bed.locator('#alarmbar .alarm[data-bed="chair-2"]').count() == 0
        central.screenshot(path=str(ARTIFACTS / "central-after-discharge-1600x1000.png"))

        # Filed with who and when: the alarm's own history and the audit log.
        history = alarm_store.alarm_history(svc.engine, sorted(ours))
        filed = [h for h in history if h["transition"] == "ended-with-session"]
        assert filed and all(h["user"] == "nurse" for h in filed)
        audit = [a for a in audit_store.read_audit(svc.engine) if a["action"] == "alarms_filed"]
        assert len(audit) == 1 and audit[0]["user"] == "nurse" and audit[0]["target"] == f"session:{sid}"
        assert set(audit[0]["detail"]["alarms"]) == {h["alarm_id"] for h in filed}
        assert alarm_store.open_alarms(svc.engine) == [] or all(
            a.session_id != sid for a in alarm_store.open_alarms(svc.engine)
        )

        # The empty chair's readings are still judged by the always-on rules, and such alarms say so.
        feeder.values["chair-2"][Vital.SPO2] = 80.0
        row = central.locator('#alarmbar .alarm[data-bed="chair-2"]')
        row.first.wait_for(timeout=8_000)
        assert "no session: always-on rule" in row.first.inner_text()
        feeder.values["chair-2"][Vital.SPO2] = 97.0
        feeder.values["chair-2"][Vital.SBP] = 122.0

        # The next patient: a clean tile, an empty abort-reason box, a chart that starts with the session.
        bed.fill("#start [name=patient_ref]", "PT-0003")
        press(bed, "#start button[type=submit]")
        bed.wait_for_selector("#session-line:has-text('PT-0003')")
        assert bed.input_value("#abort-reason") == ""
        started = svc.sessions.open_by_bed["chair-2"].started
        wait_js(bed, f"window.ivmon.chart.current()[0] >= {started - 1}")  # the chart is redrawn after the line
        tile.locator(".patient:has-text('PT-0003')").wait_for()
        assert central.locator('#alarmbar .alarm[data-bed="chair-2"]').filter(has_text="PT-0002").count() == 0
        assert not any(a.session_id == sid for a in svc.live.alarms.values())
