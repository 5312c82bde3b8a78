"""What the offline engine replays at clinic scale: *cases* (a patient of a trace, a stored session).

A case is one bed's readings with its own phases (and, for a stored session, the rules it ran under
when a clinician gave it its own). :func:`trace_cases` cuts a (multi-patient) trace into cases;
:func:`stored_cases` reads stored sessions: their valid readings (as per-vital series, no frame), their
phase changes and their latest rule override, exactly what the live engine judged. :func:`replay_cases`
runs them through the offline engine (:mod:`alerts.replay`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Engine

from alerts.replay import Episode, PhaseList, replay_series, replay_table
from alerts.rules import Rule, parse_rules
from alerts.trace import phases_from_column, select_patient, split_patients
from monitor.model import Session
from monitor.store import alarms as alarm_store
from monitor.store.replay_source import stored_sessions, valid_readings

Series = dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]


@dataclass(slots=True)
class Case:
    """One bed's readings to replay: ``key`` names it (patient id, session id), ``t0`` its time origin.

    A trace's patient comes as a ``frame`` (its rows); a stored session as ``series`` (valid readings
    per vital, in time order).
    """

    key: str
    phases: PhaseList | None
    t0: float
    frame: Mapping[str, Any] | None = None
    series: Series | None = None
    #: The session's own rules (a clinician's override), replacing the rule set replayed; None: none.
    own_rules: list[Rule] | None = None
    session: Session | None = None

    def as_frame(self) -> Mapping[str, Any]:
        """The readings as a frame (the live engine's feed takes one): one row per reading of a stored session.

        One row per reading keeps two readings of one vital at one timestamp apart (the live engine judged
        both); rows sharing a timestamp are one monitor message to the engine.
        """
        if self.frame is not None:
            return self.frame
        return frame_of_series(self.series or {})

    @property
    def readings(self) -> int:
        if self.series is not None:
            return sum(int(t.size) for t, _ in self.series.values())
        return int(np.asarray(self.as_frame()["ts"]).size)

    @property
    def last_ts(self) -> float:
        """The case's last reading (or its session's end): where an episode still open is counted to."""
        if self.series is not None:
            ends = [float(t[-1]) for t, _ in self.series.values() if t.size]
            last = max(ends) if ends else self.t0
        else:
            ts = np.asarray(self.as_frame()["ts"], dtype=np.float64)
            last = float(ts.max()) if ts.size else self.t0
        if self.session is not None and self.session.phases:
            last = max(last, self.session.phases[-1].ts)
        return last


def trace_cases(
    frame: pd.DataFrame, patient: str | None = None, rel_phases: Sequence[tuple[str, float]] | None = None
) -> list[Case]:
    """The patients of a trace (one, with ``patient``), each with its own phase column and time origin.

    ``rel_phases`` (seconds from each patient's first row) replace the phase column when given.
    """
    if patient is not None or "patient" not in frame.columns:
        parts = [("", select_patient(frame, patient))]
    else:
        parts = split_patients(frame)
    out: list[Case] = []
    for key, rows in parts:
        t0 = float(rows["ts"].min()) if len(rows) else 0.0
        phases = [(name, t0 + s) for name, s in rel_phases] if rel_phases else phases_from_column(rows)
        out.append(Case(key, phases, t0, frame=rows))
    return out


def stored_overrides(engine: Engine, session_ids: Sequence[int]) -> dict[int, list[Rule] | None]:
    """The latest rule override of each session that has one (None where it was cleared)."""
    if not session_ids:
        return {}
    out: dict[int, list[Rule] | None] = {}
    for sid, text in alarm_store.rule_override_rows(engine, session_ids):
        out[sid] = parse_rules(json.loads(text), f"stored session {sid} rules") if text else None
    return out


def frame_of_series(series: Series) -> dict[str, npt.NDArray[Any]]:
    """Per-vital series as a replay frame: one row per reading (time order, ties by vital), others NaN."""
    if not series:
        return {"ts": np.empty(0)}
    names = list(series)
    ts = np.concatenate([series[name][0] for name in names])
    which = np.concatenate([np.full(series[name][0].size, k) for k, name in enumerate(names)])
    values = np.concatenate([series[name][1] for name in names])
    order = np.argsort(ts, kind="stable")
    ts, which, values = ts[order], which[order], values[order]
    frame: dict[str, npt.NDArray[Any]] = {"ts": ts}
    for k, name in enumerate(names):
        column = np.full(ts.size, np.nan)
        mask = which == k
        column[mask] = values[mask]
        frame[name] = column
    return frame


def stored_cases(
    engine: Engine,
    *,
    start: float | None = None,
    end: float | None = None,
    bed: str | None = None,
    protocol: str | None = None,
) -> list[Case]:
    """Stored sessions started in [start, end) as cases keyed by session id, time origin their start."""
    sessions = stored_sessions(engine, start=start, end=end, bed=bed, protocol=protocol)
    ids = [s.id for s in sessions]
    readings = valid_readings(engine, ids)
    overrides = stored_overrides(engine, ids)
    return [
        Case(
            str(s.id),
            list(s.phases),
            s.started,
            series=readings.series_of(s.id),
            own_rules=overrides.get(s.id),
            session=s,
        )
        for s in sessions
    ]


@dataclass(frozen=True, slots=True)
class CaseEpisodes:
    case: Case
    episodes: list[Episode]


def replay_cases(
    cases: Iterable[Case], rules: Sequence[Rule], *, zero_is_missing: bool = False
) -> Iterator[CaseEpisodes]:
    """Every case under ``rules`` (its own rules where it has them)."""
    for case in cases:
        used = case.own_rules if case.own_rules is not None else rules
        if case.series is not None:
            table = replay_series(case.series, used, case.phases)
        else:
            table = replay_table(case.as_frame(), used, case.phases, zero_is_missing=zero_is_missing)
        yield CaseEpisodes(case, table.to_list())
