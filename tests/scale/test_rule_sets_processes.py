"""A rule set adopted on one web process is in force at once in the ingest and in another web process
(real ``ivmon serve`` processes on the real PostgreSQL, no restart); every alarm names its version."""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from monitor.model import Vital
from monitor.store import schema
from tests.conftest import free_port
from tests.scale.procs import Server, add_user, login, until, write_config
from tests.scale.senders import send_now

pytestmark = pytest.mark.postgres

DEFAULTS = resources.files("alerts").joinpath("defaults.toml").read_text(encoding="utf-8")
#: The committee's proposal: the always-on SpO2 limit from 85 to 88 % (the first limit of the file).
PROPOSAL = DEFAULTS.replace("limit = 85", "limit = 88", 1)


def _client(base: str, name: str) -> httpx.Client:
    cookies = login(base, name)
    return httpx.Client(base_url=base, cookies=cookies, headers={"X-CSRF-Token": cookies["ivmon_csrf"]}, timeout=15)


def test_a_rule_set_adopted_on_one_web_process_judges_new_alarms_everywhere_at_once(
    postgres_url: str, tmp_path: Path
) -> None:
    hl7_port = free_port()
    config = write_config(tmp_path / "ivmon.toml", postgres_url, hl7_port=hl7_port)
    add_user(postgres_url)
    add_user(postgres_url, "admin1", "admin")
    ingest, web_a, web_b = (
        Server(config, "ingest").start(),
        Server(config, "web").start(),
        Server(config, "web").start(),
    )
    try:
        for server in (ingest, web_a, web_b):
            server.wait_healthy()
        admin_a, nurse_b = _client(web_a.base, "admin1"), _client(web_b.base, "nurse1")

        def spo2_alarm() -> dict[str, Any] | None:
            found = [
                a for a in nurse_b.get("/api/alarms").json() if a["rule"] == "spo2-critical" and a["ended"] is None
            ]
            return found[0] if found else None

        # The ingest recorded the defaults as version 1 at its start (a web process that started first follows).
        in_force = until(lambda: (r := nurse_b.get("/api/rules").json())["version"] is not None and r)
        assert (in_force["version"], in_force["origin"]) == (1, "configured")

        asyncio.run(send_now(hl7_port, {Vital.SPO2: 80.0}, "MR-1", "chair-1"))
        before = until(spo2_alarm)
        assert (before["limit"], before["rule_set_version"]) == (85.0, 1)
        asyncio.run(send_now(hl7_port, {Vital.SPO2: 97.0}, "MR-1", "chair-1"))
        until(lambda: spo2_alarm() is None)
        asyncio.run(send_now(hl7_port, {Vital.SPO2: 87.0}, "MR-1", "chair-1"))  # not an alarm under version 1

        nurse_a = _client(web_a.base, "nurse1")
        refused = nurse_a.post("/api/rules/adopt", json={"rules_toml": PROPOSAL})
        assert refused.status_code == 403, "adopting a rule set is for admins"
        no_csrf = httpx.post(f"{web_a.base}/api/rules/adopt", json={"rules_toml": PROPOSAL}, cookies=admin_a.cookies)
        assert no_csrf.status_code == 403, "a state-changing request without the CSRF token"
        adopted = admin_a.post("/api/rules/adopt", json={"rules_toml": PROPOSAL, "note": "committee, December"})
        assert adopted.status_code == 200, adopted.text
        assert (adopted.json()["version"], adopted.json()["author"]) == (2, "admin1")

        # The ingest judged by it when the answer came: the next reading at 87 % alarms, on the other web process.
        asyncio.run(send_now(hl7_port, {Vital.SPO2: 87.0}, "MR-1", "chair-1"))
        after = until(spo2_alarm)
        assert (after["limit"], after["rule_set_version"]) == (88.0, 2)
        # The nurse's one-tap answer with the acknowledgement, on the other web process (the answer is
        # stored by that process; the ingest's later rewrite of the row when it resolves keeps it).
        acked = nurse_b.post(f"/api/alarms/{after['id']}/acknowledge", json={"actionable": True})
        assert acked.status_code == 200 and acked.json()["actionable"] is True, acked.text
        asyncio.run(send_now(hl7_port, {Vital.SPO2: 97.0}, "MR-1", "chair-1"))
        until(lambda: spo2_alarm() is None)
        until(lambda: nurse_b.get("/api/rules").json()["version"] == 2)  # the other web process, no restart
        assert nurse_b.get("/api/rules").json()["rules_toml"] == PROPOSAL
        history = nurse_b.get("/api/rules/versions").json()
        assert [(v["version"], v["origin"], v["author"]) for v in history["versions"]] == [
            (1, "configured", "configuration"),
            (2, "adopted", "admin1"),
        ]

        engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            versions = conn.execute(select(schema.alarms.c.rule_id, schema.alarms.c.rule_set_version)).all()
            answer = conn.execute(
                select(schema.alarms.c.actionable, schema.alarms.c.state).where(schema.alarms.c.id == after["id"])
            ).one()
            audit = conn.execute(
                select(schema.audit.c.user, schema.audit.c.target).where(schema.audit.c.action == "rules_adopt")
            ).all()
        engine.dispose()
        assert versions and all(v is not None for _, v in versions), f"a version on every alarm: {versions}"
        assert sorted(v for rule, v in versions if rule == "spo2-critical") == [1, 2]
        assert audit == [("admin1", "rule_set:2")]
        assert tuple(answer) == (True, "resolved")
        for client in (admin_a, nurse_a, nurse_b):
            client.close()
    finally:
        for server in (web_b, web_a, ingest):
            server.stop()
