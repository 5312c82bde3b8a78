"""Durability: every reading acknowledged AA survives a SIGKILL of the server (``ivmon serve``)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, func, select

from adapters.hl7.client import MllpClient
from monitor.model import Vital
from monitor.store import schema
from simulators.emit.pcd01 import encode_pcd01
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def serve(config: Path, hl7_port: int) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "serve", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", hl7_port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    out = proc.stdout.read() if proc.stdout else ""
                    raise AssertionError(f"server did not start: {out}") from None
                time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


async def send_all(port: int, messages: list[bytes]) -> list[str]:
    """Five monitors at once, each waiting for its ACK like a real one."""
    codes: list[str] = []

    async def monitor(batch: list[bytes]) -> None:
        client = MllpClient("127.0.0.1", port, timeout=20)
        for msg in batch:
            codes.append((await client.send(msg)).code)
        await client.close()

    await asyncio.gather(*(monitor(messages[i::5]) for i in range(5)))
    return codes


def count(db: str) -> int:
    engine = create_engine(db)
    with engine.connect() as conn:
        n = int(conn.scalar(select(func.count()).select_from(schema.readings)) or 0)
    engine.dispose()
    return n


def test_acknowledged_readings_survive_sigkill(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ivmon.db'}"
    http_port, hl7_port = free_port(), free_port()
    config = tmp_path / "ivmon.toml"
    config.write_text(
        f'db_url = "{db}"\ndata_dir = "{tmp_path}"\n[http]\nport = {http_port}\nhost = "127.0.0.1"\n'
        f'[hl7]\nport = {hl7_port}\nhost = "127.0.0.1"\ntimezone = "UTC"\n'
        '[[hl7.bindings]]\nbed = "chair-1"\nlocation = "chair-1"\n'
    )
    now = time.time()
    vitals = {Vital.HR: 72.0, Vital.PR: 71.0, Vital.SPO2: 97.0, Vital.RR: 14.0}
    messages = [
        encode_pcd01(vitals, now - 200 + i, device=f"0A1B2CFFFE00000{i % 5}", location=f"chair-{i % 5 + 1}")
        for i in range(200)
    ]
    with serve(config, hl7_port) as proc:
        codes = asyncio.run(send_all(hl7_port, messages))
        proc.send_signal(signal.SIGKILL)  # no clean shutdown: only what was committed survives
        proc.wait(10)
    assert codes == ["AA"] * 200
    assert count(db) == 200 * 4  # every acknowledged reading is in the database

    # On restart the dedupe keys are still known: a sender that missed its ACK and
    # resends gets AA again and nothing is stored twice.
    with serve(config, hl7_port):
        codes = asyncio.run(send_all(hl7_port, messages[:25]))
    assert codes == ["AA"] * 25
    assert count(db) == 200 * 4
