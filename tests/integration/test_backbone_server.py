"""The backbone end to end: a real `ivmon serve` process, 3 simulated beds, a real WebSocket, the database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from sqlalchemy import create_engine, func, select

from monitor.store import schema
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def ivmon(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    db = f"sqlite:///{tmp_path / 'ivmon.db'}"
    port, hl7_port = free_port(), free_port()
    config = tmp_path / "ivmon.toml"
    config.write_text(
        f'db_url = "{db}"\nadapters = ["sim://?beds=3&speed=20"]\n'
        f'[http]\nport = {port}\n[hl7]\nport = {hl7_port}\nhost = "127.0.0.1"\n'
    )
    ivmon("user", "add", "nurse1", "--role", "nurse", "--password-stdin", "--db", db, stdin="correct horse\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "serve", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            proc.kill()
            pytest.fail(f"server did not start: {proc.stdout.read() if proc.stdout else ''}")
        yield base, db
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # as Ctrl-C: a clean stop flushes the writer
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


async def _collect_beds(base: str, cookies: httpx.Cookies, want: set[str], timeout: float) -> set[str]:
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    seen: set[str] = set()
    seqs: list[int] = []
    async with websockets.connect(base.replace("http", "ws") + "/ws/live", additional_headers={"Cookie": cookie}) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert first["type"] == "snapshot"
        deadline = time.monotonic() + timeout
        while seen != want and time.monotonic() < deadline:
            msg = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
            for m in msg["messages"] if msg["type"] == "batch" else [msg]:
                seqs.append(m["seq"])
                if m["type"] == "reading" and m["bed"]:
                    assert set(m["vitals"]) <= {"hr", "pr", "spo2", "sbp", "dbp", "map"}
                    seen.add(m["bed"])
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "seq must increase monotonically"
    return seen


def test_readings_from_three_beds_reach_a_websocket_and_the_database(server: tuple[str, str]) -> None:
    base, db = server
    with httpx.Client(base_url=base) as client:
        assert client.get("/api/beds").status_code == 401, "the API needs a login"
        assert client.post("/api/login", json={"username": "nurse1", "password": "wrong"}).status_code == 401
        login = client.post("/api/login", json={"username": "nurse1", "password": "correct horse"})
        assert login.status_code == 200 and login.json()["role"] == "nurse"
        want = {"chair-1", "chair-2", "chair-3"}
        seen = asyncio.run(_collect_beds(base, client.cookies, want, timeout=10))
        assert seen == want
        beds = {b["id"]: b for b in client.get("/api/beds").json()["beds"]}
        assert want <= set(beds)
        for bed in want:
            spo2 = beds[bed]["vitals"]["spo2"]
            assert 50 <= spo2["value"] <= 100 and spo2["age_s"] < 10 and spo2["stale"] is False
        assert client.get("/api/health").json()["database"]["ok"] is True
    time.sleep(0.5)  # let the writer's current batch commit
    engine = create_engine(db)
    with engine.connect() as conn:
        stored: dict[str, int] = dict(
            conn.execute(select(schema.readings.c.bed_id, func.count()).group_by(schema.readings.c.bed_id)).all()
        )
        audit = conn.execute(select(schema.audit.c.action)).scalars().all()
    assert want <= set(stored) and all(stored[b] > 0 for b in want)
    assert "login" in audit and "login_failed" in audit
