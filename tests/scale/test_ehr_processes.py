"""Charting across processes on PostgreSQL: a nurse validates rows on a web process, the ingest
process's sender files them (the outbox in the shared database is the only hand-over)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.integration.charting_helpers import act, chart, settled_drafts, wait_status
from tests.integration.ehr_receivers import Hl7Receiver
from tests.scale.procs import PASSWORD, Server, add_user, write_config

pytestmark = pytest.mark.postgres


def test_rows_accepted_on_a_web_process_are_filed_by_the_ingest(postgres_url: str, tmp_path: Path) -> None:
    receiver = Hl7Receiver(free_port()).start()
    extra = "\n".join(
        [
            "[ehr]",
            "interval_baseline_s = 2.0",
            "window_s = 1.5",
            "retry_first_s = 0.2",
            "retry_max_s = 1.0",
            "[ehr.hl7]",
            f'url = "mllp://127.0.0.1:{receiver.port}"',
        ]
    )
    config = write_config(tmp_path / "ivmon.toml", postgres_url, adapters=["sim://?beds=1"], beds=1, extra=extra)
    add_user(postgres_url)
    ingest, web = Server(config, "ingest").start(), Server(config, "web").start()
    try:
        ingest.wait_healthy()
        web.wait_healthy()
        with httpx.Client(base_url=web.base, timeout=20) as nurse:
            res = nurse.post("/api/login", json={"username": "nurse1", "password": PASSWORD})
            assert res.status_code == 200, res.text
            nurse.headers["X-CSRF-Token"] = res.json()["csrf"]
            res = nurse.post("/api/sessions", json={"bed": "chair-1", "patient_ref": "MRN-PG-1"})
            assert res.status_code == 201, res.text
            session = int(res.json()["id"])
            rows = settled_drafts(nurse, session, 2)
            for row in rows:
                act(nurse, session, row, "accept")
            wait_status(nurse, session, {r["row"]: "filed" for r in rows}, timeout=40)
            time.sleep(1.0)
            assert [r["status"] for r in chart(nurse, session) if r["row"] in {x["row"] for x in rows}] == ["filed"] * 2
    finally:
        web.stop()
        ingest.stop()
        receiver.stop()
    got = receiver.accepted()
    assert len(got) == 2 and {str(m.segment("PID")[3]).split("^")[0] for m in got} == {"MRN-PG-1"}
