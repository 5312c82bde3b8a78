"""Soak: 1,000 monitors at 1 Hz over HL7 for 10 minutes into one ingest process (slow; not in CI).

The load is ``bench/scale_out.py`` (the benchmark's own figures, run long):
every reading sent and acknowledged must be stored (counted on both sides),
every message answered AA, and the ingest's memory flat once warmed up.
``IVMON_SOAK_S`` shortens it for a look (the figures in bench/README.md).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.mark.timeout(1800)
def test_soak_1000_beds_every_reading_stored_memory_flat(postgres_url: str) -> None:
    seconds = float(os.environ.get("IVMON_SOAK_S", "600"))
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
    rss = figures["rss_mb"]["ingest"]
    assert len(rss) >= 6, "RSS is sampled every 10 s"
    warm = statistics.median(rss[len(rss) // 3 : len(rss) // 2])
    end = statistics.median(rss[-3:])
    # Flat: what the process holds once its rings and caches are full does not keep growing.
    assert end - warm < max(30.0, 0.10 * warm), f"ingest memory grew from {warm} MB to {end} MB: {rss}"
