"""A real recorded trace replayed through the real pipeline and alarm engine, then summed up for review.

Trace: MIMIC-II Waveform Database record s25047 numerics (PhysioNet open access;
Goldberger et al., Circulation 2000; Saeed et al., Crit Care Med 2011), 72 min at
one row per minute, with real monitor noise (0 = sensor off, SpO2 36, cuff 40/10).
It is an ICU recording, not a ketamine session: the phases below are laid over
it (baseline 0-20 min, infusion 20-50 min, recovery to the end) and each value
is held under the product's documented sample-and-hold (at most 30 s for
continuous vitals, 17 min for NIBP) - with one row a minute, a continuous value
counts 30 s, then is unknown.

The expected figures are computed here from the stored readings and alarms with
plain Python on a one-second grid (all times are whole seconds).
"""

from __future__ import annotations

import bisect
import statistics
import time
from pathlib import Path

import pandas as pd
import pytest

from dashboard.review.data import SUMMARY_VERSION, SummaryKeeper
from monitor.config import load_settings
from monitor.model import Phase, Reading, Vital
from monitor.service import build_service
from monitor.store import alarms as alarm_store
from monitor.store import readings as reading_store
from monitor.store import summaries
from tests.fixtures import FIXTURES

TRACE = FIXTURES / "traces/mimic2wdb_s25047_numerics_1perMin_72min_HR_NBP_SpO2_RESP.csv"
COLUMNS = {
    "HR_bpm": ("hr", "bpm"),
    "PULSE_bpm": ("pr", "bpm"),
    "SpO2_pct": ("spo2", "%"),
    "NBPSys_mmHg": ("sbp", "mmHg"),
    "NBPDias_mmHg": ("dbp", "mmHg"),
    "NBPMean_mmHg": ("map", "mmHg"),
    "RESP_per_min": ("rr", "/min"),
}
T0 = 1_763_100_000.0
INFUSION, RECOVERY, DISCHARGE = T0 + 1200, T0 + 3000, T0 + 4300
HOLD = {"sbp": 1020, "dbp": 1020, "map": 1020}


@pytest.fixture
def trace() -> pd.DataFrame:
    return pd.read_csv(TRACE)


async def replay(url: str, trace: pd.DataFrame) -> tuple[object, int]:
    service = build_service(load_settings(db_url=url, beds={"chair-1": "Chair 1"}))
    service.sessions.add_listener(SummaryKeeper(service.engine, service.alarms))
    service.writer.start()
    session = await service.sessions.start("chair-1", "MIMIC-s25047", "nurse", dose_mg=40.0, ts=T0)
    phases = [(INFUSION, Phase.INFUSION), (RECOVERY, Phase.RECOVERY)]
    for row in trace.itertuples(index=False):
        ts = T0 + float(row.elapsed_s)
        while phases and phases[0][0] <= ts:
            at, phase = phases.pop(0)
            await service.sessions.change_phase(session.id, phase, "nurse", ts=at)
        items = []
        for col, (vital, unit) in COLUMNS.items():
            value = getattr(row, col)
            if pd.isna(value) or value == 0:  # 0 = sensor off / no signal in this record, not a measurement
                continue
            items.append(Reading(Vital(vital), float(value), unit, ts, "mimic:s25047", bed="chair-1"))
        result = await service.pipeline.submit(items)
        assert result.rejected == 0
    await service.sessions.change_phase(session.id, Phase.DISCHARGED, "nurse", ts=DISCHARGE)
    await service.writer.close()
    return service, session.id


def valid(rows: pd.DataFrame, vital: str) -> list[tuple[float, float]]:
    part = rows[(rows["vital"] == vital) & (rows["quality"] == "valid")]
    return list(zip(part["ts"].tolist(), part["value"].tolist(), strict=True))


def grid_seconds(rows: pd.DataFrame, vital: str, hit: object, windows: list[tuple[float, float]]) -> float:
    """Seconds on the grid whose held value satisfies ``hit`` (a predicate), inside ``windows``."""
    part = rows[rows["vital"] == vital].sort_values("ts", kind="stable")
    times, items = part["ts"].tolist(), list(part.itertuples(index=False))
    cap = HOLD.get(vital, 30)
    total = 0
    for a, b in windows:
        for s in range(int(a), int(b)):
            i = bisect.bisect_right(times, s)
            if i == 0:
                continue
            r = items[i - 1]
            if r.quality == "valid" and s - r.ts < cap and s < DISCHARGE and hit(r.value):  # type: ignore[operator]
                total += 1
    return float(total)


async def test_real_trace_session_summary_matches_independent_figures(trace: pd.DataFrame, tmp_path: Path) -> None:
    service, sid = await replay(f"sqlite:///{tmp_path / 'trace.db'}", trace)
    engine = service.engine  # type: ignore[attr-defined]
    figures = summaries.load_summary(engine, sid, SUMMARY_VERSION)
    assert figures is not None, "the summary is stored when the session closes"
    rows = reading_store.session_readings(engine, sid)
    cells = trace[list(COLUMNS)]
    assert len(rows) == int((cells.notna() & (cells != 0)).to_numpy().sum())  # every reading stored

    def base(vital: str) -> float:
        vals = [v for t, v in valid(rows, vital) if T0 <= t < INFUSION]
        return float(statistics.median(vals))

    for vital in ("hr", "pr", "spo2", "sbp", "dbp"):
        assert figures["baselines"][vital] == base(vital), vital
    sbp_after = [(t, v) for t, v in valid(rows, "sbp") if t >= INFUSION]
    top = max(sbp_after, key=lambda p: p[1])
    assert top[1] == 160  # anchor in the file: cuff 160/73 at 52 min
    assert figures["peak_sbp_rise"] == top[1] - base("sbp")
    assert figures["peak_sbp_rise_ts"] == top[0] == T0 + 3120
    # 42.9 and 36 are below the plausible 50: stored invalid, not counted
    assert figures["lows"]["spo2"]["value"] == min(v for _, v in valid(rows, "spo2")) == 50.8

    whole = [(T0, DISCHARGE)]
    for threshold in (94, 90):
        expected = grid_seconds(rows, "spo2", lambda v, th=threshold: v < th, whole)
        assert figures["spo2_below_s"][str(threshold)] == expected, threshold
    assert figures["spo2_below_s"]["94"] > 0

    limits = {b["rule_id"]: b for b in figures["bp_limits"]}
    rise = limits["bp-rise"]
    assert rise["limit"] == base("sbp") + 40
    assert rise["seconds"] == grid_seconds(rows, "sbp", lambda v: v >= rise["limit"], [(INFUSION, DISCHARGE)])
    severe = limits["bp-severe-dia"]
    assert severe["seconds"] == grid_seconds(rows, "dbp", lambda v: v >= 110, [(INFUSION, DISCHARGE)]) > 0

    alarms = alarm_store.session_alarms(engine, sid)
    assert alarms, "the live engine raised alarms on this noisy trace"
    counts = {"high": 0, "medium": 0, "low": 0, "technical": 0}
    for a in alarms:
        counts["technical" if a.kind.value == "technical" else a.priority.value] += 1
    assert figures["alarm_counts"] == counts
    total, listed = summaries.list_sessions(engine, now=time.time())
    assert total == 1 and listed[0]["alarms_high"] == counts["high"]
    assert listed[0]["min_spo2"] == 50.8
