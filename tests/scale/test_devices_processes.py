"""Associations made on a web process reach the ingest's binding (ingest + web processes on PostgreSQL)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.model import Vital
from tests.conftest import free_port
from tests.scale.procs import Server, add_user, login, until, write_config
from tests.scale.senders import send_now

pytestmark = pytest.mark.postgres


def test_a_nurse_on_a_web_process_associates_a_monitor_that_the_ingest_receives(
    postgres_url: str, tmp_path: Path
) -> None:
    hl7_port = free_port()
    config = write_config(tmp_path / "ivmon.toml", postgres_url, hl7_port=hl7_port)
    add_user(postgres_url)
    ingest, web = Server(config, "ingest").start(), Server(config, "web").start()
    try:
        ingest.wait_healthy()
        web.wait_healthy()
        cookies = login(web.base)
        client = httpx.Client(base_url=web.base, cookies=cookies, headers={"X-CSRF-Token": cookies["ivmon_csrf"]})

        def device(name: str) -> dict[str, Any] | None:
            found = [d for d in client.get("/api/devices").json()["devices"] if d["device"] == name]
            return found[0] if found else None

        def chair_hr(bed: str) -> float | None:
            chair = next(b for b in client.get("/api/beds").json()["beds"] if b["id"] == bed)
            hr = chair["vitals"].get("hr")
            return hr["value"] if hr else None

        asyncio.run(send_now(hl7_port, {Vital.HR: 70.0}, "MR-1"))
        seen = until(lambda: device("MR-1"))
        assert seen["bed"] is None and seen["address"] == "127.0.0.1"

        res = client.post("/api/beds/chair-1/devices", json={"device": "MR-1"}, timeout=15)
        assert res.status_code == 200, res.text
        assert device("MR-1")["bed"] == "chair-1"  # type: ignore[index]  # applied before the answer
        asyncio.run(send_now(hl7_port, {Vital.HR: 71.0}, "MR-1"))
        until(lambda: chair_hr("chair-1") == 71.0)

        assert client.delete("/api/beds/chair-1/devices/MR-1", timeout=15).status_code == 200
        assert client.delete("/api/beds/chair-1/devices/MR-1", timeout=15).status_code == 404
        asyncio.run(send_now(hl7_port, {Vital.HR: 99.0}, "MR-1"))
        until(lambda: (device("MR-1") or {}).get("bed") is None)
        assert chair_hr("chair-1") == 71.0
        client.close()
    finally:
        web.stop()
        ingest.stop()
