"""Ctrl-C in a terminal signals the whole process group: the writer process must outlive it.

The service writes what it still holds on the way down, through its writer
process; a writer that died with the signal would leave that to a restarted
child at best. Afterwards no process of the service is left behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from adapters.hl7.client import MllpClient
from monitor.model import Vital
from monitor.store import database
from monitor.store import readings as reading_store
from simulators.emit.pcd01 import encode_pcd01
from tests.conftest import free_port
from tests.scale.procs import Server, add_user, health_details, login, write_config


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


async def send(port: int, count: int) -> list[str]:
    client = MllpClient("127.0.0.1", port, timeout=30)
    codes = []
    try:
        for i in range(count):
            message = encode_pcd01(
                {Vital.HR: 70.0 + i, Vital.SPO2: 97.0},
                1_764_000_000.0 + i,
                device="0012000000000001",
                location="chair-1",
                control_id=f"C{i:04d}",
            )
            codes.append((await client.send(message)).code)
    finally:
        await client.close()
    return codes


def test_ctrl_c_stops_the_service_and_its_writer_process_cleanly(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'ivmon.db'}"
    hl7_port = free_port()
    add_user(db_url)  # the health details are for staff
    server = Server(write_config(tmp_path / "ivmon.toml", db_url, hl7_port=hl7_port), "all").start(own_group=True)
    try:
        server.wait_healthy()
        health = health_details(server.base, login(server.base))
        assert asyncio.run(send(hl7_port, 20)) == ["AA"] * 20
        assert server.proc is not None
        helpers = children(server.proc.pid)
        assert health["database"]["writer_process"]["pid"] in helpers, "the writer process runs beside the service"
        os.killpg(server.proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        server.proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while not all(gone(pid) for pid in helpers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(gone(pid) for pid in helpers), "a process of the service was left behind"
    finally:
        server.kill()
    log = server.log.read_text()
    assert "writer process" not in log or "is gone" not in log, log[-2000:]
    assert "database write failed" not in log, log[-2000:]
    engine = database.make_engine(db_url)
    assert reading_store.count_readings(engine) == 40
    engine.dispose()
