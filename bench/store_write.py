"""Stored readings per second through the real BatchWriter, on SQLite and PostgreSQL (COPY and executemany).

    python bench/store_write.py [--rows 300000] [--batch 5000] [--db sqlite|postgres|both]
                                [--pg-admin-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Each run migrates a fresh database (a temporary SQLite file; a throwaway
PostgreSQL database, dropped afterwards), hands the writer ``--rows`` readings
in submissions of 100 (as adapters do), up to 4 batches awaited
at once, and times until the last one is durable
(committed). On PostgreSQL it runs twice: the writer's COPY path and, for the
ratio, SQLAlchemy's executemany (``insertmanyvalues``). Goal (issue 8): >= 50,000
readings/s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from monitor.model import Reading, Vital  # noqa: E402
from monitor.store import database  # noqa: E402
from monitor.store import readings as reading_store  # noqa: E402
from monitor.store.writer import BatchWriter  # noqa: E402

VITALS = [(Vital.HR, "bpm", 72.0), (Vital.SPO2, "%", 97.0), (Vital.PR, "bpm", 71.0)]


def readings(n: int) -> list[Reading]:
    out = []
    for i in range(n):
        vital, unit, value = VITALS[i % 3]
        bed = i // 3 % 1000
        out.append(Reading(vital, value + i % 7, unit, 1_764_000_000.0 + i // 3000, f"mon-{bed}", bed=f"bed-{bed}"))
    return out


async def run(url: str, rows: list[Reading], batch: int, copy: bool) -> tuple[float, int, int]:
    engine = database.make_engine(url)
    database.upgrade(engine)
    writer = BatchWriter(engine, max_rows=batch, max_delay_s=0.02)
    if not copy:
        writer.copy_readings = False  # the executemany path, for the ratio
    writer.start()
    started = time.perf_counter()
    pending: list[asyncio.Future[None]] = []
    for i in range(0, len(rows), batch):
        for j in range(i, min(i + batch, len(rows)), 100):
            writer.add_readings(rows[j : j + 100])
        pending.append(writer.durable())
        if len(pending) >= 4:  # a few submitters waiting at once, as concurrent monitors are
            await pending.pop(0)
    await asyncio.gather(*pending)
    elapsed = time.perf_counter() - started
    await writer.close()
    stored = reading_store.count_readings(engine)
    engine.dispose()
    return elapsed, stored, writer.commits


def pg_database(admin_url: str) -> tuple[str, object]:
    name = f"ivmon_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.rsplit("/", 1)[0] + "/" + name, drop


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    rows = readings(args.rows)
    print(f"store_write: {args.rows:,} readings in submissions of 100, writer batches of up to {args.batch:,}")
    results: dict[str, float] = {}
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            elapsed, stored, commits = asyncio.run(run(f"sqlite:///{tmp}/bench.db", rows, args.batch, True))
        results["sqlite"] = stored / elapsed
        print(f"  SQLite (WAL, synchronous=FULL): {stored / elapsed:,.0f} readings/s ({commits} commits)")
    if args.db in ("postgres", "both"):
        for label, copy in (("COPY", True), ("executemany", False)):
            url, drop = pg_database(args.pg_admin_url)
            try:
                elapsed, stored, commits = asyncio.run(run(url, rows, args.batch, copy))
            finally:
                drop()  # type: ignore[operator]
            results[label] = stored / elapsed
            print(f"  PostgreSQL {label}: {stored / elapsed:,.0f} readings/s ({commits} commits)")
        print(f"  COPY / executemany: {results['COPY'] / results['executemany']:.1f}x (goal: COPY >= 50,000/s)")


if __name__ == "__main__":
    main()
