"""Simulated beds in real time: a precomputed session handed out as the clock advances.

``LivePatient`` is what the demo and ``ivmon simulate --to mllp://...`` use:
the whole trace is rendered up front (cheap), then ``due(elapsed_s)`` returns
the rows whose time has come since the previous call, with the phase changes
among them. ``run_live`` paces several patients into a ``Target``, each
patient an independent monitor (its own task, its rows in order).
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple, TypeAlias, TypeVar

import numpy as np

from monitor.clock import ScaledClock
from monitor.model import Phase, Vital
from simulators.physiology import FLAG_COLUMNS, PHASES, VITAL_COLUMNS, SessionTrace, simulate_session
from simulators.targets import Target

_VITALS: tuple[Vital, ...] = tuple(Vital(c) for c in VITAL_COLUMNS)
_NO_FLAGS: frozenset[str] = frozenset()
_T = TypeVar("_T")


class LiveRow(NamedTuple):
    ts: int  # seconds from the session start
    phase: Phase
    vitals: dict[Vital, float]  # only the vitals read at that second (may be empty)
    flags: frozenset[str]  # ground truth of device events at that second, e.g. {"sensor_off"}


class Due(NamedTuple):
    rows: list[LiveRow]
    phase_changes: list[tuple[int, Phase]]  # (seconds from the session start, phase entered)


class LivePatient:
    """One simulated patient's session, released second by second."""

    def __init__(self, scenario: str, seed: int, patient: int = 0) -> None:
        self.trace: SessionTrace = simulate_session(scenario, seed, patient)
        frame = self.trace.frame
        self._ts: np.ndarray = frame["ts"].to_numpy()
        self._phase: np.ndarray = frame["phase"].cat.codes.to_numpy()
        self._values: np.ndarray = frame[list(VITAL_COLUMNS)].to_numpy(dtype=np.float64)
        self._flags: np.ndarray = frame[list(FLAG_COLUMNS)].to_numpy(dtype=bool)
        self._changes = self.trace.phase_changes
        self._row = 0
        self._change = 0

    @property
    def duration_s(self) -> int:
        return self.trace.duration_s

    @property
    def done(self) -> bool:
        return self._row >= self._ts.size

    @property
    def next_ts(self) -> int | None:
        """Offset of the next row not yet handed out (None when done)."""
        return None if self.done else int(self._ts[self._row])

    def due(self, elapsed_s: float) -> Due:
        """Rows and phase changes with ``ts <= elapsed_s`` not returned by an earlier call."""
        end = int(np.searchsorted(self._ts, elapsed_s, side="right"))
        rows: list[LiveRow] = []
        for i in range(self._row, end):
            values = self._values[i]
            vitals = {v: float(values[k]) for k, v in enumerate(_VITALS) if not math.isnan(values[k])}
            flagged = self._flags[i]
            flags = frozenset(n for k, n in enumerate(FLAG_COLUMNS) if flagged[k]) if flagged.any() else _NO_FLAGS
            rows.append(LiveRow(int(self._ts[i]), PHASES[self._phase[i]], vitals, flags))
        self._row = max(self._row, end)
        changes: list[tuple[int, Phase]] = []
        while self._change < len(self._changes) and self._changes[self._change][0] <= elapsed_s:
            changes.append(self._changes[self._change])
            self._change += 1
        return Due(rows, changes)


class _Send(NamedTuple):
    ts: float  # POSIX seconds: the instant the row was due
    phase: str
    vitals: dict[Vital, float]


#: A patient's rows waiting for their turn; ``None`` ends the patient's run.
_Lane: TypeAlias = asyncio.Queue[_Send | None]


async def run_live(
    patients: Sequence[LivePatient],
    target: Target,
    *,
    speed: float = 1.0,
    stagger_s: float = 60.0,
    duration_s: float | None = None,
    epoch0: float | None = None,
    now: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """Send every patient's readings to ``target`` in (simulated time / ``speed``); returns the sends.

    Patient ``i`` starts ``i * stagger_s`` simulated seconds after the first.
    Timestamps are read on a scaled clock (``monitor.clock.ScaledClock``): ``speed`` times the wall
    clock from ``epoch0`` (default: now), the instant each row is due on it. So a 40-minute infusion
    is stamped over 40 minutes at any speed (trends, baselines and alarm delays are truthful), as the
    demo's ``sim://`` patients are; a receiving server runs a clock of the same rate and origin
    (``ivmon demo --speed``), or sees stamps from its future (clamped and flagged). A row sent late
    from a backlog keeps the instant it was due, as a monitor's buffered value keeps its measurement
    time. Seconds with no reading (the discharge instant) are not sent.

    Each patient is an independent monitor: one pacer hands each due row to
    its patient's lane, and one task per patient awaits the target's
    ``send`` for its rows in order. A patient whose sends are slow (a late
    ACK) builds a backlog that it sends in order afterwards, without delaying
    the others or losing a row. ``duration_s`` (real seconds) stops the run
    early; the rows due by then are still sent.
    """
    if speed <= 0:
        raise ValueError("speed must be > 0")
    if duration_s is not None and duration_s < 0:
        raise ValueError("duration must be >= 0")
    horizon = math.inf if duration_s is None else duration_s * speed
    epoch = ScaledClock(speed).now() if epoch0 is None else epoch0  # the stamps' clock starts now
    lanes: list[_Lane] = [asyncio.Queue() for _ in patients]
    pacing = _pace(
        patients, lanes, speed=speed, stagger_s=stagger_s, horizon=horizon, epoch=epoch, now=now, sleep=sleep
    )
    tasks = [
        asyncio.create_task(pacing),
        *(asyncio.create_task(_deliver(i, lane, target)) for i, lane in enumerate(lanes)),
    ]
    _released, *sent = await _together(tasks)
    return sum(sent)


async def _pace(
    patients: Sequence[LivePatient],
    lanes: Sequence[_Lane],
    *,
    speed: float,
    stagger_s: float,
    horizon: float,
    epoch: float,
    now: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
) -> int:
    """Put each row in its patient's lane when due (simulated instants up to ``horizon``), then end the lanes.

    Returns the number of rows released.
    """
    start = now()
    released = 0
    # (simulated instant of the patient's next row, patient): only the patients due are visited, so a
    # thousand beds spread over each second cost a thousand small wake-ups, not a million look-ups.
    upcoming = [(i * stagger_s + p.next_ts, i) for i, p in enumerate(patients) if p.next_ts is not None]
    heapq.heapify(upcoming)
    while upcoming and upcoming[0][0] <= horizon:
        wake = upcoming[0][0]
        await sleep(max(0.0, wake / speed - (now() - start)))
        # The instant slept for is due even if the clock rounds short of it.
        sim = min(max((now() - start) * speed, wake), horizon)
        while upcoming and upcoming[0][0] <= sim:
            _, i = heapq.heappop(upcoming)
            count, following = _release(patients[i], i * stagger_s, sim, lanes[i], epoch)
            released += count
            if following is not None:
                heapq.heappush(upcoming, (following, i))
    for lane in lanes:
        lane.put_nowait(None)
    return released


def _release(patient: LivePatient, offset: float, sim: float, lane: _Lane, epoch: float) -> tuple[int, float | None]:
    """Queue the patient's rows due by simulated instant ``sim``: (rows queued, simulated instant of its next row)."""
    first = patient.next_ts
    assert first is not None, "a finished patient is never scheduled"
    count = 0
    # At least the row that made the patient due: float rounding of (offset + ts) - offset must not
    # leave it undelivered (the pacer would spin on it).
    for row in patient.due(max(sim - offset, first)).rows:
        if row.vitals:
            lane.put_nowait(_Send(epoch + offset + row.ts, row.phase.value, row.vitals))
            count += 1
    following = patient.next_ts
    return count, None if following is None else offset + following


async def _deliver(patient: int, lane: _Lane, target: Target) -> int:
    """One monitor: its rows to the target one after another (each send awaits its answer)."""
    sent = 0
    while (row := await lane.get()) is not None:
        await target.send(patient, row.ts, row.phase, row.vitals)
        sent += 1
    return sent


async def _together(tasks: Sequence[asyncio.Task[_T]]) -> list[_T]:
    """Every task's result; the first failure cancels the others and is raised as it is (not in a group)."""
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            error = task.exception()
            if error is not None:
                raise error
        return [task.result() for task in tasks]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
