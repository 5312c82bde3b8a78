"""The one retry policy, on a fake clock: capped exponential delays, bounded jitter, giving up in time."""

from __future__ import annotations

import asyncio
import random

import pytest

from monitor.retry import Backoff, GaveUp, retry


class FakeClock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, delay: float) -> None:
        self.slept.append(delay)
        self.t += delay


def test_delays_double_up_to_the_cap_without_jitter() -> None:
    b = Backoff(first_s=0.1, max_s=1.0, jitter=0.0)
    assert [round(b.next_delay(), 6) for _ in range(7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    b.reset()
    assert b.next_delay() == 0.1


def test_jitter_stays_within_its_band_and_never_past_the_cap() -> None:
    b = Backoff(first_s=0.5, max_s=4.0, jitter=0.5, rng=random.Random(7))
    for n in range(200):
        nominal = min(4.0, 0.5 * 2**n)
        d = b.next_delay()
        assert nominal * 0.5 <= d <= nominal <= 4.0
    spread = {
        round(Backoff(first_s=1.0, max_s=1.0, jitter=0.5, rng=random.Random(s)).next_delay(), 3) for s in range(20)
    }
    assert len(spread) > 10  # clients do not retry in step


def test_many_failures_do_not_overflow() -> None:
    b = Backoff(first_s=0.1, max_s=5.0, factor=10.0, jitter=0.0)
    assert [b.next_delay() for _ in range(2000)][-1] == 5.0


@pytest.mark.parametrize(
    ("first_s", "max_s", "factor", "jitter"),
    [(0.0, 1.0, 2.0, 0.0), (2.0, 1.0, 2.0, 0.0), (0.1, 1.0, 0.5, 0.0), (0.1, 1.0, 2.0, 1.0)],
)
def test_nonsense_settings_are_refused(first_s: float, max_s: float, factor: float, jitter: float) -> None:
    with pytest.raises(ValueError):
        Backoff(first_s=first_s, max_s=max_s, factor=factor, jitter=jitter)


def test_delays_restart_from_the_first() -> None:
    b = Backoff(first_s=0.2, max_s=1.0, jitter=0.0)
    b.next_delay()
    b.next_delay()
    it = b.delays()
    assert [next(it) for _ in range(3)] == [0.2, 0.4, 0.8]


async def test_retry_waits_the_backoff_between_failures_then_returns() -> None:
    clock = FakeClock()
    calls = 0
    seen: list[tuple[str, float]] = []

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 5:
            raise ConnectionError(f"down {calls}")
        return "ok"

    backoff = Backoff(first_s=0.1, max_s=0.5, jitter=0.0)
    result = await retry(
        flaky, backoff, sleep=clock.sleep, now=clock.now, on_failure=lambda e, d: seen.append((str(e), d))
    )
    assert result == "ok" and calls == 5
    assert [round(d, 6) for d in clock.slept] == [0.1, 0.2, 0.4, 0.5]
    assert [m for m, _ in seen] == ["down 1", "down 2", "down 3", "down 4"]
    assert backoff.failures == 0  # a success starts the next outage from the first delay


async def test_retry_gives_up_before_a_pause_would_pass_the_deadline() -> None:
    clock = FakeClock()

    async def down() -> None:
        raise OSError("refused")

    with pytest.raises(GaveUp) as info:
        await retry(
            down, Backoff(first_s=1.0, max_s=4.0, jitter=0.0), give_up_after_s=10.0, sleep=clock.sleep, now=clock.now
        )
    assert clock.slept == [1.0, 2.0, 4.0]  # 7 s slept; the next 4 s would end at 11 s > 10 s
    assert isinstance(info.value.__cause__, OSError)


async def test_only_the_listed_failures_are_retried_and_cancellation_never() -> None:
    clock = FakeClock()

    async def bug() -> None:
        raise KeyError("a bug, not an outage")

    with pytest.raises(KeyError):
        await retry(bug, Backoff(), retry_on=(OSError,), sleep=clock.sleep, now=clock.now)
    assert clock.slept == []

    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await retry(cancelled, Backoff(), sleep=clock.sleep, now=clock.now)
    assert clock.slept == []
