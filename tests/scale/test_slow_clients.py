"""A frozen screen and one on a slow link do not delay another screen's alarm.

The frozen client completes the handshake and never reads again, with a tiny
receive buffer, so the server's sends to it really block; the slow one reads a
frame every half second. A flood of readings for 1,000 beds fills their lanes,
then an alarm starts. The healthy screen must get it while the frozen one is
still connected and stuck (the hub's per-client lanes), not after the server
gave up on the frozen one (what a sequential send loop would do).
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from monitor.config import load_settings
from monitor.demo import ensure_demo_users
from monitor.model import Reading, Vital
from monitor.service import build_service
from tests.scale.inproc import Running, serve
from tests.scale.procs import messages
from tests.scale.stage import SpO2Stage


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    settings = load_settings(
        db_url=f"sqlite:///{tmp_path / 'ivmon.db'}",
        data_dir=tmp_path,
        beds={"chair-1": "Chair 1"},
        hl7={"enabled": False},
    )
    service = build_service(settings, alarm_stage=SpO2Stage())
    ensure_demo_users(service)
    with serve(service) as r:
        yield r


def flood(n_beds: int, ts: float) -> list[Reading]:
    return [Reading(Vital.HR, 60.0 + i % 50, "bpm", ts, f"mon-{i}", bed=f"bed-{i:04d}") for i in range(n_beds)]


def test_frozen_and_slow_screens_do_not_delay_anothers_alarm(running: Running) -> None:
    login = httpx.post(f"{running.base}/api/login", json={"username": "nurse", "password": "demo"}, timeout=10)
    cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in login.cookies.items())}
    url = running.base.replace("http", "ws") + "/ws/live"

    async def scenario() -> dict[str, Any]:
        frozen = await asyncio.to_thread(_frozen_client, running.port, cookie["Cookie"])
        slow = await websockets.connect(url, additional_headers=cookie, max_queue=1, max_size=None)
        healthy = await websockets.connect(url, additional_headers=cookie, max_size=None)
        for ws in (slow, healthy):
            assert messages(await ws.recv())[0]["type"] == "snapshot"
        alarm_seen = asyncio.Event()
        healthy_frames = 0

        async def read_healthy() -> None:
            nonlocal healthy_frames
            async for frame in healthy:
                healthy_frames += 1
                if any(m["type"] == "alarm" for m in messages(frame)):
                    alarm_seen.set()
                    return

        async def read_slowly() -> None:
            try:
                async for _ in slow:
                    await asyncio.sleep(0.5)
            except websockets.ConnectionClosed:
                pass

        readers = [asyncio.create_task(read_healthy()), asyncio.create_task(read_slowly())]
        svc = running.service
        # Flood (2,000 beds a frame) until the frozen screen's socket is full and its sends block.
        for k in range(200):
            await asyncio.to_thread(running.call, lambda k=k: svc.pipeline.submit(flood(2000, 1000.0 + k)))
            await asyncio.sleep(0.1)
            sent = [c.frames_sent for c in _hub(running).clients]
            if len(sent) == 3 and min(sent) < max(sent) - 2:
                break
        else:
            raise AssertionError("the frozen screen never blocked: the test would prove nothing")
        slow_before = _hub(running).disconnected_slow
        started = time.perf_counter()
        await asyncio.to_thread(
            running.call, lambda: svc.pipeline.submit([Reading(Vital.SPO2, 80.0, "%", 2000.0, "m", bed="chair-1")])
        )
        await asyncio.wait_for(alarm_seen.wait(), 30)  # a hang guard, not a performance limit
        latency = time.perf_counter() - started
        lanes = list(_hub(running).clients)
        frozen_still_connected = len(lanes) == 3 and min(c.frames_sent for c in lanes) < healthy_frames
        disconnected_meanwhile = _hub(running).disconnected_slow - slow_before
        for task in readers:
            task.cancel()
        for ws in (slow, healthy):
            ws.transport.abort()
        frozen.close()
        return {
            "latency": latency,
            "frozen_still_connected": frozen_still_connected,
            "disconnected_meanwhile": disconnected_meanwhile,
            "healthy_frames": healthy_frames,
        }

    result = asyncio.run(scenario())
    print(f"alarm reached the healthy screen in {result['latency'] * 1000:.0f} ms with a frozen and a slow screen")
    assert result["frozen_still_connected"], "the frozen screen must still be stuck when the alarm arrives elsewhere"
    assert result["disconnected_meanwhile"] == 0, "the alarm must not wait for the server to give up on a screen"


def _hub(running: Running) -> Any:
    return running.app.state.hub


def _frozen_client(port: int, cookie: str) -> socket.socket:
    """A screen that completes the handshake and then never reads: a tiny buffer, nothing drains it."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        f"GET /ws/live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n"
        f"Cookie: {cookie}\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock
