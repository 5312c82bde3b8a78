"""Benchmark: how fast whole simulated sessions are rendered and written as CSV.

Run: python bench/sim_sessions.py [N]   (default 1000 sessions of the ``mixed`` scenario)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from simulators.cli import sessions
from simulators.emit.csv import CsvTarget
from simulators.live import LivePatient


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    began = time.perf_counter()
    rows = sum(len(trace.frame) for trace in sessions("mixed", 0, n))
    render_s = time.perf_counter() - began
    rate = f"{n / render_s:.0f} sessions/s, {rows / render_s:,.0f} rows/s"
    print(f"render: {n} sessions, {rows} rows in {render_s:.2f} s ({rate})")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sim.csv"
        began = time.perf_counter()
        written = CsvTarget(str(out)).write_sessions(sessions("mixed", 0, n))
        csv_s = time.perf_counter() - began
        size = out.stat().st_size
    print(f"csv: {written} rows, {size / 1e6:.0f} MB in {csv_s:.2f} s ({written / csv_s:,.0f} rows/s, render included)")

    patient = LivePatient("mixed", 0, 0)
    began = time.perf_counter()
    count = 0
    for second in range(patient.duration_s + 1):
        count += len(patient.due(second).rows)
    live_s = time.perf_counter() - began
    print(f"live: {count} rows handed out one second at a time in {live_s * 1e3:.0f} ms ({count / live_s:,.0f} rows/s)")


if __name__ == "__main__":
    main()
