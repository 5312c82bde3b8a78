"""Real processes on the real PostgreSQL: a web process killed, its screens move to another and miss nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from sqlalchemy import create_engine, select

from monitor.store import schema
from tests.scale.procs import Server, add_user, cookie_header, health_details, listen, login, messages, write_config

pytestmark = pytest.mark.postgres


async def _watch(
    base: str, cookies: httpx.Cookies, seconds: float, since: int | None = None, epoch: str = ""
) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    url = base.replace("http", "ws") + "/ws/live" + (f"?since={since}&epoch={epoch}" if since is not None else "")
    async with websockets.connect(url, additional_headers=cookie_header(cookies)) as ws:
        got.extend(messages(await asyncio.wait_for(ws.recv(), 10)))
        stop = asyncio.Event()
        task = asyncio.create_task(listen(ws, got, stop))
        await asyncio.sleep(seconds)
        stop.set()
        await task
    return got


def test_web_process_killed_screens_resume_on_another_without_gaps(postgres_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path / "ivmon.toml", postgres_url, adapters=["sim://?beds=3&speed=20"])
    add_user(postgres_url)  # also brings the schema up to date, so the three can start together
    ingest, web_a, web_b = (
        Server(config, "ingest").start(),
        Server(config, "web").start(),
        Server(config, "web").start(),
    )
    servers = [ingest, web_a, web_b]
    try:
        ingest.wait_healthy()
        web_a.wait_healthy()
        web_b.wait_healthy()
        cookies = login(web_a.base)  # server-side sessions in the shared database: valid on every web process
        assert health_details(ingest.base, cookies)["role"] == "ingest", "the ingest knows the logins too"
        assert health_details(web_a.base, cookies)["bus"]["kind"] == "postgres-listen"

        before = asyncio.run(_watch(web_a.base, cookies, 2.0))
        assert before[0]["type"] == "snapshot"
        last = max(m["seq"] for m in before)
        assert any(m["type"] == "reading" for m in before), "readings flow from the ingest through web A"

        web_a.kill()
        # While the screen is away: a session started through web B (the command path) and more readings.
        csrf = {"X-CSRF-Token": cookies["ivmon_csrf"]}
        r = httpx.post(
            f"{web_b.base}/api/sessions",
            json={"bed": "chair-2", "patient_ref": "P-77"},
            cookies=cookies,
            headers=csrf,
            timeout=15,
        )
        assert r.status_code == 201, r.text
        session_id = r.json()["id"]

        epoch = before[0]["epoch"]
        assert epoch.startswith("log-"), "web processes on one database share the seq space's epoch"
        after = asyncio.run(_watch(web_b.base, cookies, 2.0, since=last, epoch=epoch))
        assert after[0] == {"type": "resume", "seq": last, "missed": after[0]["missed"], "epoch": epoch}
        got = after[1:]
        top = max(m["seq"] for m in got)
        assert all(m["seq"] > last for m in got), "nothing from before the resume point is sent again"

        engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            logged = conn.execute(
                select(schema.events.c.seq, schema.events.c.type, schema.events.c.payload)
                .where(schema.events.c.seq > last, schema.events.c.seq <= top)
                .order_by(schema.events.c.seq)
            ).all()
        engine.dispose()
        got_seqs = {m["seq"] for m in got}
        important = [seq for seq, kind, _ in logged if kind not in ("reading", "heartbeat", "device")]
        assert important, "the session start must be in the log"
        assert set(important) <= got_seqs, "every alarm and session event after the resume point arrives"
        latest_per_bed: dict[str, int] = {}
        for seq, kind, payload in logged:
            if kind == "reading":
                latest_per_bed[orjson.loads(payload)["bed"]] = seq
        assert latest_per_bed and set(latest_per_bed.values()) <= got_seqs, "each bed's latest reading arrives"
        assert any(m["type"] == "session" and m["session"]["id"] == session_id for m in got)
        ordered = [m["seq"] for m in got if m["type"] not in ("reading", "heartbeat", "device")]
        assert ordered == sorted(ordered), "alarms and sessions arrive in seq order, backlog first"
    finally:
        for s in reversed(servers):
            s.stop()
