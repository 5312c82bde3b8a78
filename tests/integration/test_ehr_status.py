"""A destination that does not take messages: the rows wait (pending), /metrics counts them by
destination, and past ``down_notice_s`` a site-wide technical notice is on every screen until the
EHR takes messages again."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port
from tests.integration.charting_helpers import act, login, settled_drafts, start_server, start_session, wait_status
from tests.integration.ehr_receivers import Hl7Receiver


def ehr_notices(client: httpx.Client) -> list[dict[str, Any]]:
    alarms: list[dict[str, Any]] = client.get("/api/alarms").json()
    return [a for a in alarms if a["rule"] == "ehr_unreachable"]


def test_a_destination_down_is_counted_and_becomes_a_site_wide_notice(tmp_path: Path) -> None:
    port = free_port()
    srv = start_server(tmp_path, {"hl7": {"url": f"mllp://127.0.0.1:{port}"}, "down_notice_s": 2.0})
    receiver = Hl7Receiver(port)
    try:
        with login(srv.base) as nurse:
            session = start_session(nurse)
            row = settled_drafts(nurse, session, 1)[0]
            act(nurse, session, row, "accept")
            deadline = time.monotonic() + 20
            while not ehr_notices(nurse) and time.monotonic() < deadline:
                time.sleep(0.2)
            notice = ehr_notices(nurse)
            assert notice and notice[0]["bed"] is None and notice[0]["kind"] == "technical", "site-wide, technical"
            metrics = nurse.get("/metrics").text
            assert 'ivmon_ehr_outbox_entries{destination="hl7",state="pending"} 1.0' in metrics
            retries = [ln for ln in metrics.splitlines() if ln.startswith('ivmon_ehr_retries_total{destination="hl7"}')]
            assert retries and float(retries[0].split()[-1]) >= 1
            receiver.start()
            wait_status(nurse, session, {row["row"]: "filed"})
            deadline = time.monotonic() + 10
            while ehr_notices(nurse) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not ehr_notices(nurse), "the notice ends when the EHR takes messages again"
            assert 'ivmon_ehr_outbox_entries{destination="hl7",state="sent"} 1.0' in nurse.get("/metrics").text
    finally:
        srv.stop()
        receiver.stop()
    assert len(receiver.accepted()) == 1
