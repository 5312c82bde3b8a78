"""Simulated beds in real time: a precomputed session handed out as the clock advances.

``LivePatient`` is what the demo and ``ivmon simulate --to mllp://...`` use:
the whole trace is rendered up front (cheap), then ``due(elapsed_s)`` returns
the rows whose time has come since the previous call, with the phase changes
among them. ``run_live`` paces several patients into a ``Target``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple

import numpy as np

from monitor.model import Phase, Vital
from simulators.physiology import FLAG_COLUMNS, PHASES, VITAL_COLUMNS, SessionTrace, simulate_session
from simulators.targets import Target

_VITALS: tuple[Vital, ...] = tuple(Vital(c) for c in VITAL_COLUMNS)
_NO_FLAGS: frozenset[str] = frozenset()


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


async def run_live(
    patients: Sequence[LivePatient],
    target: Target,
    *,
    speed: float = 1.0,
    stagger_s: float = 60.0,
    epoch0: float | None = None,
    now: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """Send every patient's readings to ``target`` in (simulated time / ``speed``); returns the sends.

    Patient ``i`` starts ``i * stagger_s`` simulated seconds after the first.
    Timestamps are the wall-clock instants of sending (``epoch0`` + elapsed
    real time), so a receiving server never sees readings from its future,
    even at ``speed`` > 1 (a faster session is then compressed in time).
    Seconds with no reading (the discharge instant) are not sent.
    """
    if speed <= 0:
        raise ValueError("speed must be > 0")
    epoch = time.time() if epoch0 is None else epoch0
    start = now()
    sent = 0
    scheduled = 0.0  # the simulated instant the last sleep was for: due even if the clock rounds short
    while True:
        sim = max((now() - start) * speed, scheduled)
        wake = math.inf
        for i, patient in enumerate(patients):
            offset = i * stagger_s
            if sim >= offset:
                for row in patient.due(sim - offset).rows:
                    if row.vitals:
                        await target.send(i, epoch + (offset + row.ts) / speed, row.phase.value, row.vitals)
                        sent += 1
            following = patient.next_ts
            if following is not None:
                wake = min(wake, offset + following)
        if math.isinf(wake):
            return sent
        scheduled = wake
        await sleep(max(0.0, wake / speed - (now() - start)))
