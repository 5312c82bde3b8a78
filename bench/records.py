"""Printed records benchmark: the infusion record and the REMS facts of one long session, against the
review's PDF report of the same session (the peer: same storage, same matplotlib).

    python bench/records.py [--hours H] [--nibp-every S] [--repeat N]

Seeds a fresh SQLite database with bench/review.py's session (1 Hz per vital for H hours, a cuff
reading every S seconds, 40 alarms, 50 assessments and 20 notes), then prints best and median of N runs
of each PDF (storage -> bytes), its pages, and the ratio record / report.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import review as review_bench  # bench/review.py: the seeded session and the timer

from alerts.rules import default_rules
from dashboard.records.data import gather
from dashboard.records.infusion import render_record
from dashboard.records.rems import render_rems
from dashboard.report import render_report
from dashboard.review import data
from monitor.charting.draft import ChartingPlan
from monitor.config import ClinicSettings
from monitor.protocols import shipped_protocols
from monitor.store import assessments as store
from monitor.store import database
from monitor.store import sessions as session_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=2)
    parser.add_argument("--nibp-every", type=int, default=300, help="seconds between cuff readings")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    review_bench.HOURS = args.hours
    folder = Path(tempfile.mkdtemp(prefix="ivmon-bench-records-"))
    engine = database.make_engine(f"sqlite:///{folder / 'records.db'}")
    database.upgrade(engine)
    sid = asyncio.run(review_bench.seed_long_session(engine, args.nibp_every))
    nurse = store.Actor("nurse", {})
    t0 = review_bench.T0
    for i in range(50):
        store.add_assessment(engine, nurse, sid, t0 + 60 * i, "moaas", float(5 - i % 3), None, t0 + 60 * i)
    for i in range(20):
        session_store.add_note(engine, sid, t0 + 300 * i, "nurse", "observation " * 20, "note")
    clinic = ClinicSettings(name="Bench Clinic", address="1 Road", timezone="Europe/Berlin")
    rules = default_rules()
    protocols = shipped_protocols()

    def record() -> bytes:
        found = gather(engine, sid, rules, ChartingPlan(), t0 + args.hours * 3600, protocols)
        assert found is not None
        return render_record(found, clinic)

    def rems() -> bytes:
        found = gather(engine, sid, rules, ChartingPlan(), t0 + args.hours * 3600, protocols)
        assert found is not None
        return render_rems(found, clinic)

    def report() -> bytes:
        loaded = data.load_record(engine, sid, cached=False)
        assert loaded is not None
        return render_report(loaded, rules, time.time())

    print(f"session: {args.hours} h at 1 Hz per vital, a cuff reading every {args.nibp_every} s")
    results = {}
    for name, fn in (("report (peer)", report), ("infusion record", record), ("REMS facts", rems)):
        best, median, pdf = review_bench.timed(fn, args.repeat)
        results[name] = best
        pages = pdf.count(b"/Type /Page\n") or pdf.count(b"/Type /Page ")
        print(f"{name:>16}: best {best:7.1f} ms, median {median:7.1f} ms, {len(pdf) / 1024:6.1f} KiB, {pages} pages")
    print(f"ratio infusion record / report: {results['infusion record'] / results['report (peer)']:.2f}x")


if __name__ == "__main__":
    main()
