"""The clocks: the fake one moves only when told, the scaled one runs (and sleeps) at its rate."""

from __future__ import annotations

import asyncio
import time

import pytest

from monitor.clock import REAL_CLOCK, Clock, FakeClock, ScaledClock


async def test_fake_clock_wakes_each_sleeper_at_its_own_instant() -> None:
    clock = FakeClock(start=1000.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [asyncio.create_task(sleeper("late", 30.0)), asyncio.create_task(sleeper("early", 10.0))]
    await asyncio.sleep(0)
    assert clock.sleepers == 2
    await clock.advance(9.0)
    assert woke == [] and clock.now() == 1009.0
    await clock.advance(60.0)
    assert woke == [("early", 1010.0), ("late", 1030.0)]
    assert clock.now() == 1069.0
    await asyncio.gather(*tasks)


async def test_fake_clock_runs_a_periodic_task_once_per_period() -> None:
    clock = FakeClock(start=0.0)
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            await clock.sleep(1.0)
            ticks.append(clock.now())

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await clock.advance(5.0)
    assert ticks == [1.0, 2.0, 3.0, 4.0, 5.0]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_fake_clock_does_not_go_back() -> None:
    with pytest.raises(ValueError, match="back"):
        await FakeClock().advance(-1.0)


async def test_scaled_clock_runs_and_sleeps_at_its_rate() -> None:
    clock = ScaledClock(600.0, origin=5_000.0)
    real0, clock0 = time.monotonic(), clock.now()
    assert 5_000.0 <= clock0 < 5_000.0 + 60.0
    await clock.sleep(30.0)  # 30 clock seconds: 0.05 real seconds
    real, elapsed = time.monotonic() - real0, clock.now() - clock0
    assert elapsed >= 30.0
    assert real < 1.0  # not 30 real seconds
    assert elapsed == pytest.approx(real * 600.0, rel=0.05)


def test_a_clock_needs_a_positive_rate() -> None:
    with pytest.raises(ValueError, match="rate"):
        ScaledClock(0.0)


def test_every_clock_is_a_clock() -> None:
    for clock in (REAL_CLOCK, ScaledClock(2.0), FakeClock()):
        assert isinstance(clock, Clock)
    assert REAL_CLOCK.rate == 1.0 and abs(REAL_CLOCK.now() - time.time()) < 1.0
