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

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
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


_SCOPES: tuple[str, ...] = (Phase.BASELINE.value, Phase.INFUSION.value, Phase.RECOVERY.value, UNASSIGNED)
_SCOPE_CODE = {name: i for i, name in enumerate(_SCOPES)}
#: Session phases (and "unassigned") -> rule-phase code; closed sessions count as unassigned.
_CODE_OF: dict[str, int] = {
    **_SCOPE_CODE,
    Phase.DISCHARGED.value: _SCOPE_CODE[UNASSIGNED],
    Phase.ABORTED.value: _SCOPE_CODE[UNASSIGNED],
}


_SESSION_ENDS = frozenset({Phase.DISCHARGED.value, Phase.ABORTED.value})


@dataclass(slots=True)
class _Timeline:
    """Phase intervals [start, end) covering all time, with their rule-phase codes (index in ``_SCOPES``)."""

    start: FloatArray
    end: FloatArray
    code: npt.NDArray[np.int8]
    #: The interval begins with the session's end (discharge, abort): every run and episode ends there,
    #: an always-on rule's too (the alarms belong to the patient who left).
    breaks: npt.NDArray[np.bool_]


def _timeline(phases: PhaseList | None) -> _Timeline:
    """Before the first change the readings are unassigned; without phases everything is infusion."""
    if phases is None:
        return _Timeline(
            np.array([-math.inf]),
            np.array([math.inf]),
            np.array([_SCOPE_CODE[Phase.INFUSION.value]], dtype=np.int8),
            np.zeros(1, dtype=bool),
        )
    codes: list[int] = []
    times: list[float] = []
    ends: list[bool] = []
    code_of = _CODE_OF
    try:
        for item in phases:
            name = str(item.phase if isinstance(item, PhaseChange) else item[0])
            codes.append(code_of[name])
            times.append(item.ts if isinstance(item, PhaseChange) else item[1])
            ends.append(name in _SESSION_ENDS)
    except KeyError as exc:
        raise ValueError(f"unknown phase {exc.args[0]!r}") from None
    t = np.array(times, dtype=np.float64)
    if t.size > 1 and bool(np.any(t[1:] < t[:-1])):
        raise ValueError("phase changes must be in time order")
    codes.insert(0, _SCOPE_CODE[UNASSIGNED])
    ends.insert(0, False)
    return _Timeline(
        np.concatenate(([-math.inf], t)),
        np.concatenate((t, [math.inf])),
        np.array(codes, dtype=np.int8),
        np.array(ends, dtype=bool),
    )


def _scope_intervals(tl: _Timeline, phases: frozenset[str], after: float) -> tuple[FloatArray, FloatArray]:
    """Maximal time intervals [start, end) in which the rule applies.

    Adjacent in-scope phases merge (no break); any phase outside the rule's
    phases breaks, even one that lasted no time at all (clause 7). Intervals
    ending by ``after`` (a relative rule's baseline end) are left out.
    """
    lut = np.zeros(len(_SCOPES), dtype=bool)
    lut[[_SCOPE_CODE[p] for p in phases]] = True
    inside = lut[tl.code]
    keep = ~(inside & (tl.end <= after))
    start, end, inside = np.maximum(tl.start[keep], after), tl.end[keep], inside[keep]
    breaks = tl.breaks[keep]
    idx = np.flatnonzero(inside)
    if idx.size == 0:
        return _EMPTY_F, _EMPTY_F
    goes_on = np.zeros(inside.size, dtype=bool)
    goes_on[1:] = inside[:-1] & (end[:-1] == start[1:]) & ~breaks[1:]
    first = ~goes_on[idx]
    last = np.append(first[1:], True)
    return start[idx[first]], end[idx[last]]


def _baseline_end(tl: _Timeline) -> tuple[float, float] | None:
    """The baseline phase's [start, end), once the session has left it."""
    hits = np.flatnonzero((tl.code == _SCOPE_CODE[Phase.BASELINE.value]) & np.isfinite(tl.end))
    if hits.size == 0:
        return None
    return float(tl.start[hits[0]]), float(tl.end[hits[0]])


@dataclass(slots=True)
class _Series:
    """Valid readings of one vital in time order."""

    t: FloatArray
    v: FloatArray


def _segments(t: FloatArray, intervals: tuple[FloatArray, FloatArray]) -> tuple[IntArray, IntArray, FloatArray]:
    """Index ranges [lo, hi) of the readings inside each interval, and the interval ends (nan = open)."""
    starts, ends = intervals
    if starts.size == 0:
        return _EMPTY_I, _EMPTY_I, _EMPTY_F
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
        cpos = (
            np.flatnonzero(vn > limit if strict else vn >= limit)
            if upper
            else np.flatnonzero(vn < limit if strict else vn <= limit)
        )
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


@dataclass(slots=True)
class EpisodeTable:
    """Episodes as columns (what the engine computes); :meth:`to_list` makes :class:`Episode` objects."""

    keys: list[tuple[str, Vital, Priority]]  # (rule id, judged vital, priority) per group
    group: IntArray  # per episode: index into ``keys``
    start: FloatArray
    end: FloatArray  # nan: still active at the end of the trace
    worst: FloatArray

    def __len__(self) -> int:
        return int(self.start.size)

    def to_list(self) -> list[Episode]:
        out = []
        keys = self.keys
        for g, st, en, wo in zip(
            self.group.tolist(), self.start.tolist(), self.end.tolist(), self.worst.tolist(), strict=True
        ):
            rule_id, vital, priority = keys[g]
            out.append(Episode(rule_id, vital, priority, st, None if en != en else en, wo))
        return out


def _valid_mask(
    frame: Mapping[str, Any], order: IntArray | None, vital: str, zero_is_missing: bool
) -> tuple[FloatArray, npt.NDArray[np.bool_] | None]:
    """A vital column in row order and its mask of valid readings (None: every row holds one)."""
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
    return v, (None if keep.all() else keep)


def replay_table(
    frame: pd.DataFrame | Mapping[str, Any],
    rules: Iterable[Rule],
    phases: PhaseList | None = None,
    *,
    zero_is_missing: bool = False,
) -> EpisodeTable:
    """The engine proper: every episode of every rule, as columns, ordered by start, rule id, vital."""
    columns: Mapping[str, Any] = (
        {c: frame[c].to_numpy() for c in frame.columns} if isinstance(frame, pd.DataFrame) else frame
    )
    ts = _column(columns, "ts")
    order: IntArray | None = None
    if ts.size > 1 and bool(np.any(ts[1:] < ts[:-1])):
        order = np.argsort(ts, kind="stable").astype(np.intp)
        ts = ts[order]
    series: dict[str, _Series] = {}
    masks: dict[str, npt.NDArray[np.bool_] | None] = {}

    def get(vital: str) -> _Series | None:
        if vital not in columns:
            return None
        if vital not in series:
            v, keep = _valid_mask(columns, order, vital, zero_is_missing)
            masks[vital] = keep
            series[vital] = _Series(ts, v) if keep is None else _Series(ts[keep], v[keep])
        return series[vital]

    def pr_alone() -> tuple[_Series, FloatArray]:
        pr = get(Vital.PR.value)
        get(Vital.HR.value)
        return _pr_without_hr(
            ts,
            pr,
            masks.get(Vital.PR.value),
            masks.get(Vital.HR.value, _NO_ROWS) if Vital.HR.value in columns else _NO_ROWS,
        )

    return _judge(list(rules), _timeline(phases), get, pr_alone)


def replay_series(
    series: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]],
    rules: Iterable[Rule],
    phases: PhaseList | None = None,
) -> EpisodeTable:
    """:func:`replay_table` over valid readings given per vital: ``{vital: (times, values)}``, each in time order.

    What stored sessions come as (``alerts.cases``): no frame is built, no reading is filtered. Readings
    of different vitals sharing a timestamp are one monitor message, as rows of one timestamp in a frame.
    """
    cache: dict[str, _Series] = {}

    def get(vital: str) -> _Series | None:
        if vital not in series:
            return None
        if vital not in cache:
            t, v = series[vital]
            cache[vital] = _Series(np.asarray(t, dtype=np.float64), np.asarray(v, dtype=np.float64))
        return cache[vital]

    def pr_alone() -> tuple[_Series, FloatArray]:
        return _pr_without_hr_series(get(Vital.PR.value), get(Vital.HR.value))

    return _judge(list(rules), _timeline(phases), get, pr_alone)


def _judge(
    rules: list[Rule],
    timeline: _Timeline,
    get: Callable[[str], _Series | None],
    pr_alone_of: Callable[[], tuple[_Series, FloatArray]],
) -> EpisodeTable:
    """Every rule over the series ``get`` gives (valid readings per vital, in time order)."""
    base_iv = _baseline_end(timeline)
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

    scopes: dict[tuple[frozenset[str], float], tuple[FloatArray, FloatArray]] = {}

    def scope(wanted: frozenset[str], after: float) -> tuple[FloatArray, FloatArray]:
        if (wanted, after) not in scopes:  # rules share phase sets: one computation each
            scopes[(wanted, after)] = _scope_intervals(timeline, wanted, after)
        return scopes[(wanted, after)]

    parts: list[tuple[int, FloatArray, FloatArray, FloatArray]] = []
    keys: list[tuple[str, Vital, Priority]] = []
    pr_alone: tuple[_Series, FloatArray] | None = None
    for rule in rules:
        if rule.relative:
            limit = rule.limit_for(baseline(rule.vital))
            if limit is None or base_iv is None:
                continue  # no baseline: the rule is inactive
            intervals = scope(rule.phases - {Phase.BASELINE.value}, base_iv[1])
        else:
            limit = rule.limit
            assert limit is not None
            intervals = scope(rule.phases, -math.inf)
        s = get(rule.vital.value)
        if s is not None:
            lo, hi, seg_end = _segments(s.t, intervals)
            st, en, wo = rule_episodes(s.t, s.v, lo, hi, seg_end, rule, limit)
            if st.size:
                parts.append((len(keys), st, en, wo))
            keys.append((rule.id, rule.vital, rule.priority))
        if rule.vital == Vital.HR:
            if pr_alone is None:
                pr_alone = pr_alone_of()
            pr_s = pr_alone[0]
            if pr_s.t.size:
                lo, hi, seg_end = _pr_segments(pr_alone, intervals)
                st, en, wo = rule_episodes(pr_s.t, pr_s.v, lo, hi, seg_end, rule, limit)
                if st.size:
                    parts.append((len(keys), st, en, wo))
            keys.append((rule.id, Vital.PR, rule.priority))
    if not parts:
        return EpisodeTable(keys, _EMPTY_I, _EMPTY_F, _EMPTY_F, _EMPTY_F)
    group = np.concatenate([np.full(p[1].size, p[0], dtype=np.intp) for p in parts])
    start = np.concatenate([p[1] for p in parts])
    end = np.concatenate([p[2] for p in parts])
    worst = np.concatenate([p[3] for p in parts])
    rank = np.empty(len(keys), dtype=np.intp)
    rank[sorted(range(len(keys)), key=lambda i: (keys[i][0], keys[i][1].value))] = np.arange(len(keys))
    idx = np.lexsort((rank[group], start))
    return EpisodeTable(keys, group[idx], start[idx], end[idx], worst[idx])


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
    return replay_table(frame, rules, phases, zero_is_missing=zero_is_missing).to_list()


_NO_ROWS = np.zeros(0, dtype=bool)


def _pr_without_hr(
    ts: FloatArray, pr: _Series | None, pr_mask: npt.NDArray[np.bool_] | None, hr_mask: npt.NDArray[np.bool_] | None
) -> tuple[_Series, FloatArray]:
    """The ``pr`` readings taken while no ``hr`` source was connected, and where their runs are cut.

    ``hr`` is connected at time t when a valid ``hr`` reading lies in
    [t - 30 s, t]. Rows are in time order, so the last ``hr`` time at or before
    each row is a running maximum (taken at the end of each group of equal
    timestamps). The second array gives, per kept reading, the time of the next
    ``pr`` reading if that one found ``hr`` connected (a break), else inf.
    """
    if pr is None or pr.t.size == 0:
        return _Series(_EMPTY_F, _EMPTY_F), _EMPTY_F
    if hr_mask is not None and hr_mask.size == 0:  # no hr column at all
        connected = np.zeros(pr.t.size, dtype=bool)
    else:
        hr_t = ts if hr_mask is None else np.where(hr_mask, ts, -np.inf)
        last = np.maximum.accumulate(hr_t)
        same = ts[1:] == ts[:-1]
        if same.any():  # rows sharing a timestamp all see the group's hr
            group_end = np.flatnonzero(np.append(~same, True))
            last = np.repeat(last[group_end], np.diff(np.concatenate(([-1], group_end))))
        if pr_mask is not None:
            last = last[pr_mask]
        connected = pr.t - last <= HR_CONNECTED_S
    return _pr_alone(pr, connected)


def _pr_without_hr_series(pr: _Series | None, hr: _Series | None) -> tuple[_Series, FloatArray]:
    """:func:`_pr_without_hr` from the series: `hr` is connected when its last time at or before is <= 30 s old."""
    if pr is None or pr.t.size == 0:
        return _Series(_EMPTY_F, _EMPTY_F), _EMPTY_F
    if hr is None or hr.t.size == 0:
        connected = np.zeros(pr.t.size, dtype=bool)
    else:
        i = np.searchsorted(hr.t, pr.t, side="right") - 1
        last = np.where(i >= 0, hr.t[np.maximum(i, 0)], -np.inf)
        connected = pr.t - last <= HR_CONNECTED_S
    return _pr_alone(pr, connected)


def _pr_alone(pr: _Series, connected: npt.NDArray[np.bool_]) -> tuple[_Series, FloatArray]:
    """The ``pr`` readings not ``connected``, and per reading the time a connected next ``pr`` cuts its run."""
    keep = np.flatnonzero(~connected).astype(np.intp)
    nxt = keep + 1
    has_next = nxt < pr.t.size
    cut = np.full(keep.size, np.inf)
    cut[has_next] = np.where(connected[nxt[has_next]], pr.t[nxt[has_next]], np.inf)
    return _Series(pr.t[keep], pr.v[keep]), cut


def _pr_segments(
    pr_alone: tuple[_Series, FloatArray], intervals: tuple[FloatArray, FloatArray]
) -> tuple[IntArray, IntArray, FloatArray]:
    """Scope segments of the stand-in ``pr`` series: phase intervals, split where ``hr`` came back."""
    s, cut = pr_alone
    starts, ends = intervals
    m = s.t.size
    if m == 0 or starts.size == 0:
        return _EMPTY_I, _EMPTY_I, _EMPTY_F
    k = np.searchsorted(starts, s.t, side="right") - 1  # the phase interval each reading may lie in
    inside = k >= 0
    inside[inside] &= s.t[inside] < ends[k[inside]]
    j = np.flatnonzero(inside)
    if j.size == 0:
        return _EMPTY_I, _EMPTY_I, _EMPTY_F
    kj = k[j]
    new = np.ones(j.size, dtype=bool)
    new[1:] = (j[1:] != j[:-1] + 1) | (kj[1:] != kj[:-1]) | np.isfinite(cut[j[:-1]])
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, j.size - 1)
    lo, hi = j[first].astype(np.intp), (j[last] + 1).astype(np.intp)
    seg_e = np.minimum(cut[j[last]], ends[kj[last]])
    return lo, hi, np.where(np.isinf(seg_e), np.nan, seg_e)
