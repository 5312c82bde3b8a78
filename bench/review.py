"""Session review benchmark: a 2-hour session at 1 Hz per vital, and the list of 10,000 sessions.

    python bench/review.py [--db URL] [--repeat N]

Seeds a fresh database (SQLite in a temporary folder unless --db is given; an
empty PostgreSQL database works too), then prints, best and median of N runs:
the review page's data (storage -> JSON bytes, as the API serves it), the
summary alone, Parquet and CSV exports of the readings, the PDF report, and
one page of the session list (default sort, filtered, sorted by peak rise) over
10,000 stored sessions. Goals: review data < 100 ms, list < 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Engine, insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.rules import default_rules
from dashboard.report import render_report
from dashboard.review import data, exports
from dashboard.review.api import review_payload
from monitor.model import (
    Alarm,
    AlarmChange,
    AlarmKind,
    AlarmState,
    Phase,
    PhaseChange,
    Priority,
    Reading,
    Session,
    Vital,
)
from monitor.store import database, schema, summaries
from monitor.store import readings as reading_store
from monitor.store import sessions as session_store
from monitor.store.writer import BatchWriter

T0 = 1_763_000_000.0
HOURS = 2
UNITS = {"hr": "bpm", "pr": "bpm", "spo2": "%", "sbp": "mmHg", "dbp": "mmHg", "map": "mmHg"}


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return min(times), statistics.median(times), result


async def seed_long_session(engine: Engine, nibp_every_s: int = 1) -> int:
    n = HOURS * 3600
    phases = [
        PhaseChange(Phase.BASELINE, T0, "nurse"),
        PhaseChange(Phase.INFUSION, T0 + 900, "nurse"),
        PhaseChange(Phase.RECOVERY, T0 + 900 + 2400, "nurse"),
        PhaseChange(Phase.DISCHARGED, T0 + n, "nurse"),
    ]
    session = Session(0, "chair-1", "P-BENCH", Phase.BASELINE, T0, 70.0, 35.0, 35.0, phases[:1])
    sid = session_store.insert_session(engine, session, "nurse")
    for ch in phases[1:]:
        session_store.record_phase(engine, sid, ch)
    rng = np.random.default_rng(7)
    t = T0 + np.arange(n, dtype=np.float64)
    rise = 25 * np.exp(-(((t - T0 - 2400) / 900) ** 2))
    series = {
        "hr": 72 + 5 * np.sin(t / 300) + rng.normal(0, 2, n),
        "pr": 72 + rng.normal(0, 2, n),
        "spo2": np.clip(97 + rng.normal(0, 1, n), 80, 100),
        "sbp": 122 + rise + rng.normal(0, 4, n),
        "dbp": 78 + rise / 2 + rng.normal(0, 3, n),
    }
    series["map"] = (series["sbp"] + 2 * series["dbp"]) / 3
    writer = BatchWriter(engine, max_rows=50_000)
    writer.start()
    for vital, values in series.items():
        step = nibp_every_s if vital in ("sbp", "dbp", "map") else 1
        writer.add_readings(
            [
                Reading(
                    Vital(vital), float(round(v, 1)), UNITS[vital], float(ts), "bench", bed="chair-1", session_id=sid
                )
                for ts, v in zip(t[::step], values[::step], strict=True)
            ]
        )
        await writer.durable()
    changes = []
    for i in range(40):
        start = T0 + 600 + i * 150
        a = Alarm(
            f"bench-{i}",
            "spo2-borderline" if i % 2 else "bp-rise",
            AlarmKind.PHYSIOLOGICAL,
            Priority.MEDIUM if i % 3 else Priority.HIGH,
            "bench",
            start,
            "chair-1",
            sid,
            Vital.SPO2 if i % 2 else Vital.SBP,
            AlarmState.RESOLVED,
            start + 60,
            93,
            92,
            94,
            "nurse",
            start + 20,
        )
        changes.append(AlarmChange(a, "started", start))
    writer.add_alarm_changes(changes)
    await writer.durable()
    await writer.close()
    return sid


async def seed_open_sessions(engine: Engine, count: int) -> None:
    """Sessions in progress (1 h so far: HR and SpO2 at 1 Hz, a cuff every 5 min): the list computes them live."""
    now = time.time()
    writer = BatchWriter(engine, max_rows=50_000)
    writer.start()
    for k in range(count):
        start = now - 3600
        phases = [PhaseChange(Phase.BASELINE, start, "nurse"), PhaseChange(Phase.INFUSION, start + 900, "nurse")]
        sid = session_store.insert_session(
            engine, Session(0, f"chair-{k + 1}", f"P-OPEN-{k}", Phase.BASELINE, start, phases=phases[:1]), "nurse"
        )
        session_store.record_phase(engine, sid, phases[1])
        rows = []
        for s in range(3600):
            rows.append(
                Reading(Vital.HR, 70.0 + s % 7, "bpm", start + s, "bench", bed=f"chair-{k + 1}", session_id=sid)
            )
            rows.append(
                Reading(Vital.SPO2, 96.0 + s % 3, "%", start + s, "bench", bed=f"chair-{k + 1}", session_id=sid)
            )
            if s % 300 == 0:
                rows.append(
                    Reading(
                        Vital.SBP, 120.0 + s / 100, "mmHg", start + s, "bench", bed=f"chair-{k + 1}", session_id=sid
                    )
                )
        writer.add_readings(rows)
        await writer.durable()
    await writer.close()


def seed_many_sessions(engine: Engine, count: int) -> None:
    """Sessions and their stored summaries, bulk-inserted (the figures are what the list reads)."""
    rng = np.random.default_rng(11)
    with engine.begin() as conn:
        sessions = [
            {
                "bed_id": f"chair-{i % 12 + 1}",
                "patient_ref": f"P-{i % 2500:05d}",
                "phase": "discharged",
                "started": T0 - 86400 * 365 + i * 3000.0,
                "ended": T0 - 86400 * 365 + i * 3000.0 + 6000,
                "dose_mg": float(20 + i % 40),
                "created_by": "bench",
            }
            for i in range(count)
        ]
        ids = [r.id for r in conn.execute(insert(schema.sessions).returning(schema.sessions.c.id), sessions)]
        rows = []
        for sid in ids:
            fig = {"peak_sbp_rise": float(rng.integers(-5, 60)), "min_spo2": float(rng.integers(85, 99))}
            rows.append(
                {
                    "session_id": sid,
                    "version": data.SUMMARY_VERSION,
                    "computed": T0,
                    "duration_s": 6000.0,
                    "peak_sbp_rise": fig["peak_sbp_rise"],
                    "min_spo2": fig["min_spo2"],
                    "alarms_high": int(rng.integers(0, 3)),
                    "alarms_medium": int(rng.integers(0, 6)),
                    "alarms_low": int(rng.integers(0, 4)),
                    "alarms_technical": 0,
                    "figures": json.dumps(fig),
                }
            )
        conn.execute(insert(schema.session_summaries), rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--open", type=int, default=12, help="sessions in progress (default 12)")
    parser.add_argument(
        "--nibp-every",
        type=int,
        default=1,
        metavar="S",
        help="NIBP every S seconds (default 1: every vital at 1 Hz; a real cuff: 300)",
    )
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.db or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    engine = database.make_engine(url)
    database.upgrade(engine)
    started = time.perf_counter()
    sid = asyncio.run(seed_long_session(engine, args.nibp_every))
    seed_many_sessions(engine, args.sessions)
    asyncio.run(seed_open_sessions(engine, args.open))
    print(f"database: {engine.dialect.name}; seeded in {time.perf_counter() - started:.1f} s")
    rules = default_rules()
    r = args.repeat
    data.refresh_summary(engine, None, sid, time.time())  # what SummaryKeeper does when the session closes

    def review_data(cold: bool = True) -> bytes:
        if cold:
            data.closed_readings.clear()
        record = data.load_record(engine, sid)
        assert record is not None
        history = summaries.patient_history(engine, record.session.patient_ref)
        stored = summaries.load_summary(engine, sid, data.SUMMARY_VERSION)  # kept when the session closed
        return orjson.dumps(
            review_payload(record, rules, history, time.time(), stored), option=orjson.OPT_SERIALIZE_NUMPY
        )

    record = data.load_record(engine, sid)
    assert record is not None
    results: list[tuple[str, float, float, str, float | None]] = []
    best, med, body = timed(review_data, r)
    results.append(("review page data, cold (storage -> JSON)", best, med, f"{len(body) / 1e6:.2f} MB", 100))
    best, med, _ = timed(lambda: review_data(cold=False), r)
    results.append(("review page data, readings cached", best, med, "closed session re-opened", 100))
    best, med, _ = timed(lambda: data.load_record(engine, sid, cached=False), r)
    results.append(("  of which: load from storage", best, med, f"{len(record.readings)} readings", None))
    best, med, s = timed(lambda: data.summary_of(record, rules, time.time()), r)
    results.append(("summary (pandas/numpy)", best, med, f"peak rise {s.peak_sbp_rise:.1f} mmHg", None))

    def export(fmt: str) -> bytes:
        table = exports.readings_table(reading_store.session_readings(engine, sid))
        return exports.encode(table, fmt, session_id=sid, name="readings")

    best, med, pq = timed(lambda: export("parquet"), r)
    results.append(("export readings Parquet (read + encode)", best, med, f"{len(pq) / 1e6:.2f} MB", None))
    best, med, csv = timed(lambda: export("csv"), r)
    results.append(("export readings CSV (read + encode)", best, med, f"{len(csv) / 1e6:.2f} MB", None))
    best, med, pdf = timed(lambda: render_report(record, rules, time.time()), max(2, r // 3))
    results.append(("PDF report", best, med, f"{len(pdf) / 1e3:.0f} kB", None))
    for label, kwargs in (
        ("list: newest first, page of 100", {}),
        ("list: by peak rise, page of 100", {"sort": "peak_sbp_rise"}),
        ("list: chair + patient prefix filter", {"bed": "chair-3", "patient_ref": "P-002"}),
        (
            "list: date range, by lowest SpO2",
            {"start": T0 - 86400 * 200, "end": T0 - 86400 * 100, "sort": "min_spo2", "descending": False},
        ),
        ("list: last page (offset 9,900)", {"offset": 9900}),
    ):

        def page(kw: dict[str, Any] = kwargs) -> tuple[int, list[dict[str, Any]]]:
            # As the API does: one SQL page, then live figures for the open sessions on it.
            total, rows = summaries.list_sessions(engine, limit=100, now=time.time(), **kw)
            open_ids = [row["id"] for row in rows if row["ended"] is None]
            if open_ids:
                live = data.open_figures(engine, open_ids)
                for row in rows:
                    row.update(live.get(row["id"], {}))
            return total, rows

        best, med, (total, rows) = timed(page, r)
        results.append((label, best, med, f"{total} match, {len(rows)} rows", 200))
    print(f"{'what':45s} {'best ms':>9s} {'median ms':>10s}  {'goal':>6s}  detail")
    for label, best, med, detail, goal in results:
        verdict = "" if goal is None else (f"<{goal} ok" if med < goal else f"<{goal} MISSED")
        print(f"{label:45s} {best:9.1f} {med:10.1f}  {verdict:>6s}  {detail}")
    engine.dispose()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
