"""One retry policy for every transient failure: capped exponential backoff with jitter.

Used wherever a peer may be away for a while (a serial port, the database under the writer, the
PostgreSQL LISTEN connection, an MLLP server, an EHR). The jitter spreads the retries of many
clients after a shared outage (a server restart must not see every monitor come back in the same
instant); the cap keeps a recovered peer found within seconds.

Delay n (after the n-th failure in a row, from 0) = ``min(max_s, first_s * factor**n)``, scaled by a
uniform draw from ``[1 - jitter, 1]``: jitter never makes a delay longer than the cap.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class Backoff:
    """The delays between attempts; :meth:`reset` after a success."""

    first_s: float = 0.1
    max_s: float = 5.0
    factor: float = 2.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    failures: int = 0

    def __post_init__(self) -> None:
        if not (0 < self.first_s <= self.max_s and self.factor >= 1 and 0 <= self.jitter < 1):
            raise ValueError(f"invalid backoff {self.first_s=} {self.max_s=} {self.factor=} {self.jitter=}")

    def next_delay(self) -> float:
        """The pause before the next attempt (counts one more failure)."""
        exponent = min(self.failures, 64)  # the cap is reached long before; no float overflow
        delay = min(self.max_s, self.first_s * self.factor**exponent)
        self.failures += 1
        if self.jitter:
            delay *= self.rng.uniform(1.0 - self.jitter, 1.0)
        return delay

    def reset(self) -> None:
        self.failures = 0

    def delays(self) -> Iterator[float]:
        """Endless delays from the first (a fresh count: for a loop that starts over after a success)."""
        self.reset()
        while True:
            yield self.next_delay()


class GaveUp(Exception):
    """:func:`retry` ran out of time; ``__cause__`` is the last failure."""


async def retry(
    attempt: Callable[[], Awaitable[T]],
    backoff: Backoff,
    *,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    give_up_after_s: float | None = None,
    on_failure: Callable[[BaseException, float], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    now: Callable[[], float] = time.monotonic,
) -> T:
    """Await ``attempt()`` until it succeeds; after each failure in ``retry_on`` sleep the next delay.

    ``on_failure(exc, delay)`` is told of each failure before the pause (to count and log it).
    With ``give_up_after_s``, :class:`GaveUp` is raised instead of a pause that would end past the
    deadline. Cancellation is never retried.
    """
    backoff.reset()
    deadline = None if give_up_after_s is None else now() + give_up_after_s
    while True:
        try:
            result = await attempt()
        except asyncio.CancelledError:
            raise
        except retry_on as exc:
            delay = backoff.next_delay()
            if deadline is not None and now() + delay > deadline:
                raise GaveUp(f"gave up after {give_up_after_s:g} s: {exc or type(exc).__name__}") from exc
            if on_failure is not None:
                on_failure(exc, delay)
            await sleep(delay)
            continue
        backoff.reset()
        return result
