"""A finished (or running) session summed up for clinical review, with pandas/numpy; no I/O.

Why in ``alerts``: the figures must agree with what the alarm engine did live.
The baseline is :func:`alerts.baseline.baseline_of` over the valid readings of
the baseline phase (clause 8 of spec/alarms.md, fixed once the session left
that phase), the limits are the session's rules resolved against it, and
discharge readiness is the spec's advisory rule.

Definitions (what each figure means, precisely):

* **Readings counted**: only ``valid`` readings give values (clause 1 of the
  alarm semantics). Peaks and lows are over the whole session; a tie reports
  the first time the value was reached.
* **Peak rise over baseline**: the highest valid ``sbp`` (``dbp``) after the
  baseline phase ended, minus the baseline (negative when it never rose).
* **Sample and hold** (time below / above a limit): each valid reading's value
  holds from its timestamp until the *next reading of the same vital of any
  quality* (a questionable or invalid reading means the value is not known
  from then on), but never longer than :data:`HOLD_CONTINUOUS_S` (30 s, the
  signal-lost delay) for continuous vitals or :data:`HOLD_NIBP_S` (the longest
  NIBP cycle, 15 min, plus the 120 s overdue grace) for cuff pressures, and
  never past the session's end. Stale data thus never counts as current. Two
  readings of one vital at one timestamp: the later stored one holds.
* **Time below SpO2 94 % / 90 %**: held time with ``value < 94`` / ``< 90``
  over the whole session (all phases).
* **Time beyond each BP limit**: for every rule on ``sbp``/``dbp``/``map`` whose
  limit is known (absolute, or relative with a baseline), held time with
  ``value OP limit`` counted only while the session was in the rule's phases.
* **Alarms**: per rule, kind and priority: count, how many were acknowledged,
  time to acknowledge (``acknowledged_at - started``) median and maximum.
  Counts by priority exclude technical alarms, counted apart (the spec keeps
  technical and physiological alarms separate in statistics).
* **Discharge readiness**: the first moment ``t`` at which the recovery tile's
  rule (:func:`alerts.discharge.discharge_readiness`) holds, replayed: at least
  30 min after the infusion stopped (the recovery phase began); the last two
  NIBP measurements at or before ``t`` (valid ``sbp`` and ``dbp`` sharing a
  timestamp) within 20 % of their baselines; the median of the valid ``hr``
  readings in ``[t - 300 s, t]`` (of ``pr`` when there is no ``hr`` in that
  window) within 20 % of the ``hr`` baseline; the median of the valid ``spo2``
  readings in ``[t - 300 s, t]`` at least 92 %; and no alarm of the session
  active at ``t`` (``started <= t < ended``: in hindsight, an alarm is active
  until its condition ended). The conditions can only change at
  ``stop + 30 min``, at a valid reading or at an alarm's end, so those are the
  moments examined. Time to readiness = ``t - stop``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from alerts.baseline import baseline_of
from alerts.rules import Rule
from monitor.model import NIBP_VITALS, Alarm, AlarmKind, Phase, Priority, Session, Vital

FloatArray = npt.NDArray[np.float64]

HOLD_CONTINUOUS_S = 30.0
HOLD_NIBP_S = 15 * 60.0 + 120.0
SPO2_THRESHOLDS: tuple[float, ...] = (94.0, 90.0)
READY_AFTER_STOP_S = 30 * 60.0
READY_WINDOW_S = 300.0
READY_BAND = 0.20
READY_SPO2 = 92.0
BP_VITALS: tuple[Vital, ...] = (Vital.SBP, Vital.DBP, Vital.MAP)


@dataclass(frozen=True, slots=True)
class Extreme:
    value: float
    ts: float


@dataclass(frozen=True, slots=True)
class LimitTime:
    rule_id: str
    vital: str
    op: str
    limit: float
    priority: str
    phases: list[str]
    seconds: float


@dataclass(frozen=True, slots=True)
class AlarmStat:
    rule_id: str
    kind: str
    priority: str
    count: int
    acknowledged: int
    ack_median_s: float | None
    ack_max_s: float | None


@dataclass(slots=True)
class SessionSummary:
    session_id: int
    started: float
    ended: float  # the session's end, or the moment summed up to while it is open
    closed: bool
    duration_s: float
    infusion_start: float | None
    infusion_stop: float | None
    baselines: dict[str, float | None]
    peaks: dict[str, Extreme]
    lows: dict[str, Extreme]
    peak_sbp_rise: float | None
    peak_sbp_rise_ts: float | None
    peak_dbp_rise: float | None
    peak_dbp_rise_ts: float | None
    spo2_below_s: dict[str, float]  # "94" -> seconds
    bp_limits: list[LimitTime]
    alarms: list[AlarmStat]
    alarm_counts: dict[str, int]  # high, medium, low (non-technical), technical
    discharge_ready_ts: float | None
    time_to_ready_s: float | None
    adverse_notes: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# -- helpers ---------------------------------------------------------------------------
def phase_intervals(session: Session, end: float) -> list[tuple[float, float, str]]:
    """(start, end, phase) for each phase of the session up to ``end``."""
    out: list[tuple[float, float, str]] = []
    changes = session.phases
    for i, ch in enumerate(changes):
        stop = changes[i + 1].ts if i + 1 < len(changes) else end
        stop = min(stop, end)
        if stop > ch.ts:
            out.append((ch.ts, stop, ch.phase.value))
    return out


def session_end(session: Session, readings: pd.DataFrame, now: float | None) -> tuple[float, bool]:
    for ch in session.phases:
        if ch.phase in (Phase.DISCHARGED, Phase.ABORTED):
            return ch.ts, True
    if now is not None:
        return now, False
    last = float(readings["ts"].max()) if len(readings) else session.started
    return max(last, session.started), False


def _vital_frames(readings: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """All readings per vital, in time order (stable: storage order breaks ties)."""
    if readings.empty:
        return {}
    ordered = readings.sort_values("ts", kind="stable")
    return {str(v): g for v, g in ordered.groupby("vital", sort=False)}


def held_intervals(frame: pd.DataFrame, vital: Vital, end: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(start, stop, value) of every valid reading's hold (see the module docstring)."""
    t = frame["ts"].to_numpy(dtype=np.float64)
    v = frame["value"].to_numpy(dtype=np.float64)
    valid = (frame["quality"] == "valid").to_numpy()
    cap = HOLD_NIBP_S if vital in NIBP_VITALS else HOLD_CONTINUOUS_S
    nxt = np.append(t[1:], np.inf)
    stop = np.minimum(np.minimum(nxt, t + cap), end)
    stop = np.maximum(stop, t)
    return t[valid], stop[valid], v[valid]


def _overlap(start: FloatArray, stop: FloatArray, windows: Sequence[tuple[float, float]]) -> FloatArray:
    total = np.zeros_like(start)
    for a, b in windows:
        total += np.clip(np.minimum(stop, b) - np.maximum(start, a), 0.0, None)
    return total


def _met(values: FloatArray, op: str, limit: float) -> npt.NDArray[np.bool_]:
    if op == "<":
        return values < limit
    if op == "<=":
        return values <= limit
    if op == ">":
        return values > limit
    return values >= limit


def _valid(frame: pd.DataFrame | None) -> tuple[FloatArray, FloatArray]:
    if frame is None:
        return np.empty(0), np.empty(0)
    ok = frame[frame["quality"] == "valid"]
    return ok["ts"].to_numpy(dtype=np.float64), ok["value"].to_numpy(dtype=np.float64)


def _first_extreme(t: FloatArray, v: FloatArray, highest: bool) -> Extreme | None:
    if v.size == 0:
        return None
    i = int(np.argmax(v) if highest else np.argmin(v))  # argmax/argmin return the first occurrence
    return Extreme(float(v[i]), float(t[i]))


def _within(value: float, base: float | None) -> bool:
    return base is not None and abs(value - base) <= READY_BAND * abs(base)


# -- the summary -----------------------------------------------------------------------
def summarise(
    session: Session,
    readings: pd.DataFrame,
    alarms: Iterable[Alarm],
    rules: Iterable[Rule],
    notes: Iterable[Mapping[str, Any]] = (),
    *,
    now: float | None = None,
) -> SessionSummary:
    """Sum up ``session`` from its stored readings (columns ts, vital, value, quality) and alarms."""
    alarms = list(alarms)
    end, closed = session_end(session, readings, now)
    per_vital = _vital_frames(readings)
    valid = {name: _valid(frame) for name, frame in per_vital.items()}

    # Baselines: valid readings of the baseline phase, once the session has left it (as the engine fixes it).
    infusion_start = session.phase_started(Phase.INFUSION)
    base_window: tuple[float, float] | None = None
    if session.phases and session.phases[0].phase == Phase.BASELINE and len(session.phases) > 1:
        base_window = (session.phases[0].ts, session.phases[1].ts)
    baselines: dict[str, float | None] = {}
    for name, (t, v) in valid.items():
        vital = Vital(name)
        if base_window is None:
            baselines[name] = None
            continue
        a, z = np.searchsorted(t, base_window, side="left")
        baselines[name] = baseline_of(vital, t[a:z], v[a:z])

    peaks: dict[str, Extreme] = {}
    lows: dict[str, Extreme] = {}
    for name, (t, v) in valid.items():
        hi, lo = _first_extreme(t, v, True), _first_extreme(t, v, False)
        if hi is not None and lo is not None:
            peaks[name], lows[name] = hi, lo

    rises: dict[str, tuple[float | None, float | None]] = {}
    for vital in (Vital.SBP, Vital.DBP):
        base = baselines.get(vital.value)
        t, v = valid.get(vital.value, (np.empty(0), np.empty(0)))
        if base is None or base_window is None:
            rises[vital.value] = (None, None)
            continue
        after = t >= base_window[1]
        top = _first_extreme(t[after], v[after], True)
        rises[vital.value] = (top.value - base, top.ts) if top else (None, None)

    spo2_below: dict[str, float] = {}
    spo2 = per_vital.get(Vital.SPO2.value)
    for threshold in SPO2_THRESHOLDS:
        seconds = 0.0
        if spo2 is not None:
            start, stop, v = held_intervals(spo2, Vital.SPO2, end)
            seconds = float(np.sum((stop - start)[v < threshold]))
        spo2_below[f"{threshold:g}"] = seconds

    intervals = phase_intervals(session, end)
    bp_limits: list[LimitTime] = []
    for rule in rules:
        if rule.vital not in BP_VITALS:
            continue
        limit = rule.limit_for(baselines.get(rule.vital.value))
        if limit is None:
            continue
        windows = [(a, b) for a, b, phase in intervals if phase in rule.phases]
        seconds = 0.0
        frame = per_vital.get(rule.vital.value)
        if frame is not None and windows:
            start, stop, v = held_intervals(frame, rule.vital, end)
            hit = _met(v, rule.op, limit)
            seconds = float(np.sum(_overlap(start[hit], stop[hit], windows)))
        bp_limits.append(
            LimitTime(rule.id, rule.vital.value, rule.op, limit, rule.priority.value, sorted(rule.phases), seconds)
        )

    infusion_stop = session.phase_started(Phase.RECOVERY)
    ready = _discharge_ready(infusion_stop, end, valid, baselines, alarms)

    adverse = [
        {"ts": float(n["ts"]), "user": n.get("user"), "text": n.get("text", "")}
        for n in notes
        if n.get("kind") == "adverse"
    ]
    return SessionSummary(
        session_id=session.id,
        started=session.started,
        ended=end,
        closed=closed,
        duration_s=end - session.started,
        infusion_start=infusion_start,
        infusion_stop=infusion_stop,
        baselines=baselines,
        peaks=peaks,
        lows=lows,
        peak_sbp_rise=rises[Vital.SBP.value][0],
        peak_sbp_rise_ts=rises[Vital.SBP.value][1],
        peak_dbp_rise=rises[Vital.DBP.value][0],
        peak_dbp_rise_ts=rises[Vital.DBP.value][1],
        spo2_below_s=spo2_below,
        bp_limits=bp_limits,
        alarms=alarm_stats(alarms),
        alarm_counts=alarm_counts(alarms),
        discharge_ready_ts=ready,
        time_to_ready_s=None if ready is None or infusion_stop is None else ready - infusion_stop,
        adverse_notes=adverse,
    )


def alarm_counts(alarms: Iterable[Alarm]) -> dict[str, int]:
    counts = {p.value: 0 for p in Priority} | {"technical": 0}
    for a in alarms:
        counts["technical" if a.kind == AlarmKind.TECHNICAL else a.priority.value] += 1
    return counts


def alarm_stats(alarms: Iterable[Alarm]) -> list[AlarmStat]:
    groups: dict[tuple[str, str, str], list[Alarm]] = {}
    for a in alarms:
        groups.setdefault((a.rule_id, a.kind.value, a.priority.value), []).append(a)
    out = []
    for (rule_id, kind, priority), group in groups.items():
        waits = np.array([a.acknowledged_at - a.started for a in group if a.acknowledged_at is not None])
        out.append(
            AlarmStat(
                rule_id=rule_id,
                kind=kind,
                priority=priority,
                count=len(group),
                acknowledged=int(waits.size),
                ack_median_s=float(np.median(waits)) if waits.size else None,
                ack_max_s=float(np.max(waits)) if waits.size else None,
            )
        )
    rank = {Priority.HIGH.value: 0, Priority.MEDIUM.value: 1, Priority.LOW.value: 2}
    out.sort(key=lambda s: (s.kind == AlarmKind.TECHNICAL.value, rank.get(s.priority, 3), s.rule_id))
    return out


def _nibp_pairs(
    sbp: tuple[FloatArray, FloatArray], dbp: tuple[FloatArray, FloatArray]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Cuff measurements: valid sbp and dbp sharing a timestamp (the later stored wins a duplicate)."""
    s = dict(zip(sbp[0].tolist(), sbp[1].tolist(), strict=True))
    d = dict(zip(dbp[0].tolist(), dbp[1].tolist(), strict=True))
    times = sorted(t for t in s if t in d)
    return (
        np.array(times, dtype=np.float64),
        np.array([s[t] for t in times], dtype=np.float64),
        np.array([d[t] for t in times], dtype=np.float64),
    )


def _window_median(t: FloatArray, v: FloatArray, at: float) -> float | None:
    a = int(np.searchsorted(t, at - READY_WINDOW_S, side="left"))
    z = int(np.searchsorted(t, at, side="right"))
    return float(np.median(v[a:z])) if z > a else None


def _discharge_ready(
    stop: float | None,
    end: float,
    valid: Mapping[str, tuple[FloatArray, FloatArray]],
    baselines: Mapping[str, float | None],
    alarms: Sequence[Alarm],
) -> float | None:
    if stop is None:
        return None
    earliest = stop + READY_AFTER_STOP_S
    if earliest > end:
        return None
    empty = (np.empty(0), np.empty(0))
    hr, pr, spo2 = (valid.get(k, empty) for k in (Vital.HR.value, Vital.PR.value, Vital.SPO2.value))
    pair_t, pair_s, pair_d = _nibp_pairs(valid.get(Vital.SBP.value, empty), valid.get(Vital.DBP.value, empty))
    base_s, base_d, base_hr = (baselines.get(k) for k in (Vital.SBP.value, Vital.DBP.value, Vital.HR.value))
    if base_s is None or base_d is None or base_hr is None:
        return None
    moments = [earliest]
    for t, _ in valid.values():
        moments.extend(t[(t > earliest) & (t <= end)].tolist())
    moments.extend(a.ended for a in alarms if a.ended is not None and earliest < a.ended <= end)
    starts = np.array([a.started for a in alarms], dtype=np.float64)
    ends = np.array([math.inf if a.ended is None else a.ended for a in alarms], dtype=np.float64)
    for at in sorted(set(moments)):
        if np.any((starts <= at) & (at < ends)):
            continue
        k = int(np.searchsorted(pair_t, at, side="right"))
        if k < 2 or not all(
            _within(float(x[j]), b) for x, b in ((pair_s, base_s), (pair_d, base_d)) for j in (k - 1, k - 2)
        ):
            continue
        med_hr = _window_median(*hr, at)
        if med_hr is None:
            med_hr = _window_median(*pr, at)
        if med_hr is None or not _within(med_hr, base_hr):
            continue
        med_spo2 = _window_median(*spo2, at)
        if med_spo2 is None or med_spo2 < READY_SPO2:
            continue
        return at
    return None
