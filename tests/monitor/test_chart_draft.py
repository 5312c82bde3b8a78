"""The draft chart: rows on each phase's grid and at NIBP readings, nearest valid values within a window."""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitor.charting.draft import ChartingPlan, draft_rows, grid_times
from monitor.model import Phase, PhaseChange, Session

T0 = 1_800_000_000.0


def session(*phases: tuple[Phase, float]) -> Session:
    changes = [PhaseChange(p, T0 + t, "nurse") for p, t in phases]
    return Session(1, "chair-1", "MRN-1", changes[-1].phase, T0, phases=changes)


def frame(rows: list[tuple[float, str, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": np.array([T0 + r[0] for r in rows], dtype=np.float64),
            "vital": [r[1] for r in rows],
            "value": np.array([r[2] for r in rows], dtype=np.float64),
            "unit": ["" for _ in rows],
            "quality": [r[3] for r in rows],
            "source": ["dev" for _ in rows],
        }
    )


def test_grid_is_15_min_in_baseline_and_recovery_and_5_min_in_infusion() -> None:
    s = session((Phase.BASELINE, 0), (Phase.INFUSION, 1200), (Phase.RECOVERY, 2400), (Phase.DISCHARGED, 4200))
    times, phases = grid_times(s, ChartingPlan(), T0 + 10_000)
    offsets = [round(t - T0) for t in times]
    assert offsets == [0, 900, 1200, 1500, 1800, 2100, 2400, 3300]
    assert list(phases) == ["baseline"] * 2 + ["infusion"] * 4 + ["recovery"] * 2


def test_grid_stops_now_and_takes_another_interval() -> None:
    s = session((Phase.BASELINE, 0), (Phase.INFUSION, 600))
    plan = ChartingPlan(interval_s={Phase.BASELINE: 300.0, Phase.INFUSION: 60.0, Phase.RECOVERY: 300.0})
    times, _ = grid_times(s, plan, T0 + 800)
    assert [round(t - T0) for t in times] == [0, 300, 600, 660, 720, 780]


def test_values_are_the_nearest_valid_reading_within_the_window_with_their_own_time() -> None:
    s = session((Phase.BASELINE, 0))
    readings = frame(
        [
            (-30, "hr", 60, "valid"),
            (10, "hr", 70, "valid"),
            (2, "hr", 200, "invalid"),  # nearest, but not valid: never charted
            (-5, "spo2", 97, "questionable"),
            (899, "spo2", 95, "valid"),
            (905, "spo2", 94, "valid"),
        ]
    )
    rows = draft_rows(s, readings, ChartingPlan(), T0 + 1000)
    assert [round(r.ts - T0) for r in rows] == [0, 900]
    first, second = rows
    assert first.values["hr"] is not None and first.values["hr"].value == 70 and first.values["hr"].ts == T0 + 10
    assert first.values["spo2"] is None and "spo2" in first.missing, "a questionable value is not charted"
    assert second.values["spo2"] is not None and second.values["spo2"].value == 95
    assert second.values["hr"] is None, "nothing within the window: said missing"
    assert first.missing == ["spo2", "sbp", "dbp", "map"]


def test_pulse_rate_stands_in_for_a_missing_heart_rate() -> None:
    s = session((Phase.BASELINE, 0))
    rows = draft_rows(s, frame([(1, "pr", 66, "valid")]), ChartingPlan(), T0 + 10)
    assert rows[0].values["hr"] is not None and rows[0].values["hr"].vital == "pr"


def test_every_nibp_reading_is_a_row_unless_it_stands_on_a_grid_row() -> None:
    s = session((Phase.BASELINE, 0), (Phase.INFUSION, 900))
    nibp = [(t, v, x, "valid") for t in (30, 400, 970) for v, x in (("sbp", 120), ("dbp", 80), ("map", 93))]
    readings = frame([*nibp, (401, "hr", 72, "valid")])
    rows = draft_rows(s, readings, ChartingPlan(), T0 + 1000)
    assert [(round(r.ts - T0), r.kind, r.phase) for r in rows] == [
        (0, "interval+nibp", "baseline"),  # the NIBP at +30 s is charted on the grid row at 0
        (400, "nibp", "baseline"),
        (900, "interval", "infusion"),
        (970, "nibp", "infusion"),
    ]
    nibp_row = rows[1]
    assert nibp_row.values["sbp"] is not None and nibp_row.values["sbp"].ts == T0 + 400
    assert nibp_row.values["hr"] is not None and nibp_row.values["hr"].value == 72
    assert rows[2].values["sbp"] is None, "the NIBP at +970 s is 70 s from the grid row: its own row"


def test_systolic_diastolic_and_mean_come_from_one_cuff_reading() -> None:
    s = session((Phase.BASELINE, 0))
    readings = frame([(0, "sbp", 120, "valid"), (0, "dbp", 80, "invalid"), (20, "dbp", 82, "valid")])
    row = draft_rows(s, readings, ChartingPlan(), T0 + 100)[0]
    assert row.values["sbp"] is not None and row.values["dbp"] is None


def test_a_long_session_is_drafted_column_wise() -> None:
    s = session((Phase.BASELINE, 0), (Phase.INFUSION, 1800), (Phase.RECOVERY, 5400), (Phase.DISCHARGED, 9000))
    ts = np.arange(0, 9000, 1.0)
    readings = pd.DataFrame(
        {
            "ts": np.concatenate([T0 + ts, T0 + ts]),
            "vital": ["hr"] * ts.size + ["spo2"] * ts.size,
            "value": np.concatenate([np.full(ts.size, 70.0), np.full(ts.size, 98.0)]),
            "unit": "",
            "quality": "valid",
            "source": "dev",
        }
    )
    rows = draft_rows(s, readings, ChartingPlan(), T0 + 20_000)
    assert len(rows) == 2 + 12 + 4
    assert all(r.values["hr"] is not None and r.values["spo2"] is not None for r in rows)


def test_a_cuff_reading_is_charted_on_one_row_only_when_rows_are_closer_than_the_window() -> None:
    s = session((Phase.BASELINE, 0))
    plan = ChartingPlan(interval_s={Phase.BASELINE: 60.0, Phase.INFUSION: 60.0, Phase.RECOVERY: 60.0}, window_s=50.0)
    readings = frame([(35, v, x, "valid") for v, x in (("sbp", 120), ("dbp", 80), ("map", 93))])
    rows = draft_rows(s, readings, plan, T0 + 100)
    assert [(round(r.ts - T0), r.kind, r.values["sbp"] is not None) for r in rows] == [
        (0, "interval", False),
        (60, "interval+nibp", True),  # 25 s away, nearer than the row at 0 (35 s)
    ]
