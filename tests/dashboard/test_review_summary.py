"""The review summary of a stored session equals figures computed here independently, second by second.

The independent computation walks a one-second grid (every reading of the
test session is on a whole second, so grid counts are exact times) and uses
plain Python; the product uses vectorised interval arithmetic.
"""

from __future__ import annotations

import bisect
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

import pytest
from sqlalchemy import Engine

from alerts.discharge import discharge_readiness
from alerts.rules import Rule, default_rules
from dashboard.review.data import SUMMARY_VERSION, load_record, open_figures, refresh_summary
from monitor.model import AlarmState, Phase, PhaseChange, Quality, Reading, Session, Vital
from monitor.store import summaries
from tests.dashboard.review_seed import T0, Known, known_session, readings_of, seed

HOLD = {"hr": 30, "pr": 30, "spo2": 30, "sbp": 1020, "dbp": 1020, "map": 1020}
_SORTED: dict[tuple[int, str], tuple[list[float], list[tuple[float, float, str]]]] = {}
OPS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def phase_at(k: Known, s: float) -> str:
    current = ""
    for name, ts in k.phases:
        if ts <= s:
            current = name
    return current


def held(k: Known, vital: str, s: float, end: float) -> float | None:
    """The value shown at second ``s`` under sample-and-hold (None: unknown)."""
    key = (id(k), vital)
    if key not in _SORTED:
        rows = list(readings_of(k, vital))  # sorted stably: the later stored one wins a tie
        _SORTED[key] = ([r[0] for r in rows], rows)
    times, rows = _SORTED[key]
    i = bisect.bisect_right(times, s)
    latest = rows[i - 1] if i else None
    if latest is None or latest[2] != "valid" or s - latest[0] >= HOLD[vital] or s >= end:
        return None
    return latest[1]


def baseline(k: Known, vital: str) -> float:
    vals = [v for ts, v, q in readings_of(k, vital) if q == "valid" and T0 <= ts < T0 + 600]
    return float(statistics.median(vals))


def limit_of(rule: Rule, k: Known) -> float:
    if rule.limit is not None:
        return rule.limit
    b = baseline(k, rule.vital.value)
    return b + rule.baseline_delta if rule.baseline_delta is not None else b * (rule.baseline_ratio or 1)


def ready_time(k: Known) -> float | None:
    """The recovery tile's own rule (alerts.discharge) asked at every second, with the alarms active then."""
    stop, end = T0 + 3000, T0 + 6000
    session = Session(
        1, "chair-2", "P", Phase.DISCHARGED, T0, phases=[PhaseChange(Phase(p), ts, "nurse") for p, ts in k.phases]
    )
    base = {Vital(v): baseline(k, v) for v in ("sbp", "dbp", "hr")}
    readings = [Reading(Vital(v), x, "", ts, "m", Quality(q)) for ts, v, x, q in sorted(k.readings)]
    for s in range(int(stop + 1800), int(end) + 1):
        active = [
            replace(a, state=AlarmState.ACTIVE, session_id=1)
            for a in k.alarms
            if a.started <= s < (a.ended if a.ended is not None else float("inf"))
        ]
        window = [r for r in readings if s - 3600 <= r.ts <= s]  # the rule looks back 5 min and two cuffs
        if discharge_readiness(session, base, window, float(s), active).ready:
            return float(s)
    return None


@pytest.fixture
async def stored(migrated_engine: Engine) -> tuple[Engine, int, Known]:
    k = known_session()
    sid = await seed(migrated_engine, k)
    return migrated_engine, sid, k


async def test_summary_of_known_session_matches_independent_figures(stored: tuple[Engine, int, Known]) -> None:
    engine, sid, k = stored
    _SORTED.clear()
    s = refresh_summary(engine, None, sid, time.time())
    assert s is not None and s.closed
    end = T0 + 6000
    assert s.duration_s == 6000

    for v in ("hr", "spo2", "sbp", "dbp", "map"):
        assert s.baselines[v] == baseline(k, v), v
    assert s.baselines["sbp"] == 122 and s.baselines["dbp"] == 82

    for v in ("hr", "spo2", "sbp", "dbp"):
        valid = [(ts, val) for ts, val, q in readings_of(k, v) if q == "valid"]
        top = max(val for _, val in valid)
        low = min(val for _, val in valid)
        assert (s.peaks[v].value, s.peaks[v].ts) == (top, next(ts for ts, val in valid if val == top)), v
        assert (s.lows[v].value, s.lows[v].ts) == (low, next(ts for ts, val in valid if val == low)), v
    assert s.peaks["hr"].value == 118  # the invalid 300 is not a peak

    after = [(ts, val) for ts, val, q in readings_of(k, "sbp") if q == "valid" and ts >= T0 + 600]
    top_sbp = max(after, key=lambda r: r[1])
    assert (s.peak_sbp_rise, s.peak_sbp_rise_ts) == (top_sbp[1] - 122, top_sbp[0]) == (49, T0 + 1500)
    assert s.peak_dbp_rise == 104 - 82

    grid = range(int(T0), int(end))
    for threshold in (94, 90):
        expected = 0.0
        for sec in grid:
            val = held(k, "spo2", sec, end)
            if val is not None and val < threshold:
                expected += 1
        assert s.spo2_below_s[str(threshold)] == expected, threshold
    assert s.spo2_below_s["90"] == 20  # 89 % from 1230 s until the questionable reading at 1250 s

    rules = [r for r in default_rules() if r.vital.value in ("sbp", "dbp", "map")]
    got = {b.rule_id: b for b in s.bp_limits}
    assert set(got) == {r.id for r in rules}
    for rule in rules:
        limit = limit_of(rule, k)
        expected = 0.0
        for sec in range(int(T0), int(end), 1):
            if phase_at(k, sec) not in rule.phases:
                continue
            val = held(k, rule.vital.value, sec, end)
            if val is not None and OPS[rule.op](val, limit):
                expected += 1
        assert got[rule.id].limit == limit
        assert got[rule.id].seconds == expected, rule.id
    assert got["bp-rise"].seconds == 300 + 1020  # 165 held 300 s; 171 held until the 1020 s cap

    assert s.alarm_counts == {"high": 1, "medium": 2, "low": 0, "technical": 2}
    stats = {a.rule_id: a for a in s.alarms}
    for a in k.alarms:
        st = stats[a.rule_id]
        assert st.count == 1
        if a.acknowledged_at is None:
            assert st.acknowledged == 0 and st.ack_median_s is None
        else:
            assert st.ack_median_s == st.ack_max_s == a.acknowledged_at - a.started
    assert stats["bp-rise"].ack_median_s == 120

    expected_ready = ready_time(k)
    assert expected_ready == T0 + 5450  # the last two NIBP in range from 5400 s, the overdue alarm ends at 5450 s
    assert s.discharge_ready_ts == expected_ready
    assert s.time_to_ready_s == expected_ready - (T0 + 3000)
    assert [n["text"] for n in s.adverse_notes] == ["Transient desaturation, chin lift"]


async def test_closed_session_summary_is_stored_for_the_list(stored: tuple[Engine, int, Known]) -> None:
    engine, sid, _ = stored
    assert summaries.load_summary(engine, sid, SUMMARY_VERSION) is None
    refresh_summary(engine, None, sid, time.time())
    figures = summaries.load_summary(engine, sid, SUMMARY_VERSION)
    assert figures is not None and figures["peak_sbp_rise"] == 49
    total, rows = summaries.list_sessions(engine, patient_ref="P-00", now=time.time())
    assert total == 1 and rows[0]["peak_sbp_rise"] == 49 and rows[0]["min_spo2"] == 89
    assert rows[0]["alarms_high"] == 1 and rows[0]["duration_s"] == 6000


async def test_open_session_is_summed_up_to_now_and_not_stored(migrated_engine: Engine) -> None:
    k = known_session()
    k.phases = k.phases[:2]  # still in infusion
    sid = await seed(migrated_engine, k)
    record = load_record(migrated_engine, sid)
    assert record is not None and record.closed_at is None
    s = refresh_summary(migrated_engine, None, sid, time.time())
    assert s is not None and not s.closed and s.discharge_ready_ts is None
    assert summaries.load_summary(migrated_engine, sid, SUMMARY_VERSION) is None
    # The list's cheap SQL figures for open sessions agree with the full summary.
    live = open_figures(migrated_engine, [sid])[sid]
    assert live["peak_sbp_rise"] == s.peak_sbp_rise == 49
    assert live["min_spo2"] == s.lows["spo2"].value
    assert {k: live[f"alarms_{k}"] for k in s.alarm_counts} == s.alarm_counts
    _, rows = summaries.list_sessions(migrated_engine, now=time.time())
    assert rows[0]["ended"] is None and rows[0]["peak_sbp_rise"] is None  # never stored while open
