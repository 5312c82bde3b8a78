"""Run the *live* engine over a recorded trace, reading by reading, as the pipeline would feed it.

Used to prove live/offline agreement and to measure the live engine on the
same readings as the replay. Readings sharing a timestamp go in one batch
(as one monitor message would); phase changes are applied before the
readings stamped at or after them (the new phase is in force at its own
timestamp, as ``Session.phase_at`` says).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from alerts.engine import AlarmEngine
from alerts.replay import Episode, PhaseList
from alerts.rules import Rule
from monitor.model import OPEN_PHASES, AlarmKind, Phase, PhaseChange, Quality, Reading, Session, Vital

BED = "trace"


def _changes(phases: PhaseList | None, first_ts: float) -> list[PhaseChange]:
    if phases is None:
        return [PhaseChange(Phase.INFUSION, min(first_ts, 0.0) - 1.0, "replay")]
    out = []
    for item in phases:
        if isinstance(item, PhaseChange):
            out.append(item)
        else:
            name, ts = item
            out.append(PhaseChange(Phase(str(name)), float(ts), "replay"))
    return out


def readings_of(frame: pd.DataFrame | Mapping[str, Any], *, zero_is_missing: bool = False) -> Iterator[list[Reading]]:
    """Batches of readings (one per timestamp, in time order) from a wide trace frame."""
    columns = {c: frame[c] for c in frame.columns} if isinstance(frame, pd.DataFrame) else dict(frame)
    ts = np.asarray(columns["ts"], dtype=np.float64)
    order = np.argsort(ts, kind="stable")
    vitals = [v for v in Vital if v.value in columns]
    values = {v: np.asarray(columns[v.value], dtype=np.float64)[order] for v in vitals}
    quality = {v: np.asarray(columns[f"{v.value}_quality"])[order] for v in vitals if f"{v.value}_quality" in columns}
    ts = ts[order]
    batch: list[Reading] = []
    current = math.nan
    for i in range(ts.size):
        t = float(ts[i])
        if t != current and batch:
            yield batch
            batch = []
        current = t
        for v in vitals:
            x = float(values[v][i])
            if math.isnan(x) or (zero_is_missing and x == 0):
                continue
            q = Quality(str(quality[v][i])) if v in quality else Quality.VALID
            batch.append(Reading(v, x, "", t, "trace", q, BED, None))
    if batch:
        yield batch


def live_replay(
    frame: pd.DataFrame | Mapping[str, Any],
    rules: Iterable[Rule],
    phases: PhaseList | None = None,
    *,
    zero_is_missing: bool = False,
    engine: AlarmEngine | None = None,
) -> list[Episode]:
    """The physiological episodes the live engine produces for a trace (same shape as ``replay``)."""
    engine = engine or AlarmEngine(rules)
    batches = list(readings_of(frame, zero_is_missing=zero_is_missing))
    first = batches[0][0].ts if batches else 0.0
    pending = _changes(phases, first)
    session = Session(
        id=1,
        bed=BED,
        patient_ref="trace",
        phase=pending[0].phase if pending else Phase.INFUSION,
        started=pending[0].ts if pending else first,
        phases=[],
    )
    engine.register_session(session)
    started: dict[str, tuple[str, Vital, Any, float]] = {}
    done: list[Episode] = []

    def collect(changes: list[Any]) -> None:
        for ch in changes:
            a = ch.alarm
            if a.kind != AlarmKind.PHYSIOLOGICAL:
                continue
            if ch.transition == "started":
                started[a.id] = (a.rule_id, a.vital, a.priority, a.started)
            elif ch.transition == "resolved":
                rule_id, vital, priority, start = started.pop(a.id)
                done.append(Episode(rule_id, vital, priority, start, a.ended, float(a.worst)))

    def apply(change: PhaseChange) -> None:
        session.phase = change.phase
        session.phases.append(change)
        collect(engine.on_phase(session, change))

    k = 0
    for batch in batches:
        t = batch[0].ts
        while k < len(pending) and pending[k].ts <= t:
            apply(pending[k])
            k += 1
        phase = session.phase_at(t)
        sid = session.id if phase in OPEN_PHASES else None
        for r in batch:
            r.session_id = sid
        collect(engine.judge(batch))
    while k < len(pending):
        apply(pending[k])
        k += 1
    for alarm in engine.book.open.values():
        if alarm.kind == AlarmKind.PHYSIOLOGICAL and alarm.id in started:
            rule_id, vital, priority, start = started.pop(alarm.id)
            done.append(Episode(rule_id, vital, priority, start, None, float(alarm.worst or math.nan)))
    done.sort(key=lambda ep: (ep.start, ep.rule_id, ep.vital.value))
    return done
