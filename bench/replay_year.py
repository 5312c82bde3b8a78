"""A year of a 12-chair clinic replayed from the database: load time and replay time, against the live engine.

Generates the history with the simulator (``simulators.physiology.simulate_session``, the ``mixed``
scenario: routine sessions and every kind of event), ``--scale`` of 30,000 sessions laid out chair by
chair, day by day (08:00-22:00), and stores it through the store's own code: sessions and their phase
changes (``monitor.store.sessions.insert_session``) and the readings in batches through the writer's
transaction (``monitor.store.transaction.write_rows``: COPY on PostgreSQL). Distinct simulated sessions
are rendered once (``--distinct``) and reused at other chairs and days, as render time is not what is
measured. Then, separately timed:

* **load**: every stored session read back as replay cases (``alerts.cases.stored_cases``: sessions,
  phase changes, overrides and valid readings, column-wise);
* **replay**: every case through the offline engine with the default rules (``alerts.cases.replay_cases``);
* **what-if**: both of those for a rule set against a proposal (SpO2 delay 15 s) compared
  (``alerts.whatif.compare_replays``), replay and compare only;
* **live**: the live engine (``alerts.feed.live_replay``, reading by reading) on ``--live`` of the same
  cases, checked equal to the replay there, extrapolated per reading to all of them: the ratio;
* **a full year from memory** (when ``--scale`` < 1): the loaded sessions replayed again until there
  are 30,000, the replay time of a year once its readings are loaded.

    python bench/replay_year.py [--scale 0.05] [--db sqlite|postgres|both] [--pg URL] [--live 20]

PostgreSQL: ``--pg`` is a server URL whose user may create databases (default
``postgresql://postgres@127.0.0.1:5432/postgres``); a fresh database is made and dropped.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.cases import Case, replay_cases, stored_cases
from alerts.feed import live_replay
from alerts.rules import Rule, default_rules
from alerts.whatif import compare_replays
from monitor.model import CANONICAL_UNIT, Phase, PhaseChange, Session, Vital
from monitor.store import database
from monitor.store.sessions import insert_session
from monitor.store.transaction import BatchRows, ReadingRow, write_rows
from simulators.physiology import SessionTrace, simulate_session

YEAR_SESSIONS = 30_000
CHAIRS = 12
DAY_START_S, DAY_END_S = 8 * 3600, 22 * 3600
GAP_S = 15 * 60
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
VITALS = ("hr", "pr", "spo2", "sbp", "dbp", "map")
READINGS_PER_BATCH = 250_000


@dataclass(slots=True)
class Rendered:
    """A simulated session as stored readings: offsets in seconds and the columns."""

    trace: SessionTrace
    offset: np.ndarray  # float seconds from the session start, per reading
    vital: list[str]
    value: np.ndarray

    @property
    def readings(self) -> int:
        return int(self.offset.size)


def render(distinct: int) -> list[Rendered]:
    out = []
    for patient in range(distinct):
        trace = simulate_session("mixed", 17, patient)
        frame = trace.frame
        ts = frame["ts"].to_numpy(dtype=np.float64)
        offsets, vitals, values = [], [], []
        for v in VITALS:
            col = frame[v].to_numpy(dtype=np.float64)
            keep = ~np.isnan(col)
            offsets.append(ts[keep])
            values.append(col[keep])
            vitals.append(np.full(int(keep.sum()), v, dtype=object))
        offset = np.concatenate(offsets)
        order = np.argsort(offset, kind="stable")
        out.append(Rendered(trace, offset[order], list(np.concatenate(vitals)[order]), np.concatenate(values)[order]))
    return out


def schedule(n: int, library: list[Rendered]) -> Iterator[tuple[str, float, Rendered]]:
    """(chair, start, session) for n sessions: each chair runs sessions back to back through the day."""
    per_chair = [n // CHAIRS + (1 if c < n % CHAIRS else 0) for c in range(CHAIRS)]
    k = 0
    for chair in range(CHAIRS):
        day, at = 0, float(DAY_START_S)
        for _ in range(per_chair[chair]):
            session = library[k % len(library)]
            k += 1
            if at + session.trace.duration_s > DAY_END_S:
                day, at = day + 1, float(DAY_START_S)
            yield f"chair-{chair + 1}", T0 + day * 86400 + at, session
            at += session.trace.duration_s + GAP_S


def store_history(engine: Engine, n: int, library: list[Rendered]) -> tuple[int, float]:
    """Write n sessions; returns (readings written, seconds)."""
    began = time.perf_counter()
    pending: list[ReadingRow] = []
    written = 0
    batch = 0

    def flush() -> None:
        nonlocal batch, written
        if pending:
            batch += 1
            written += write_rows(engine, BatchRows(f"bench-{batch}", T0, readings=list(pending))).readings
            pending.clear()

    for bed, start, rendered in schedule(n, library):
        changes = [PhaseChange(phase, start + offset, "bench") for offset, phase in rendered.trace.phase_changes]
        session = Session(0, bed, f"P-{uuid.uuid4().hex[:8]}", Phase.DISCHARGED, start, phases=changes)
        sid = insert_session(engine, session, "bench")
        ts = (start + rendered.offset).tolist()
        unit = {v: CANONICAL_UNIT[Vital(v)] for v in VITALS}
        values = rendered.value.tolist()
        pending.extend(
            (t, v, x, unit[v], "valid", f"bench:{bed}", bed, sid)
            for t, v, x in zip(ts, rendered.vital, values, strict=True)
        )
        if len(pending) >= READINGS_PER_BATCH:
            flush()
    flush()
    return written, time.perf_counter() - began


def proposal() -> list[Rule]:
    """The clinic defaults with a 15 s delay on the SpO2 rules (the literature's classic change)."""
    return [replace(r, delay_s=15.0) if r.vital is Vital.SPO2 else r for r in default_rules()]


def readings_of(cases: list[Case]) -> int:
    return sum(c.readings for c in cases)


def measure(engine: Engine, label: str, n: int, library: list[Rendered], live_n: int) -> None:
    written, store_s = store_history(engine, n, library)
    print(f"[{label}] stored {n:,} sessions, {written:,} readings in {store_s:.1f} s ({written / store_s:,.0f}/s)")

    began = time.perf_counter()
    cases = stored_cases(engine)
    load_s = time.perf_counter() - began
    total = readings_of(cases)
    assert len(cases) == n and total == written, (len(cases), total)
    print(
        f"[{label}] load: {len(cases):,} sessions, {total:,} valid readings in {load_s:.2f} s ({total / load_s:,.0f}/s)"
    )

    rules = default_rules()
    began = time.perf_counter()
    now = list(replay_cases(cases, rules))
    replay_s = time.perf_counter() - began
    episodes = sum(len(d.episodes) for d in now)
    rate = total / replay_s
    print(f"[{label}] replay: {episodes:,} episodes in {replay_s:.2f} s ({rate / 1e6:.1f} M readings/s)")

    proposed_rules = proposal()
    began = time.perf_counter()
    then = list(replay_cases(cases, proposed_rules))
    comparison = compare_replays(now, then)
    whatif_s = time.perf_counter() - began + replay_s
    t = comparison.total
    print(
        f"[{label}] what-if (SpO2 delay 15 s): both replays and the comparison in {whatif_s:.2f} s; "
        f"episodes {t.episodes_now:,} -> {t.episodes_proposed:,}, SpO2 episodes "
        f"{sum(r.episodes_now for r in comparison.rows if r.rule_id.startswith('spo2')):,} -> "
        f"{sum(r.episodes_proposed for r in comparison.rows if r.rule_id.startswith('spo2')):,}"
    )

    sample = cases[:: max(1, len(cases) // live_n)][:live_n]
    began = time.perf_counter()
    for case in sample:
        live = live_replay(case.as_frame(), rules, case.phases)
        assert live == next(d.episodes for d in now if d.case is case), case.key
    live_s = time.perf_counter() - began
    per_reading = live_s / readings_of(sample)
    live_all = per_reading * total
    print(
        f"[{label}] live engine on {len(sample)} of the sessions (same episodes): {per_reading * 1e6:.2f} µs/reading, "
        f"{live_all:,.0f} s for all; replay is {live_all / replay_s:,.0f}x faster"
    )
    if n < YEAR_SESSIONS:
        # The whole year's replay from memory: the loaded sessions replayed again until there are 30,000.
        year = [cases[i % len(cases)] for i in range(YEAR_SESSIONS)]
        year_readings = sum(c.readings for c in year)
        began = time.perf_counter()
        year_episodes = sum(len(d.episodes) for d in replay_cases(year, rules))
        year_s = time.perf_counter() - began
        print(
            f"[{label}] a full year from memory ({YEAR_SESSIONS:,} sessions, the loaded ones reused, "
            f"{year_readings / 1e6:,.0f} M readings): replay {year_s:.1f} s ({year_episodes:,} episodes, "
            f"{year_readings / year_s / 1e6:.1f} M readings/s); live engine extrapolated "
            f"{per_reading * year_readings / 3600:,.1f} h ({per_reading * year_readings / year_s:,.0f}x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=0.05, help="fraction of 30,000 sessions (default 0.05)")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--distinct", type=int, default=120, help="distinct simulated sessions (default 120)")
    parser.add_argument("--live", type=int, default=20, help="sessions run through the live engine (default 20)")
    args = parser.parse_args()
    n = max(1, round(YEAR_SESSIONS * args.scale))
    began = time.perf_counter()
    library = render(min(args.distinct, n))
    per_session = np.mean([r.readings for r in library])
    print(
        f"rendered {len(library)} distinct sessions in {time.perf_counter() - began:.1f} s; "
        f"{n:,} sessions (scale {args.scale:g} of a year of {CHAIRS} chairs), ~{n * per_session / 1e6:.1f} M readings"
    )
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            engine = database.make_engine(f"sqlite:///{tmp}/year.db")
            database.upgrade(engine)
            try:
                measure(engine, "sqlite", n, library, args.live)
            finally:
                engine.dispose()
    if args.db in ("postgres", "both"):
        name = f"ivmon_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        engine = database.make_engine(url)
        try:
            database.upgrade(engine)
            measure(engine, "postgres", n, library, args.live)
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}"'))
            admin.dispose()


if __name__ == "__main__":
    main()
