"""The draft chart: rows at the charting interval and at every NIBP reading, from stored valid readings.

Each row takes, per charted vital, the valid reading nearest the row's time within a window, with
that reading's own measurement time. Rows fall on a grid per phase (default every 15 min in baseline
and recovery, every 5 min in infusion, counted from the phase's start) plus one row per NIBP
measurement; an NIBP measured within the window of a grid row is charted on that row instead of a
row of its own (the same cuff reading is never proposed twice). Everything is computed column-wise:
one ``searchsorted`` per vital for all rows of a session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from monitor.model import Phase, Session

#: The charted vitals, in flowsheet order. ``hr`` is the heart rate (ECG) or else the pulse rate.
CHART_VITALS: tuple[str, ...] = ("hr", "spo2", "sbp", "dbp", "map")
NIBP_CHART: tuple[str, ...] = ("sbp", "dbp", "map")
#: Where each charted vital comes from, in order of preference.
SOURCES: dict[str, tuple[str, ...]] = {
    "hr": ("hr", "pr"),
    "spo2": ("spo2",),
    "sbp": ("sbp",),
    "dbp": ("dbp",),
    "map": ("map",),
}
CHARTED_PHASES: tuple[Phase, ...] = (Phase.BASELINE, Phase.INFUSION, Phase.RECOVERY)


@dataclass(frozen=True, slots=True)
class ChartingPlan:
    """The charting interval per phase (a protocol may change it) and the look-up window."""

    interval_s: Mapping[Phase, float] = field(
        default_factory=lambda: {Phase.BASELINE: 900.0, Phase.INFUSION: 300.0, Phase.RECOVERY: 900.0}
    )
    #: A value is charted on a row only if measured within this many seconds of the row's time.
    window_s: float = 60.0

    def as_json(self) -> dict[str, Any]:
        return {"interval_s": {p.value: s for p, s in self.interval_s.items()}, "window_s": self.window_s}


@dataclass(frozen=True, slots=True)
class ChartValue:
    value: float
    ts: float  # the measurement time (OBX-14, effectiveDateTime)
    vital: str  # the stored vital it came from (hr or pr for the heart rate)

    def as_json(self) -> dict[str, Any]:
        return {"value": self.value, "ts": self.ts, "vital": self.vital}


@dataclass(frozen=True, slots=True)
class DraftRow:
    row: int  # the row's identity within its session: its time in milliseconds
    ts: float
    phase: str
    kind: str  # "interval", "nibp" or "interval+nibp"
    values: dict[str, ChartValue | None]

    @property
    def missing(self) -> list[str]:
        return [v for v in CHART_VITALS if self.values.get(v) is None]


def row_key(ts: float) -> int:
    return round(ts * 1000)


def phase_segments(session: Session, until: float) -> list[tuple[Phase, float, float]]:
    """(phase, start, end) of each charted phase of the session, cut at ``until``."""
    changes = [(c.phase, c.ts) for c in session.phases] or [(session.phase, session.started)]
    out: list[tuple[Phase, float, float]] = []
    for i, (phase, start) in enumerate(changes):
        end = changes[i + 1][1] if i + 1 < len(changes) else until
        end = min(end, until)
        if phase in CHARTED_PHASES and end > start:
            out.append((phase, start, end))
    return out


def grid_times(session: Session, plan: ChartingPlan, until: float) -> tuple[np.ndarray, np.ndarray]:
    """Row times on the interval grid of each phase (from its start, up to ``until``) and their phases."""
    times: list[np.ndarray] = []
    phases: list[np.ndarray] = []
    for phase, start, end in phase_segments(session, until):
        step = plan.interval_s.get(phase)
        if not step or step <= 0:
            continue
        grid = start + step * np.arange(int(np.floor((end - start) / step)) + 1, dtype=np.float64)
        # A phase that ended has no row at its end (the next phase's first row stands there).
        grid = grid[grid <= end] if end >= until else grid[grid < end]
        times.append(grid)
        phases.append(np.full(grid.size, phase.value, dtype=object))
    if not times:
        return np.empty(0), np.empty(0, dtype=object)
    return np.concatenate(times), np.concatenate(phases)


def _nearest(row_ts: np.ndarray, ts: np.ndarray, window_s: float) -> np.ndarray:
    """Index into ``ts`` (sorted) of the reading nearest each row time within the window, or -1."""
    if ts.size == 0 or row_ts.size == 0:
        return np.full(row_ts.size, -1, dtype=np.int64)
    right = np.searchsorted(ts, row_ts, side="left")
    left = np.clip(right - 1, 0, ts.size - 1)
    right = np.clip(right, 0, ts.size - 1)
    d_left = np.abs(row_ts - ts[left])
    d_right = np.abs(ts[right] - row_ts)
    pick = np.where(d_right < d_left, right, left)  # a tie goes to the earlier reading
    best = np.minimum(d_left, d_right)
    return np.where(best <= window_s, pick, -1)


def _by_vital(readings: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    valid = readings[readings["quality"] == "valid"]
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for vital, group in valid.groupby("vital", sort=False):
        order = np.argsort(group["ts"].to_numpy(), kind="stable")
        out[str(vital)] = (group["ts"].to_numpy()[order], group["value"].to_numpy()[order])
    return out


def draft_rows(session: Session, readings: pd.DataFrame, plan: ChartingPlan, now: float) -> list[DraftRow]:
    """The session's draft chart up to ``now`` (or its end), oldest row first.

    ``readings`` has the columns of ``monitor.store.readings.session_readings`` (ts, vital, value, quality, ...).
    """
    series = _by_vital(readings)
    grid, grid_phase = grid_times(session, plan, now)
    nibp_ts = np.unique(series["sbp"][0]) if "sbp" in series else np.empty(0)
    segments = phase_segments(session, now)
    if segments:
        first, last = segments[0][1], segments[-1][2]
        nibp_ts = nibp_ts[(nibp_ts >= first) & (nibp_ts <= last)]
    # An NIBP near a grid row is charted there; the others make rows of their own.
    on_grid = _nearest(nibp_ts, grid, plan.window_s) >= 0 if grid.size else np.zeros(nibp_ts.size, dtype=bool)
    own = nibp_ts[~on_grid]
    row_ts = np.concatenate([grid, own])
    is_grid = np.concatenate([np.ones(grid.size, dtype=bool), np.zeros(own.size, dtype=bool)])
    phases = np.concatenate([grid_phase, np.array([_phase_of(session, t) for t in own], dtype=object)])
    order = np.argsort(row_ts, kind="stable")
    row_ts, is_grid, phases = row_ts[order], is_grid[order], phases[order]

    picked: dict[str, list[ChartValue | None]] = {}
    for chart_vital in CHART_VITALS:
        column: list[ChartValue | None] = [None] * row_ts.size
        for source in SOURCES[chart_vital]:
            if source not in series:
                continue
            ts, values = series[source]
            idx = _nearest(row_ts, ts, plan.window_s)
            for i in np.flatnonzero(idx >= 0):
                if column[i] is None:
                    column[i] = ChartValue(float(values[idx[i]]), float(ts[idx[i]]), source)
        picked[chart_vital] = column
    _same_cuff_reading(picked, row_ts)
    kinds = [
        ("interval+nibp" if picked["sbp"][i] is not None else "interval") if is_grid[i] else "nibp"
        for i in range(row_ts.size)
    ]
    return [
        DraftRow(
            row=row_key(float(t)),
            ts=float(t),
            phase=str(phases[i]),
            kind=str(kinds[i]),
            values={v: picked[v][i] for v in CHART_VITALS},
        )
        for i, t in enumerate(row_ts)
    ]


def _same_cuff_reading(picked: dict[str, list[ChartValue | None]], row_ts: np.ndarray) -> None:
    """Systolic, diastolic and mean of a row come from one cuff measurement (the systolic's), and a cuff
    measurement is charted once: on the row nearest to it (rows closer than the window share neighbours)."""
    for i in range(row_ts.size):
        sbp = picked["sbp"][i]
        if sbp is not None and int(_nearest(np.array([sbp.ts]), row_ts, np.inf)[0]) != i:
            picked["sbp"][i] = sbp = None
        for part in ("dbp", "map"):
            value = picked[part][i]
            if value is not None and (sbp is None or value.ts != sbp.ts):
                picked[part][i] = None


def _phase_of(session: Session, ts: float) -> str:
    phase = session.phase_at(ts)
    return phase.value if phase is not None else session.phase.value


def rows_by_key(rows: Sequence[DraftRow]) -> dict[int, DraftRow]:
    return {r.row: r for r in rows}
