"""Alarm report benchmark: the monthly report's figures for a year of a 12-chair clinic, against the
committee statistics that existed before it (the peer: ``GET /api/alarms/stats``'s path, alarms read
as objects, then a frame).

    python bench/alarm_report.py [--alarms-per-chair-day N] [--days D] [--chairs C] [--repeat R] [--db URL]

Seeds a fresh SQLite database (or the given empty PostgreSQL one) with one session per chair-day and N
alarms per chair-day (rules, priorities, kinds, acknowledgements and answers drawn at random; 187 a bed
a day is the ICU figure in research/alarm-management.md, a ketamine clinic sees far fewer), then
prints best and median of R runs of: the report's figures (store -> ``AlarmReport``), its PDF, its
CSV, and the peer's statistics by rule over the same year, with the ratio report / peer.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from alerts.stats import alarm_stats
from dashboard.alarm_report import gather, render_report_pdf, report_csv
from monitor.config import Hl7Settings, load_settings
from monitor.model import Alarm, AlarmChange, AlarmKind, AlarmState, Phase, PhaseChange, Priority, Session
from monitor.store import alarms as alarm_store
from monitor.store import database
from monitor.store import sessions as session_store
from monitor.store.writer import BatchWriter

T0 = 1_767_225_600.0  # 2026-01-01 UTC
RULES = [
    ("spo2-critical", "high", "physiological"),
    ("spo2-low", "high", "physiological"),
    ("spo2-borderline", "medium", "physiological"),
    ("hr-high", "medium", "physiological"),
    ("bp-severe-sys", "high", "physiological"),
    ("bp-high-sys", "medium", "physiological"),
    ("device:SpO2 probe", "medium", "device"),
    ("signal-lost:spo2", "medium", "technical"),
    ("sensor-off:spo2", "low", "technical"),
    ("nibp-overdue", "low", "technical"),
]


async def seed(engine: object, chairs: int, days: int, per_chair_day: int) -> int:
    rng = np.random.default_rng(17)
    writer = BatchWriter(engine, max_rows=50_000)  # type: ignore[arg-type]
    writer.start()
    count = 0
    for day in range(days):
        for chair in range(chairs):
            start = T0 + day * 86_400 + 8 * 3600 + chair * 600
            bed = f"chair-{chair + 1}"
            session = Session(
                0, bed, f"P-{day}-{chair}", Phase.BASELINE, start, phases=[PhaseChange(Phase.BASELINE, start, "nurse")]
            )
            sid = session_store.insert_session(engine, session, "nurse")  # type: ignore[arg-type]
            changes = []
            for k in range(per_chair_day):
                rule, priority, kind = RULES[int(rng.integers(len(RULES)))]
                began = start + float(rng.uniform(0, 7200))
                ack = float(rng.exponential(25)) if rng.random() < 0.7 else None
                alarm = Alarm(
                    f"a{day}-{chair}-{k}",
                    rule,
                    AlarmKind(kind),
                    Priority(priority),
                    rule,
                    began,
                    bed=bed,
                    session_id=sid,
                    state=AlarmState.RESOLVED,
                    ended=began + float(rng.exponential(40)),
                    acknowledged_by="nurse" if ack is not None else None,
                    acknowledged_at=began + ack if ack is not None else None,
                    escalated=ack is None and rng.random() < 0.3,
                    actionable=bool(rng.random() < 0.2) if ack is not None and rng.random() < 0.5 else None,
                    rule_set_version=1,
                )
                changes.append(AlarmChange(alarm, "resolved", alarm.ended or began))
            writer.add_alarm_changes(changes)
            count += len(changes)
        await writer.durable()
    await writer.close()
    return count


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    runs, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - t)
    return min(runs), statistics.median(runs), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alarms-per-chair-day", type=int, default=20)
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--chairs", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", help="an empty database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    url = args.db or f"sqlite:///{Path(tempfile.mkdtemp(prefix='ivmon-bench-report-')) / 'report.db'}"
    engine = database.make_engine(url)
    database.upgrade(engine)
    t = time.perf_counter()
    alarms = asyncio.run(seed(engine, args.chairs, args.days, args.alarms_per_chair_day))
    took, kind = time.perf_counter() - t, url.split(":")[0]
    print(f"seeded {alarms:,} alarms, {args.chairs * args.days:,} chair-days in {took:.1f} s ({kind})")
    settings = load_settings(db_url=url, hl7=Hl7Settings(enabled=False))
    start, end = T0, T0 + args.days * 86_400
    best, median, report = timed(lambda: gather(engine, settings, start, end, end), args.repeat)
    print(f"report figures (store -> AlarmReport): best {best * 1000:,.0f} ms, median {median * 1000:,.0f} ms")
    pdf_best, _, pdf = timed(lambda: render_report_pdf(report, settings), args.repeat)  # type: ignore[arg-type]
    csv_best, _, body = timed(lambda: report_csv(report), args.repeat)  # type: ignore[arg-type]
    print(f"PDF {pdf_best * 1000:,.0f} ms ({len(pdf):,} bytes), CSV {csv_best * 1000:,.0f} ms ({len(body):,} bytes)")  # type: ignore[arg-type]
    peer_best, peer_median, _ = timed(
        lambda: alarm_stats(alarm_store.alarms_between(engine, start, end), "rule", now=end), args.repeat
    )
    peer = f"best {peer_best * 1000:,.0f} ms, median {peer_median * 1000:,.0f} ms"
    print(f"peer (alarms as objects -> alarm_stats by rule): {peer}")
    print(f"ratio report figures / peer: {best / peer_best:.2f}x (below 1: the report is faster)")


if __name__ == "__main__":
    main()
