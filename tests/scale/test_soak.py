"""Soak: 1,000 monitors at 1 Hz over HL7 for 10 minutes into one ingest process (slow; not in CI).

The first test is issue 8's soak as written: ``ivmon simulate`` with 1,000
simulated beds (each its own MLLP connection, waiting for each ACK) into one
``ivmon serve --role ingest``: every message answered AA, every reading
acknowledged stored (the simulator's summary against the database), the
ingest's memory flat once warmed up. The second runs ``bench/scale_out.py``
for as long: ingest and web processes, alarm-to-screen latency on a real
screen, the web process's memory too. ``IVMON_SOAK_S`` shortens both for a
look (the figures in bench/README.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from monitor.store import schema
from simulators.emit.pcd01 import device_eui
from simulators.physiology import VITAL_COLUMNS, simulate_session
from tests.conftest import free_port
from tests.scale.procs import Server, rss_mb, write_config

ROOT = Path(__file__).resolve().parents[2]
BEDS = 1000
SCENARIO = "mixed"
#: Simulated seconds between the beds' session starts: 1,000 beds spread evenly over each second.
STAGGER_S = 0.001
RSS_EVERY_S = 10.0

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def soak_seconds() -> float:
    return float(os.environ.get("IVMON_SOAK_S", "600"))


def expected_readings(seconds: float) -> tuple[int, int]:
    """(messages, readings) the simulated beds have due in ``seconds``: each must be sent and stored."""
    messages = readings = 0
    for bed in range(BEDS):
        frame = simulate_session(SCENARIO, 0, bed).frame
        counts = frame[list(VITAL_COLUMNS)].notna().sum(axis=1)[bed * STAGGER_S + frame["ts"] <= seconds]
        messages += int((counts > 0).sum())
        readings += int(counts.sum())
    return messages, readings


def stored_readings(db_url: str) -> int:
    engine = create_engine(db_url)
    prefix = device_eui(0)[:10]  # the simulated monitors' ids share it
    try:
        with engine.connect() as conn:
            query = select(func.count()).select_from(schema.readings).where(schema.readings.c.source.like(f"{prefix}%"))
            return int(conn.scalar(query) or 0)
    finally:
        engine.dispose()


def simulate_while_sampling(
    hl7_port: int, seconds: float, ingest_pid: int, log: Path
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Run ``ivmon simulate`` to its end; its JSON summary and the RSS (MB) of both processes every 10 s."""
    with log.open("wb") as err:
        sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monitor.cli",
                "simulate",
                SCENARIO,
                "--to",
                f"mllp://127.0.0.1:{hl7_port}",
                *("--patients", str(BEDS), "--speed", "1", "--stagger", f"{STAGGER_S:g}"),
                *("--duration", f"{seconds:g}", "--json"),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
        )
        rss: dict[str, list[float]] = {"ingest": [], "simulate": []}
        deadline = time.monotonic() + seconds + 600
        while sim.poll() is None and time.monotonic() < deadline:
            rss["ingest"].append(rss_mb(ingest_pid))
            rss["simulate"].append(rss_mb(sim.pid))
            with contextlib.suppress(subprocess.TimeoutExpired):
                sim.wait(RSS_EVERY_S)
        if sim.poll() is None:
            sim.kill()
        out = sim.communicate()[0].decode()
    assert sim.returncode == 0, log.read_text()[-3000:]
    summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return summary, rss


def assert_flat(rss: list[float]) -> None:
    assert len(rss) >= 6, "RSS is sampled every 10 s"
    warm = statistics.median(rss[len(rss) // 3 : len(rss) // 2])
    end = statistics.median(rss[-3:])
    # Flat: what the process holds once its rings and caches are full does not keep growing.
    assert end - warm < max(30.0, 0.10 * warm), f"ingest memory grew from {warm} MB to {end} MB: {rss}"


@pytest.mark.timeout(3600)
def test_soak_ivmon_simulate_1000_beds_into_one_ingest(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seconds = soak_seconds()
    hl7_port = free_port()
    config = write_config(tmp_path / "ivmon.toml", postgres_url, hl7_port=hl7_port, beds=BEDS)
    # One address, a thousand monitors: the default cap (32) is for a clinic's gateways.
    monkeypatch.setenv("IVMON_HL7__MAX_CONNECTIONS_PER_ADDRESS", str(BEDS + 50))
    ingest = Server(config, "ingest").start()
    try:
        assert ingest.wait_healthy(timeout=120)["status"] == "ok"
        assert ingest.proc is not None
        began = time.monotonic()
        summary, rss = simulate_while_sampling(hl7_port, seconds, ingest.proc.pid, tmp_path / "simulate.log")
        took = time.monotonic() - began
        stored = stored_readings(postgres_url)
    finally:
        ingest.stop()
    messages, readings = expected_readings(seconds)
    figures = {
        "seconds": seconds,
        "took_s": round(took, 1),
        "messages_sent": summary["messages_sent"],
        "acks": summary["acks"],
        "readings_acked": summary["readings_acked"],
        "readings_stored": stored,
        "retries": summary["retries"],
        "connections": summary["connections"],
        "ack_delay_s": summary["ack_delay_s"],
        "rss_mb": rss,
    }
    print(json.dumps(figures))
    assert summary["messages_sent"] == messages, "every bed sent every second's message"
    assert summary["acks"] == {"AA": messages}, summary["problems"]
    assert summary["readings_acked"] == readings == stored, "every acknowledged reading is stored, once"
    # The beds kept their 1 Hz: no backlog worth the name at the end.
    assert took < seconds + 60
    assert summary["ack_delay_s"]["mean"] < 1.0
    assert_flat(rss["ingest"])


@pytest.mark.timeout(1800)
def test_soak_scale_out_ingest_and_web(postgres_url: str) -> None:
    seconds = soak_seconds()
    out = subprocess.run(
        [
            sys.executable,
            "bench/scale_out.py",
            "--beds",
            "1000",
            "--seconds",
            f"{seconds:g}",
            "--db",
            "postgres",
            "--split",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=seconds + 600,
        check=True,
    ).stdout
    print(out)
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["messages_aa"] == figures["messages_sent"], figures["non_aa"]
    assert figures["readings_stored"] == figures["readings_aa"], "every acknowledged reading is stored once"
    assert_flat(figures["rss_mb"]["ingest"])
