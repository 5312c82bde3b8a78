"""Soak: 1,000 monitors at 1 Hz over HL7 for 10 minutes into one ingest process (slow; not in CI).

The load is ``bench/scale_out.py`` (the benchmark's own figures, run long):
every reading sent and acknowledged must be stored (counted on both sides),
every message answered AA, and the ingest's memory flat once warmed up.
``IVMON_SOAK_S`` shortens it for a look (the figures in bench/README.md).
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_soak_1000_beds_every_reading_stored_memory_flat(postgres_url: str) -> None:
    from bench.scale_out import main

    seconds = float(os.environ.get("IVMON_SOAK_S", "600"))
    figures = main(["--beds", "1000", "--seconds", f"{seconds:g}", "--db", "postgres", "--split"])
    assert figures["messages_aa"] == figures["messages_sent"], figures["non_aa"]
    assert figures["readings_stored"] == figures["readings_aa"], "every acknowledged reading is stored once"
    rss = figures["rss_mb"]["ingest"]
    assert len(rss) >= 6, "RSS is sampled every 10 s"
    warm = statistics.median(rss[len(rss) // 3 : len(rss) // 2])
    end = statistics.median(rss[-3:])
    # Flat: what the process holds once its rings and caches are full does not keep growing.
    assert end - warm < max(30.0, 0.10 * warm), f"ingest memory grew from {warm} MB to {end} MB: {rss}"
