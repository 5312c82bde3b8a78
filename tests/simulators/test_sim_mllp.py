"""``ivmon simulate --to mllp://``, the real command in its own process, against a real listener and pipeline.

Each simulated patient is an independent monitor: one patient's late ACK
delays nobody else; its backlog is sent afterwards, in order; refused and
dropped connections are retried with the same messages; the counts printed
equal what the server stored.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from adapters.base import SubmitResult
from adapters.hl7.listener import MllpListener
from monitor.config import Hl7Settings
from monitor.model import IngestItem, Reading
from simulators.emit.pcd01 import device_eui
from simulators.physiology import VITAL_COLUMNS, simulate_session
from tests.adapters.hl7.hl7_helpers import StoredSink, stored_sink
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = "routine"


class WatchedSink:
    """The real pipeline, noting when each message arrives; one patient's ACK is held back once."""

    def __init__(self, inner: StoredSink, stalled_device: str = "", stall_at: int = 0, stall_s: float = 0.0) -> None:
        self.inner = inner
        self.stalled_device = stalled_device
        self.stall_at = stall_at
        self.stall_s = stall_s
        self.stall: tuple[float, float] | None = None  # (start, end) on the monotonic clock
        self.arrivals: dict[str, list[float]] = defaultdict(list)  # device -> arrival instants

    async def submit(self, items: Sequence[IngestItem], *, dedupe_key: str | None = None) -> SubmitResult:
        source = next((i.source for i in items if isinstance(i, Reading)), None)
        if source is None:  # a device status only (a connection closed): no message
            return await self.inner.submit(items, dedupe_key=dedupe_key)
        arrivals = self.arrivals[source]
        arrivals.append(time.monotonic())
        if source == self.stalled_device and len(arrivals) == self.stall_at:
            self.stall = (arrivals[-1], arrivals[-1] + self.stall_s)
            await asyncio.sleep(self.stall_s)  # the ACK waits for the sink
        return await self.inner.submit(items, dedupe_key=dedupe_key)


@asynccontextmanager
async def listening(sink: WatchedSink, port: int = 0, cap: int = 500) -> AsyncIterator[MllpListener]:
    # Every simulated monitor is one unbound device from this one address: both caps raised together.
    settings = Hl7Settings(host="127.0.0.1", port=port, max_connections_per_address=cap, max_unassigned_per_address=cap)
    listener = MllpListener(settings)
    await listener.start(sink)
    try:
        yield listener
    finally:
        await listener.stop()


async def start_simulate(port: int, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor.cli",
        "simulate",
        SCENARIO,
        "--to",
        f"mllp://127.0.0.1:{port}",
        "--json",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process, status: int = 0) -> dict[str, Any]:
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == status, err.decode()[-3000:]
    summary: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    line = err.decode().strip().splitlines()[-1]  # the human summary: the same counts
    assert f"{summary['messages_sent']} messages sent" in line
    assert f"{summary['readings_acked']} readings acknowledged" in line
    return summary


def expected(patients: int, speed: float, stagger: float, duration: float) -> tuple[list[int], int]:
    """(messages per patient, readings in all) due within the duration: every one must be sent."""
    messages: list[int] = []
    readings = 0
    for p in range(patients):
        frame = simulate_session(SCENARIO, 0, p).frame
        values = frame[list(VITAL_COLUMNS)]
        due = values[(p * stagger + frame["ts"]) <= duration * speed]
        counts = due.notna().sum(axis=1)
        messages.append(int((counts > 0).sum()))
        readings += int(counts.sum())
    return messages, readings


def assert_counts_match(summary: dict[str, Any], sink: StoredSink, messages: list[int], readings: int) -> None:
    assert summary["completed"] and summary["unanswered"] == 0, summary
    assert summary["messages_sent"] == summary["rows"] == sum(messages), "every due row sent, none dropped"
    assert summary["acks"] == {"AA": sum(messages)}, summary["problems"]
    stored = sink.readings
    assert summary["readings_acked"] == readings == len(stored), "counted on both sides"
    assert len({(r.source, r.vital, r.ts) for r in stored}) == len(stored), "nothing stored twice"
    per_device = Counter(r.source for r in stored)
    assert len(per_device) == len(messages)


async def test_a_late_ack_delays_no_other_patient(sqlite_url: str) -> None:
    patients, speed, stagger, duration = 200, 5.0, 0.005, 4.0
    stalled = device_eui(0)
    async with stored_sink(sqlite_url) as stored:
        sink = WatchedSink(stored, stalled_device=stalled, stall_at=3, stall_s=2.0)
        async with listening(sink) as listener:
            proc = await start_simulate(
                listener.port,
                *("--patients", str(patients), "--speed", f"{speed:g}"),
                *("--stagger", f"{stagger:g}", "--duration", f"{duration:g}"),
            )
            summary = await finish(proc)
        messages, readings = expected(patients, speed, stagger, duration)
        assert_counts_match(summary, stored, messages, readings)
        assert summary["connections"] == patients  # one persistent connection per monitor

        # While patient 0 waited 2 s for its ACK, every other patient kept sending at its own pace.
        assert sink.stall is not None
        start, end = sink.stall
        during = {d: sum(start < t < end for t in ts) for d, ts in sink.arrivals.items() if d != stalled}
        assert len(during) == patients - 1
        assert min(during.values()) >= 2, sorted(during.items(), key=lambda kv: kv[1])[:5]
        assert sum(during.values()) >= 0.5 * (patients - 1) * speed * (end - start)
        assert sum(start < t < end for t in sink.arrivals[stalled]) == 0
        # Patient 0 then sent its backlog, in order, nothing dropped.
        own = [r.ts for r in stored.readings if r.source == stalled]
        assert own == sorted(own)
        assert len(set(own)) == messages[0]


async def test_refused_and_dropped_connections_are_retried_with_the_same_messages(sqlite_url: str) -> None:
    patients, speed, stagger, duration = 40, 5.0, 0.01, 4.0
    port = free_port()
    async with stored_sink(sqlite_url) as stored:
        sink = WatchedSink(stored)
        proc = await start_simulate(
            port,
            *("--patients", str(patients), "--speed", f"{speed:g}"),
            *("--stagger", f"{stagger:g}", "--duration", f"{duration:g}"),
        )
        # A server that takes 10 monitors (the others are refused), then goes away with their
        # connections and messages in flight, and comes back with room for all.
        async with listening(sink, port, cap=10) as first:
            async with asyncio.timeout(30):
                while first.counters["readings"] < 100 or first.counters["refused_over_cap"] < patients - 10:
                    await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        async with listening(sink, port) as second:
            summary = await finish(proc)
        messages, readings = expected(patients, speed, stagger, duration)
        assert_counts_match(summary, stored, messages, readings)
        assert summary["retries"] >= patients
        assert summary["connections"] >= patients + 10  # the first 10 connected twice
        assert second.counters["readings"] > 0


class RefusingSink:
    async def submit(self, items: Sequence[IngestItem], *, dedupe_key: str | None = None) -> SubmitResult:
        raise RuntimeError("database gone")


async def test_non_aa_answers_are_reported_and_fail_the_run() -> None:
    listener = MllpListener(Hl7Settings(host="127.0.0.1", port=0))
    await listener.start(RefusingSink())
    try:
        proc = await start_simulate(listener.port, "--patients", "3", "--speed", "20", "--duration", "1")
        summary = await finish(proc, status=1)
    finally:
        await listener.stop()
    assert summary["messages_sent"] == summary["acks"]["AE"] == listener.counters["ack_AE"] > 0
    assert summary["readings_acked"] == 0
    assert "could not be stored" in summary["problems"][0]


def test_json_needs_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.simulators.test_sim_cli import run

    assert run("routine", "--json") == 2
    assert "--json" in capsys.readouterr().err
