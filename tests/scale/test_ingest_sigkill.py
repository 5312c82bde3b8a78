"""SIGKILL of the ingest while HL7 messages flow: every AA'd message stored once, alarm states restored.

A real ``ivmon serve`` on the real PostgreSQL takes PCD-01 messages from three
monitors (one waits for each ACK, as monitors do). The process is killed
mid-stream, restarted, and the monitors resend what got no ACK (and, as a
monitor that lost an ACK would, some that did).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from adapters.hl7.client import MllpClient
from monitor.model import Vital
from monitor.store import schema
from simulators.emit.pcd01 import encode_pcd01
from tests.conftest import free_port
from tests.scale.procs import Server, add_user, login, write_config

pytestmark = pytest.mark.postgres

BASE_TS = 1_764_100_000.0


def message(i: int) -> bytes:
    bed = i % 3
    spo2 = 80.0 if bed == 0 else 97.0  # chair-1 is critically low all along: a high alarm
    return encode_pcd01(
        {Vital.HR: 70.0 + i % 20, Vital.SPO2: spo2},
        BASE_TS + i,
        device=f"0013{bed:012d}",
        location=f"chair-{bed + 1}",
        control_id=f"KILL{i:06d}",
    )


async def monitor(port: int, mine: list[int], acked: set[int], stop: asyncio.Event | None = None) -> list[int]:
    """Send in order until ``stop`` or the connection dies; returns what got no AA."""
    client = MllpClient("127.0.0.1", port, timeout=20)
    left = list(mine)
    try:
        while left and not (stop and stop.is_set()):
            ack = await client.send(message(left[0]))
            if ack.code == "AA":
                acked.add(left.pop(0))
    except (ConnectionError, OSError, TimeoutError, asyncio.IncompleteReadError):
        pass  # the server died under us
    finally:
        with contextlib.suppress(Exception):
            await client.close()
    return left


def test_sigkill_mid_stream_loses_nothing_acknowledged(postgres_url: str, tmp_path: Path) -> None:
    hl7_port = free_port()
    config = write_config(tmp_path / "ivmon.toml", postgres_url, hl7_port=hl7_port)
    add_user(postgres_url)
    server = Server(config, "all").start()
    acked: set[int] = set()
    try:
        server.wait_healthy()
        cookies = login(server.base)

        async def flow_then_kill() -> list[int]:
            senders = [asyncio.create_task(monitor(hl7_port, list(range(k, 3000, 3)), acked)) for k in range(3)]
            while len(acked) < 60:
                await asyncio.sleep(0.02)
            alarms = (await asyncio.to_thread(httpx.get, f"{server.base}/api/alarms", cookies=cookies)).json()
            critical = [a for a in alarms if a["rule"] == "spo2-critical"]
            assert critical, f"chair-1's SpO2 of 80 must alarm: {alarms}"
            csrf = {"X-CSRF-Token": cookies["ivmon_csrf"]}
            r = await asyncio.to_thread(
                httpx.post, f"{server.base}/api/alarms/{critical[0]['id']}/acknowledge", cookies=cookies, headers=csrf
            )
            assert r.status_code == 200, r.text
            await asyncio.sleep(0.3)  # messages keep flowing
            server.kill()
            left = await asyncio.gather(*senders)
            return [i for part in left for i in part]

        unacked = asyncio.run(flow_then_kill())
        assert len(acked) >= 60 and unacked

        restarted = Server(config, "all", port=server.port).start()
        server = restarted
        restarted.wait_healthy()
        cookies = login(restarted.base)
        alarms = {a["rule"]: a for a in httpx.get(f"{restarted.base}/api/alarms", cookies=cookies).json()}
        assert alarms["spo2-critical"]["state"] == "acknowledged", "the acknowledged alarm is restored as such"
        assert alarms["spo2-critical"]["acknowledged_by"] == "nurse1"

        # The monitors resend: what got no ACK, and the last 5 that did (their ACK might have been lost).
        resend = sorted(unacked)[:30] + sorted(acked)[-5:]
        again: set[int] = set()

        async def resend_all() -> None:
            left = await asyncio.gather(
                *(monitor(hl7_port, [i for i in resend if i % 3 == k], again) for k in range(3))
            )
            assert not any(left)

        asyncio.run(resend_all())
        acked |= again
    finally:
        server.stop()

    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        rows: dict[float, int] = dict(
            conn.execute(
                select(schema.readings.c.ts, func.count())
                .where(schema.readings.c.ts >= BASE_TS)
                .group_by(schema.readings.c.ts)
            ).all()
        )
    engine.dispose()
    missing = [i for i in acked if BASE_TS + i not in rows]
    doubled = {i: rows[BASE_TS + i] for i in acked if rows.get(BASE_TS + i, 2) != 2}
    assert not missing, f"AA'd messages not stored: {missing[:10]}"
    assert not doubled, f"messages stored more than once: {doubled}"
    assert all(n == 2 for n in rows.values()), "nothing is stored twice, AA'd or not"
