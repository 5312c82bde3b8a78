"""The flowsheet on the bed page in real headless Chromium: a nurse accepts, rejects and edits rows
as a person clicks (pointer down, a pause, up) while readings stream, and the EHR (python-hl7's MLLP
server) gets the accepted and edited rows, never the rejected one."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.conftest import free_port
from tests.dashboard.browser import ARTIFACTS, sign_in
from tests.dashboard.test_browser_central import _chromium
from tests.integration.charting_helpers import login, settled_drafts, start_server, start_session
from tests.integration.ehr_receivers import Hl7Receiver

pytestmark = pytest.mark.browser


def press(page: Page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not on screen"
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(120)
    page.mouse.up()


def test_a_nurse_validates_the_flowsheet_and_the_ehr_gets_what_she_accepted(tmp_path: Path) -> None:
    receiver = Hl7Receiver(free_port()).start()
    srv = start_server(tmp_path, {"hl7": {"url": f"mllp://127.0.0.1:{receiver.port}"}})
    pw, browser = _chromium()
    try:
        with login(srv.base) as api:
            session = start_session(api, "MRN-UI-1")
            rows = settled_drafts(api, session, 3)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, srv.base, "nurse", "/beds/chair-1")
        row = [f'#flowsheet tr.fs-row[data-row="{r["row"]}"]' for r in rows]
        page.wait_for_selector(f"{row[2]}.fs-draft", timeout=15_000)

        press(page, f"{row[0]} .fs-accept")
        page.wait_for_selector(f"{row[0]} .fs-status:not(.fs-draft)", timeout=15_000)

        press(page, f"{row[1]} .fs-reject")
        page.fill('#flowsheet tr.fs-form input[name="reason"]', "probe off the finger: artefact")
        press(page, "#flowsheet tr.fs-form .fs-save")
        page.wait_for_selector(f"{row[1]}.fs-rejected", timeout=15_000)

        press(page, f"{row[2]} .fs-edit")
        page.fill('#flowsheet tr.fs-form input[name="hr"]', "99")
        page.fill('#flowsheet tr.fs-form input[name="reason"]', "pulse counted by hand")
        press(page, "#flowsheet tr.fs-form .fs-save")
        page.wait_for_selector(f"{row[2]}.fs-edited, {row[2]}.fs-filed", timeout=15_000)

        # Filed rows show as filed at the next refresh.
        page.wait_for_selector(f"{row[0]}.fs-filed", timeout=20_000)
        page.wait_for_selector(f"{row[2]}.fs-filed", timeout=20_000)
        assert "2 filed" in page.inner_text("#flowsheet .fs-summary")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "bed-flowsheet.png"), full_page=True)
        assert errors == []
        time.sleep(0.5)
    finally:
        browser.close()
        pw.stop()
        srv.stop()
        receiver.stop()
    got = receiver.accepted()
    assert len(got) == 2, "the accepted and the edited row; the rejected one never"
    hr = [next(str(s[5]) for s in m.segments("OBX") if str(s[3]).startswith("147842")) for m in got]
    assert hr[1] == "99"
