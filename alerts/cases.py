"""What the offline engine replays at clinic scale: *cases* (a patient of a trace, a stored session).

A case is one bed's readings with its own phases (and, for a stored session, the rules it ran under
when a clinician gave it its own). :func:`trace_cases` cuts a (multi-patient) trace into cases;
:func:`stored_cases` reads stored sessions: their valid readings, their phase changes and their latest
rule override, exactly what the live engine judged. :func:`replay_cases` runs them through
:func:`alerts.replay.replay_table`.
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

from alerts.replay import Episode, PhaseList, replay_table
from alerts.rules import Rule, parse_rules
from alerts.trace import phases_from_column, select_patient, split_patients
from monitor.model import Session
from monitor.store import alarms as alarm_store
from monitor.store.replay_source import VITAL_CODES, SessionReadings, stored_sessions, valid_readings


@dataclass(slots=True)
class Case:
    """One bed's readings to replay: ``key`` names it (patient id, session id), ``t0`` its time origin."""

    key: str
    frame: Mapping[str, Any]
    phases: PhaseList | None
    t0: float
    #: The session's own rules (a clinician's override), replacing the rule set replayed; None: none.
    own_rules: list[Rule] | None = None
    session: Session | None = None

    @property
    def last_ts(self) -> float:
        """The case's last reading (or its session's end): where an episode still open is counted to."""
        ts = np.asarray(self.frame["ts"], dtype=np.float64)
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
        out.append(Case(key, rows, phases, t0))
    return out


def stored_overrides(engine: Engine, session_ids: Sequence[int]) -> dict[int, list[Rule] | None]:
    """The latest rule override of each session that has one (None where it was cleared)."""
    if not session_ids:
        return {}
    out: dict[int, list[Rule] | None] = {}
    for sid, text in alarm_store.rule_override_rows(engine, session_ids):
        out[sid] = parse_rules(json.loads(text), f"stored session {sid} rules") if text else None
    return out


def session_frame(readings: SessionReadings, session_id: int) -> dict[str, npt.NDArray[Any]]:
    """A session's valid readings as a replay frame: one row per reading, its vital's column set, others NaN.

    One row per reading keeps two readings of one vital at one timestamp apart (the live engine judged
    both); rows sharing a timestamp are one monitor message to the engine (``pr`` sees ``hr``).
    """
    rows = readings.rows_of(session_id)
    ts = readings.ts[rows]
    codes = readings.vital[rows]
    values = readings.value[rows]
    frame: dict[str, npt.NDArray[Any]] = {"ts": ts}
    for code in np.unique(codes).tolist():
        column = np.full(ts.size, np.nan)
        mask = codes == code
        column[mask] = values[mask]
        frame[VITAL_CODES[code]] = column
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
        Case(str(s.id), session_frame(readings, s.id), list(s.phases), s.started, overrides.get(s.id), s)
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
        table = replay_table(case.frame, used, case.phases, zero_is_missing=zero_is_missing)
        yield CaseEpisodes(case, table.to_list())
