"""SIGINT and SIGTERM stop a real ``ivmon serve`` within 10 s in every state (issue 13, item 1).

Before, a batch the database refused for ever (or a database gone away) kept
the writer retrying, and a stop waited for it: only SIGKILL ended the service.
Here PostgreSQL goes away behind a proxy (new connections left unanswered, the
worst case) while a monitor waits for its ACK, and the service is asked to
stop. What was not acknowledged is the monitor's to send again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from adapters.hl7.mllp import Frame, MllpFramer, frame
from tests.adapters.hl7.hostile_messages import alarm_message, vitals_message
from tests.conftest import free_port
from tests.scale.procs import Server, write_config
from tests.scale.tcp_proxy import PgProxy

pytestmark = pytest.mark.postgres

#: The issue's bound on a stop.
STOP_WITHIN_S = 10.0


def exchange(port: int, message: bytes, timeout: float) -> bytes | None:
    """Send one framed message; the MSA segment of its ACK, or None when none comes in ``timeout``."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(frame(message))
        sock.settimeout(timeout)
        framer = MllpFramer()
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return None
                for event in framer.feed(data):
                    if isinstance(event, Frame):
                        return next(s for s in event.payload.split(b"\r") if s.startswith(b"MSA|"))
        except TimeoutError:
            return None


def stop_and_time(server: Server, sig: signal.Signals) -> float:
    assert server.proc is not None
    started = time.monotonic()
    os.killpg(server.proc.pid, sig)
    try:
        server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        return float("inf")
    took = time.monotonic() - started
    print(f"stopped in {took:.1f} s")
    return took


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_with_the_database_unreachable(tmp_path: Path, postgres_url: str, sig: signal.Signals) -> None:
    proxy = PgProxy.in_front_of(postgres_url).start()
    hl7_port = free_port()
    server = Server(write_config(tmp_path / "ivmon.toml", proxy.url(postgres_url), hl7_port=hl7_port), "all")
    try:
        server.start(own_group=True).wait_healthy(timeout=60)
        assert exchange(hl7_port, vitals_message("BEFORE"), 10) == b"MSA|AA|BEFORE"
        proxy.go_down("hang")
        assert exchange(hl7_port, vitals_message("DURING"), 3) is None, "no AA while nothing can be stored"
        took = stop_and_time(server, sig)
        assert took < STOP_WITHIN_S, f"stopped after {took:.1f} s:\n{server.log.read_text()[-3000:]}"
    finally:
        server.kill()
        proxy.close()
    assert "not stored (not acknowledged)" in server.log.read_text()


def test_stop_after_a_hostile_alarm_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """The review's reproduction end to end: the long alarm code, then normal messages, then SIGTERM."""
    hl7_port = free_port()
    server = Server(write_config(tmp_path / "ivmon.toml", postgres_url, hl7_port=hl7_port), "all")
    try:
        server.start(own_group=True).wait_healthy(timeout=60)
        assert (exchange(hl7_port, alarm_message("X" * 100, "EVIL"), 10) or b"").startswith(b"MSA|AE|EVIL")
        assert exchange(hl7_port, vitals_message("AFTER"), 10) == b"MSA|AA|AFTER"
        took = stop_and_time(server, signal.SIGTERM)
        assert took < STOP_WITHIN_S, f"stopped after {took:.1f} s:\n{server.log.read_text()[-3000:]}"
    finally:
        server.kill()


def test_exchange_helper_reads_no_ack_from_a_silent_port() -> None:
    """The helper above must not mistake silence for an answer (else the first test proves nothing)."""

    async def silent() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        assert await asyncio.to_thread(exchange, port, vitals_message("X"), 0.5) is None
        server.close()

    asyncio.run(silent())
