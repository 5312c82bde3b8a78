"""monitor.waiting: time-limited waits that never swallow a cancellation (the 3.11 wait_for race)."""

from __future__ import annotations

import asyncio

import pytest

from monitor.waiting import wait_event, within


async def test_wait_event_says_whether_the_event_came() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 0.01) is True


async def test_a_loop_woken_and_cancelled_in_the_same_turn_stops() -> None:
    # The shape of every background loop in the service: wake on an event or poll. The event fires
    # in the same loop turn as the cancellation (a command arriving while the service stops).
    for _ in range(200):
        wake = asyncio.Event()
        rounds = 0

        async def poll_loop(event: asyncio.Event = wake) -> None:
            nonlocal rounds
            while True:
                await wait_event(event, 5.0)
                event.clear()
                rounds += 1

        task = asyncio.create_task(poll_loop())
        await asyncio.sleep(0)  # the loop is now waiting
        wake.set()
        task.cancel()
        async with asyncio.timeout(2.0):
            with pytest.raises(asyncio.CancelledError):
                await task
        assert rounds == 0


async def test_within_raises_timeout_and_passes_results() -> None:
    assert await within(asyncio.sleep(0, result="done"), 1.0) == "done"
    with pytest.raises(TimeoutError):
        await within(asyncio.sleep(1.0), 0.01)
