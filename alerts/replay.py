"""The offline engine: the spec's exact semantics over a whole trace at once, vectorised with numpy.

Per rule the work is a handful of array passes; Python loops run only over
rules, phase intervals and episodes, never over readings. The idea:

* readings that do not *clear* an episode (``nonclear``: past the limit, or in
  the hysteresis band) form *blocks* of consecutive readings inside one scope
  segment; an active episode can only end at the first reading after its block
  (or at the segment's end: a phase change out of the rule's phases);
* inside a block, *runs* of consecutive readings satisfying ``value OP limit``
  are the spec's runs; a run qualifies at its first reading at least
  ``delay_s`` after its start;
* once an episode is active every later run in its block is absorbed, so the
  episodes are exactly the first qualifying reading of each block.

``alerts.engine`` implements the same semantics reading by reading; the tests
prove the two agree.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from alerts.baseline import baseline_of
from alerts.rules import Rule
from monitor.model import UNASSIGNED, Phase, PhaseChange, Priority, Vital

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: ``pr`` is judged by the ``hr`` rules while no valid ``hr`` reading came in the last this many seconds.
HR_CONNECTED_S = 30.0

_EMPTY_I: IntArray = np.empty(0, dtype=np.intp)
_EMPTY_F: FloatArray = np.empty(0, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Episode:
    """One alarm episode: ``end`` is None while still active at the end of the trace."""

    rule_id: str
    vital: Vital  # the vital judged: ``pr`` when the pulse rate stood in for a missing ``hr``
    priority: Priority
    start: float
    end: float | None
    worst: float


def scope_name(phase: str | Phase | None) -> str:
    """The rule-phase a session phase counts as: closed sessions and no session are ``unassigned``."""
    if phase is None:
        return UNASSIGNED
    name = str(phase)
    if name in (Phase.DISCHARGED.value, Phase.ABORTED.value):
        return UNASSIGNED
    return name


PhaseList = Sequence[tuple[str | Phase, float]] | Sequence[PhaseChange]


def _timeline(phases: PhaseList | None) -> list[tuple[float, float, str]]:
    """(start, end, scope) intervals covering all time; before the first change: unassigned."""
    if phases is None:
        return [(-math.inf, math.inf, Phase.INFUSION.value)]
    changes: list[tuple[str, float]] = []
    for item in phases:
        if isinstance(item, PhaseChange):
            changes.append((item.phase.value, float(item.ts)))
        else:
            name, ts = item
            changes.append((str(name), float(ts)))
    for (_, a), (_, b) in itertools.pairwise(changes):
        if b < a:
            raise ValueError("phase changes must be in time order")
    out: list[tuple[float, float, str]] = []
    start, scope = -math.inf, UNASSIGNED
    for name, ts in changes:
        if name not in {p.value for p in Phase} | {UNASSIGNED}:
            raise ValueError(f"unknown phase {name!r}")
        out.append((start, ts, scope))
        start, scope = ts, scope_name(name)
    out.append((start, math.inf, scope))
    return out


def _scope_intervals(timeline: list[tuple[float, float, str]], phases: frozenset[str], after: float) -> list[
        tuple[float, float]]:
    """Maximal time intervals in which the rule applies.

    Adjacent in-scope phases merge (no break); any phase outside the rule's
    phases breaks, even one that lasted no time at all (clause 7).
    """
    merged: list[tuple[float, float]] = []
    broken = True
    for start, end, scope in timeline:
        if scope not in phases:
            broken = True
            continue
        if end <= after:
            continue
        start = max(start, after)
        if merged and not broken and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
        broken = False
    return merged


def _baseline_end(timeline: list[tuple[float, float, str]]) -> tuple[float, float] | None:
    """The baseline phase's [start, end), once the session has left it."""
    for start, end, scope in timeline:
        if scope == Phase.BASELINE.value and math.isfinite(end):
            return start, end
    return None


@dataclass(slots=True)
class _Series:
    """Valid readings of one vital in time order."""

    t: FloatArray
    v: FloatArray


def _segments(t: FloatArray, intervals: list[tuple[float, float]]) -> tuple[IntArray, IntArray, FloatArray]:
    """Index ranges [lo, hi) of the readings inside each interval, and the interval ends (nan = open)."""
    if not intervals:
        return _EMPTY_I, _EMPTY_I, _EMPTY_F
    starts = np.array([s for s, _ in intervals], dtype=np.float64)
    ends = np.array([e for _, e in intervals], dtype=np.float64)
    lo = np.searchsorted(t, starts, side="left").astype(np.intp)
    hi = np.searchsorted(t, ends, side="left").astype(np.intp)
    return lo, hi, np.where(np.isinf(ends), np.nan, ends)


def rule_episodes(
    t: FloatArray,
    v: FloatArray,
    lo: IntArray,
    hi: IntArray,
    seg_end: FloatArray,
    rule: Rule,
    limit: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Episodes of one rule over one series: (start times, end times (nan = open), worst values).

    ``lo``/``hi`` are the sorted, disjoint index ranges in scope; ``seg_end`` the
    time each range is cut by a phase change (nan: never).
    """
    n, nseg = len(v), len(lo)
    if n == 0 or nseg == 0:
        return _EMPTY_F, _EMPTY_F, _EMPTY_F
    upper, strict = rule.upper, len(rule.op) == 1
    if rule.hysteresis > 0:
        thr = rule.clear_threshold(limit)
        nonclear = v > thr if upper else v < thr
    elif upper:
        nonclear = v > limit if strict else v >= limit
    else:
        nonclear = v < limit if strict else v <= limit
    nc = np.flatnonzero(nonclear)
    if nc.size == 0:
        return _EMPTY_F, _EMPTY_F, _EMPTY_F
    # Which scope segment each candidate lies in (or none).
    k = np.searchsorted(hi, nc, side="right")
    inside = k < nseg
    inside[inside] &= nc[inside] >= lo[k[inside]]
    if not inside.all():
        nc, k = nc[inside], k[inside]
        if nc.size == 0:
            return _EMPTY_F, _EMPTY_F, _EMPTY_F
    m = nc.size
    # Blocks: consecutive non-clearing readings within one segment.
    brk = np.empty(m, dtype=bool)
    brk[0] = True
    np.not_equal(np.diff(nc), 1, out=brk[1:])
    brk[1:] |= np.diff(k) != 0
    blk = np.cumsum(brk) - 1
    last_of_block = nc[np.flatnonzero(np.append(brk[1:], True))]
    # Readings that satisfy the condition (all of them without hysteresis).
    if rule.hysteresis > 0:
        vn = v[nc]
        cpos = np.flatnonzero(vn > limit if strict else vn >= limit) if upper else np.flatnonzero(
            vn < limit if strict else vn <= limit)
        if cpos.size == 0:
            return _EMPTY_F, _EMPTY_F, _EMPTY_F
        ci, cb = nc[cpos], blk[cpos]
    else:
        cpos, ci, cb = None, nc, blk
    if rule.delay_s > 0:
        # Runs: consecutive satisfying readings within one block; qualify at delay_s after the run's start.
        if cpos is None:
            run_start = brk
        else:
            run_start = np.empty(ci.size, dtype=bool)
            run_start[0] = True
            np.not_equal(np.diff(ci), 1, out=run_start[1:])
            run_start[1:] |= np.diff(cb) != 0
        tc = t[ci]
        first = np.maximum.accumulate(np.where(run_start, np.arange(ci.size), 0))
        q = np.flatnonzero(tc - tc[first] >= rule.delay_s)
        if q.size == 0:
            return _EMPTY_F, _EMPTY_F, _EMPTY_F
        qi, qb = ci[q], cb[q]
    else:
        qi, qb = ci, cb
    # The first qualifying reading of each block starts an episode; the block's end ends it.
    pick = np.empty(qi.size, dtype=bool)
    pick[0] = True
    np.not_equal(qb[1:], qb[:-1], out=pick[1:])
    s, b = qi[pick], qb[pick]
    e = last_of_block[b] + 1
    seg = np.searchsorted(hi, s, side="right")
    cut = e >= hi[seg]
    end_t = np.where(cut, seg_end[seg], t[np.minimum(e, n - 1)])
    bounds = np.empty(2 * s.size, dtype=np.intp)
    bounds[0::2] = s
    bounds[1::2] = e
    if bounds[-1] >= n:
        bounds = bounds[:-1]
    reducer = np.maximum if upper else np.minimum
    worst = reducer.reduceat(v, bounds)[0::2]
    return t[s], end_t, worst


def _column(frame: Mapping[str, Any], name: str) -> FloatArray:
    return np.asarray(frame[name], dtype=np.float64)


def series_from(frame: Mapping[str, Any], order: IntArray | None, vital: str, ts: FloatArray,
                zero_is_missing: bool = False) -> _Series:
    """The valid readings of one vital column (NaN = no reading; ``<vital>_quality`` other than valid dropped)."""
    v = _column(frame, vital)
    if order is not None:
        v = v[order]
    keep = ~np.isnan(v)
    if zero_is_missing:
        keep &= v != 0
    qcol = f"{vital}_quality"
    if qcol in frame:
        q = np.asarray(frame[qcol])
        if order is not None:
            q = q[order]
        keep &= q == "valid"
    if keep.all():
        return _Series(ts, v)
    return _Series(ts[keep], v[keep])


def replay(
    frame: pd.DataFrame | Mapping[str, Any],
    rules: Iterable[Rule],
    phases: PhaseList | None = None,
    *,
    zero_is_missing: bool = False,
) -> list[Episode]:
    """All alarm episodes of ``rules`` over a trace of one bed.

    ``frame``: a ``ts`` column (epoch or trace seconds, floats) and one column
    per vital key (NaN = no reading), optionally ``<vital>_quality`` columns
    (only ``"valid"`` readings count). ``phases``: the session's phase changes
    as (phase, ts) pairs or :class:`PhaseChange`; before the first change the
    readings are unassigned; without phases the whole trace is ``infusion``.
    Episodes come ordered by start, then rule id.
    """
    rules = list(rules)
    columns: Mapping[str, Any] = (
        {c: frame[c].to_numpy() for c in frame.columns} if isinstance(frame, pd.DataFrame) else frame
    )
    ts = _column(columns, "ts")
    order: IntArray | None = None
    if ts.size > 1 and bool(np.any(ts[1:] < ts[:-1])):
        order = np.argsort(ts, kind="stable").astype(np.intp)
        ts = ts[order]
    timeline = _timeline(phases)
    base_iv = _baseline_end(timeline)
    series: dict[str, _Series] = {}

    def get(vital: str) -> _Series | None:
        if vital not in columns:
            return None
        if vital not in series:
            series[vital] = series_from(columns, order, vital, ts, zero_is_missing)
        return series[vital]

    baselines: dict[str, float | None] = {}

    def baseline(vital: Vital) -> float | None:
        if vital.value not in baselines:
            s = get(vital.value)
            value = None
            if s is not None and base_iv is not None:
                a, z = np.searchsorted(s.t, base_iv, side="left")
                value = baseline_of(vital, s.t[a:z], s.v[a:z])
            baselines[vital.value] = value
        return baselines[vital.value]

    starts: list[FloatArray] = []
    ends: list[FloatArray] = []
    worsts: list[FloatArray] = []
    meta: list[tuple[str, Vital, Priority, int]] = []
    pr_alone: tuple[_Series, FloatArray, IntArray, FloatArray] | None = None
    for rule in rules:
        if rule.relative:
            limit = rule.limit_for(baseline(rule.vital))
            if limit is None or base_iv is None:
                continue  # no baseline: the rule is inactive
            intervals = _scope_intervals(timeline, rule.phases - {Phase.BASELINE.value}, base_iv[1])
        else:
            limit = rule.limit
            assert limit is not None
            intervals = _scope_intervals(timeline, rule.phases, -math.inf)
        s = get(rule.vital.value)
        if s is not None:
            lo, hi, seg_end = _segments(s.t, intervals)
            st, en, wo = rule_episodes(s.t, s.v, lo, hi, seg_end, rule, limit)
            if st.size:
                starts.append(st)
                ends.append(en)
                worsts.append(wo)
                meta.append((rule.id, rule.vital, rule.priority, st.size))
        if rule.vital == Vital.HR:
            if pr_alone is None:
                pr_alone = _pr_without_hr(get(Vital.PR.value), get(Vital.HR.value))
            pr_s = pr_alone[0]
            if pr_s.t.size:
                lo, hi, seg_end = _pr_segments(pr_alone, intervals)
                st, en, wo = rule_episodes(pr_s.t, pr_s.v, lo, hi, seg_end, rule, limit)
                if st.size:
                    starts.append(st)
                    ends.append(en)
                    worsts.append(wo)
                    meta.append((rule.id, Vital.PR, rule.priority, st.size))
    episodes: list[Episode] = []
    for (rule_id, vital, priority, count), st, en, wo in zip(meta, starts, ends, worsts, strict=True):
        for i in range(count):
            end = float(en[i])
            episodes.append(Episode(rule_id, vital, priority, float(st[i]), None if math.isnan(end) else end,
                                    float(wo[i])))
    episodes.sort(key=lambda ep: (ep.start, ep.rule_id, ep.vital.value))
    return episodes


def _pr_without_hr(pr: _Series | None, hr: _Series | None) -> tuple[_Series, FloatArray, IntArray, FloatArray]:
    """The ``pr`` readings taken while no ``hr`` source was connected.

    Returns them, and for each the time the next ``pr`` reading found ``hr``
    connected again (inf if none before the next kept reading), their indices in
    the full ``pr`` series, and the full series' times.
    """
    if pr is None or pr.t.size == 0:
        return _Series(_EMPTY_F, _EMPTY_F), _EMPTY_F, _EMPTY_I, _EMPTY_F
    if hr is None or hr.t.size == 0:
        connected = np.zeros(pr.t.size, dtype=bool)
    else:
        idx = np.searchsorted(hr.t, pr.t, side="right")
        last = hr.t[np.maximum(idx - 1, 0)]
        connected = (idx > 0) & (pr.t - last <= HR_CONNECTED_S)
    keep = np.flatnonzero(~connected).astype(np.intp)
    nxt = keep + 1
    has_next = nxt < pr.t.size
    cut = np.full(keep.size, np.inf)
    cut[has_next] = np.where(connected[nxt[has_next]], pr.t[nxt[has_next]], np.inf)
    return _Series(pr.t[keep], pr.v[keep]), cut, keep, pr.t


def _pr_segments(pr_alone: tuple[_Series, FloatArray, IntArray, FloatArray],
                 intervals: list[tuple[float, float]]) -> tuple[IntArray, IntArray, FloatArray]:
    """Scope segments of the stand-in ``pr`` series: phase intervals split where ``hr`` came back."""
    s, cut, keep, _ = pr_alone
    lo, hi, seg_end = _segments(s.t, intervals)
    if keep.size == 0 or lo.size == 0:
        return lo, hi, seg_end
    # A break after position j when the next pr reading found hr connected.
    breaks = np.flatnonzero(np.isfinite(cut))
    los: list[IntArray] = []
    his: list[IntArray] = []
    ends: list[FloatArray] = []
    for a, z, e in zip(lo, hi, seg_end, strict=True):
        inner = breaks[(breaks >= a) & (breaks < z - 1)]
        seg_lo = np.concatenate(([a], inner + 1)).astype(np.intp)
        seg_hi = np.concatenate((inner + 1, [z])).astype(np.intp)
        last = seg_hi - 1
        ce = cut[np.minimum(last, keep.size - 1)]
        ce = np.where(last >= a, ce, np.inf)
        limit_e = np.inf if math.isnan(e) else e
        seg_e = np.minimum(ce, limit_e)
        los.append(seg_lo)
        his.append(seg_hi)
        ends.append(np.where(np.isinf(seg_e), np.nan, seg_e))
    return np.concatenate(los), np.concatenate(his), np.concatenate(ends)
