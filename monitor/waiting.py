"""Waiting with a time limit that never loses a cancellation.

On Python 3.11, ``asyncio.wait_for`` returns the inner result when the inner
awaitable finishes in the same loop turn as the outer task is cancelled, and
the cancellation is lost (CPython gh-86296, fixed in 3.12 by rebuilding
``wait_for`` on ``asyncio.timeout``). A background loop of the form
``while True: wait_for(wake.wait(), poll)`` then survives ``task.cancel()``
and ``Service.stop()`` waits for it for ever; it was seen as a shutdown
hanging about one run in twenty while commands woke the loop. ``asyncio.timeout``
awaits in the caller's own task, so the cancellation always arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until ``event`` is set or ``timeout_s`` passes; True if it was set."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def within(awaitable: Awaitable[T], timeout_s: float) -> T:
    """``await awaitable``, raising ``TimeoutError`` after ``timeout_s`` (``wait_for`` without its 3.11 race)."""
    async with asyncio.timeout(timeout_s):
        return await awaitable
