"""Readings per second through the whole pipeline (validate, bind, store batched, judge, publish).

    .venv/bin/python bench/pipeline_ingest.py [--db URL] [--beds 1000] [--seconds 120]

Simulated monitors submit one second of vitals per bed (HR, PR, SpO2, and an NIBP
every 5 min) as fast as the pipeline takes them; the figure is readings committed
per second of wall time. Prints the rate and the commit count.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.config import load_settings
from monitor.model import Reading, Vital
from monitor.service import build_service
from monitor.store import readings as reading_store


async def run(db_url: str, beds: int, seconds: int) -> None:
    settings = load_settings(db_url=db_url)
    service = build_service(settings)
    service.writer.start()
    t0 = 1_800_000_000.0
    for b in range(beds):
        await service.sessions.start(f"chair-{b}", f"P-{b}", "bench", ts=t0 - 1)
    sent = 0
    started = time.perf_counter()

    async def monitor(b: int) -> int:
        n = 0
        bed = f"chair-{b}"
        for s in range(seconds):
            ts = t0 + s
            items = [
                Reading(Vital.HR, 70.0 + (s % 7), "bpm", ts, f"m{b}", bed=bed),
                Reading(Vital.PR, 70.0 + (s % 5), "bpm", ts, f"m{b}", bed=bed),
                Reading(Vital.SPO2, 97.0 - (s % 3), "%", ts, f"m{b}", bed=bed),
            ]
            if s % 300 == 0:
                items += [
                    Reading(Vital.SBP, 125.0, "mmHg", ts, f"m{b}", bed=bed),
                    Reading(Vital.DBP, 80.0, "mmHg", ts, f"m{b}", bed=bed),
                    Reading(Vital.MAP, 95.0, "mmHg", ts, f"m{b}", bed=bed),
                ]
            await service.pipeline.submit(items)
            n += len(items)
        return n

    sent = sum(await asyncio.gather(*(monitor(b) for b in range(beds))))
    elapsed = time.perf_counter() - started
    await service.writer.close()
    stored = reading_store.count_readings(service.engine)
    print(f"database: {service.engine.dialect.name}")
    print(f"readings sent: {sent}, stored: {stored} in {elapsed:.2f} s")
    print(f"stored readings/s (end to end, durable): {stored / elapsed:,.0f}")
    print(f"commits: {service.writer.commits} ({stored / max(1, service.writer.commits):,.0f} readings per commit)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--beds", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.db or f"sqlite:///{tmp}/bench.db", args.beds, args.seconds))


if __name__ == "__main__":
    main()
