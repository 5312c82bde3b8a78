"""The one clock every time-dependent part reads: real, scaled (the demo's ``--speed``) or fake (tests).

Clinical time (reading stamps, alarm delays, escalation, audio pauses, staleness, NIBP schedules,
session phases, discharge readiness, ages on screen) is read from a :class:`Clock` and waited for
with its :meth:`Clock.sleep`, never from ``time.time()`` or ``asyncio.sleep``: a scaled clock runs
``rate`` times faster than the wall and its sleeps are ``rate`` times shorter, so a demo at speed 30
plays a 40-minute infusion as 40 clock minutes (80 real seconds) and every rule sees the delays it
would see at speed 1. What measures the machine itself (commit latency, socket idle timeouts, login
expiry, retry backoff) stays on real time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """POSIX seconds on this clock, and waiting for clock seconds to pass."""

    @property
    def rate(self) -> float:
        """Clock seconds per real second (1 for the real clock)."""
        ...

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` of this clock have passed."""
        ...


class RealClock:
    """The wall clock."""

    rate = 1.0

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


#: The clock of a service built without one (production).
REAL_CLOCK = RealClock()


class ScaledClock:
    """Runs ``rate`` times faster than the wall clock from ``origin`` (default: now).

    Monotonic underneath: adjusting the wall clock while it runs does not make it jump.
    """

    def __init__(self, rate: float, origin: float | None = None) -> None:
        if not rate > 0:
            raise ValueError("a clock's rate must be > 0")
        self._rate = float(rate)
        self._origin = time.time() if origin is None else origin
        self._mono0 = time.monotonic()

    @property
    def rate(self) -> float:
        return self._rate

    def now(self) -> float:
        return self._origin + (time.monotonic() - self._mono0) * self._rate

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self._rate)


class FakeClock:
    """A clock that moves only when told to (tests): ``advance`` wakes the sleepers whose time came.

    Shipped in the library as httpx ships its mock transport, so every time-driven part can be
    tested without waiting for wall time to pass.
    """

    def __init__(self, start: float = 1_700_000_000.0, rate: float = 1.0) -> None:
        self._now = start
        self._rate = rate
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def rate(self) -> float:
        return self._rate

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), wake))
        await wake

    @property
    def sleepers(self) -> int:
        """How many tasks are waiting on this clock."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def advance(self, seconds: float) -> None:
        """Move ``seconds`` on, waking each sleeper at its own instant (in order) and letting it run."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        end = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= end:
            when, _, wake = heapq.heappop(self._sleepers)
            self._now = max(self._now, when)
            if not wake.done():
                wake.set_result(None)
                await _let_run()
        self._now = end
        await _let_run()

    def set(self, now: float) -> None:
        """Jump to ``now`` without waking anyone (set up a test's starting instant)."""
        self._now = now


async def _let_run() -> None:
    # A woken task runs when the loop gets to it; a few passes let it reach its next await.
    for _ in range(5):
        await asyncio.sleep(0)
