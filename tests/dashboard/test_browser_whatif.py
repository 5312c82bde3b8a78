"""The what-if page in real headless Chromium against a real server and real stored sessions.

Sessions come from the simulator through the real service (``tests/alerts/stored_sessions.py``); one
of their alarms is answered "actionable" by a nurse (the real API). A clinician opens ``/whatif``, finds
the rules in force to edit, drops the rule that raised that alarm and compares: the table, the chart
(now vs proposed per rule and phase), the links to the sessions whose alarms change, and the red
warning that the proposal removes an actionable alarm. A malformed proposal is refused with the rule
file's own message; a nurse is refused the page; an administrator adopts the compared proposal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser
from sqlalchemy import create_engine

from monitor.model import Alarm
from monitor.store import alarms as alarm_store
from monitor.store.sessions import find_sessions
from tests.alerts.stored_sessions import record_sessions
from tests.conftest import free_port
from tests.dashboard.browser import ARTIFACTS, chromium, press, sign_in, wait_js
from tests.dashboard.review_server import ReviewServer

pytestmark = pytest.mark.browser


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[ReviewServer, Alarm]]:
    """The server on the simulator's stored sessions, and the tachycardia session's ``hr-high`` alarm."""
    url = f"sqlite:///{tmp_path / 'ivmon.db'}"
    asyncio.run(record_sessions(url))
    engine = create_engine(url)
    try:
        sessions = find_sessions(engine, limit=0)
        alarms = [a for s in sessions for a in alarm_store.session_alarms(engine, s.id)]
        alarm = next(a for a in alarms if a.rule_id == "hr-high")
    finally:
        engine.dispose()
    srv = ReviewServer(free_port(), url, {f"chair-{i}": f"Chair {i}" for i in range(1, 6)}).start()
    try:
        yield srv, alarm
    finally:
        srv.stop()


def _answer_actionable(browser: Browser, base: str, alarm_id: str) -> None:
    """A nurse answers "actionable" for the alarm after the fact, through the page's own API call."""
    nurse = browser.new_context()
    page = nurse.new_page()
    sign_in(page, base, "nurse", "/")
    status = page.evaluate(
        """async (id) => {
            const csrf = document.cookie.match(/(?:^|; )ivmon_csrf=([^;]*)/)[1];
            const res = await fetch(`/api/alarms/${id}/actionable`, { method: "POST",
                headers: { "Content-Type": "application/json", "X-CSRF-Token": decodeURIComponent(csrf) },
                body: JSON.stringify({ actionable: true }) });
            return res.status; }""",
        alarm_id,
    )
    assert status == 200
    refused = page.goto(f"{base}/whatif")  # and a nurse may not open the what-if
    assert refused is not None and refused.status == 403
    nurse.close()


def _without_rule(text: str, rule_id: str) -> str:
    blocks = text.split("[[rule]]")
    kept = [b for b in blocks[1:] if f'id = "{rule_id}"' not in b]
    assert len(kept) == len(blocks) - 2, "the rule was in the rules in force"
    return "".join("[[rule]]" + b for b in kept)


def test_clinician_compares_a_proposal_and_sees_the_actionable_alarm_it_removes(
    recorded: tuple[ReviewServer, Alarm],
) -> None:
    srv, alarm = recorded
    rule_id, session_id = alarm.rule_id, alarm.session_id
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        _answer_actionable(browser, srv.base, alarm.id)
        context = browser.new_context(timezone_id="UTC", viewport={"width": 1400, "height": 1400})
        page = context.new_page()
        sign_in(page, srv.base, "clinician", "/whatif")
        wait_js(page, "document.getElementById('rules').value.includes('[[rule]]')")
        current = page.input_value("#rules")
        assert f'id = "{rule_id}"' in current

        # A malformed proposal: the rule file's own message, nothing compared.
        page.fill("#rules", '[[rule]]\nid = "x"\nvital = "hr"\nop = ">"\nlimit = 1\npriority = "urgent"\n')
        press(page, "#compare")
        wait_js(page, "document.getElementById('status').textContent.startsWith('Not compared')")
        assert "priority must be high, medium or low" in page.inner_text("#status")
        assert page.locator("#comparison").is_hidden()

        # The proposal: the rules in force without the rule whose alarm was actionable.
        page.fill("#rules", _without_rule(current, rule_id))
        press(page, "#compare")
        wait_js(page, "!document.getElementById('comparison').hidden", timeout_s=60)
        status = page.inner_text("#status")
        assert "5 session(s) replayed" in status and "with changed alarms" in status
        rows = page.locator("#comparison tbody tr")
        texts = [rows.nth(i).inner_text() for i in range(rows.count())]
        gone = [t for t in texts if t.startswith(rule_id)]
        assert gone, texts
        cells = gone[0].split("\t")
        assert cells[3] == "0" and int(cells[2]) > 0 and cells[4] == f"-{cells[2]}"  # now n, proposed 0, -n
        assert cells[10] == "1"  # the actionable one removed
        # The warning, in red.
        warning = page.locator("#actionable")
        assert warning.is_visible()
        assert "removes 1 alarm(s) that nurses acknowledged as actionable" in warning.inner_text()
        assert page.evaluate("getComputedStyle(document.getElementById('actionable')).color") == "rgb(179, 0, 27)"
        # The chart: episodes per rule and phase, now and proposed, drawn.
        assert page.evaluate("document.getElementById('chart').data.map(t => t.name)") == ["now", "proposed"]
        labels = page.evaluate("document.getElementById('chart').data[0].x")
        assert any(label.startswith(f"{rule_id} · ") for label in labels)
        assert page.locator("#chart .barlayer .trace").count() == 2
        # The sessions whose alarms change link to their review.
        links = page.locator("#changed a")
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        assert f"/sessions/{session_id}" in hrefs
        page.screenshot(path=str(ARTIFACTS / "whatif.png"), full_page=True)

        # The rules in force again, compared with themselves: nothing changes, no warning.
        press(page, "#reset")
        wait_js(page, f"document.getElementById('rules').value.includes('id = \"{rule_id}\"')")
        press(page, "#compare")
        wait_js(page, "document.getElementById('status').textContent.includes('0 with changed alarms')", 60)
        assert page.locator("#actionable").is_hidden()
        assert page.locator("#changed a").count() == 0
        assert page.locator("#adopt").is_hidden()  # adopting is for administrators
        context.close()

        # An administrator compares the proposal, gives the reason, and adopts it.
        admin = browser.new_context(viewport={"width": 1400, "height": 1400})
        apage = admin.new_page()
        sign_in(apage, srv.base, "admin", "/whatif")
        wait_js(apage, "document.getElementById('rules').value.includes('[[rule]]')")
        apage.fill("#rules", _without_rule(current, rule_id))
        press(apage, "#compare")
        wait_js(apage, "!document.getElementById('comparison').hidden", timeout_s=60)
        assert apage.locator("#actionable").is_visible()
        assert apage.is_disabled("#adopt-btn")  # not without a reason
        apage.fill("#adopt-note", "committee 2027-01: hr-high dropped (hr-high-critical stays)")
        assert apage.is_enabled("#adopt-btn")
        apage.fill("#rules", apage.input_value("#rules") + "\n")
        assert apage.is_disabled("#adopt-btn")  # the text changed since the comparison: compare again
        press(apage, "#compare")
        wait_js(apage, "!document.getElementById('adopt-btn').disabled", timeout_s=60)
        press(apage, "#adopt-btn")
        wait_js(apage, "document.getElementById('adopt-status').textContent.startsWith('Adopted as version')")
        in_force = apage.evaluate("fetch('/api/rules').then(r => r.json())")
        assert in_force["note"].startswith("committee 2027-01") and in_force["author"] == "admin"
        assert rule_id not in {r["id"] for r in in_force["rules"]}
        assert str(in_force["version"]) in apage.inner_text("#adopt-status")
        admin.close()
    assert httpx.post(f"{srv.base}/api/whatif", json={"rules": current}).status_code == 401
