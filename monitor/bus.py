"""The event bus seam: everything published to screens gets a ``seq`` here.

:class:`InMemoryBus` serves one process (SQLite deployments, the demo): a
ring of recent events lets a reconnecting screen catch up with ``?since=SEQ``;
anything older gets a fresh snapshot instead.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

Event = dict[str, Any]
Subscriber = Callable[[Event], None]


class EventBus(Protocol):
    """Numbers events and hands them to subscribers; what the service, the hub and /metrics ask of it."""

    @property
    def last_seq(self) -> int: ...

    @property
    def epoch(self) -> str | None:
        """The seq space's name when several processes share it (an event log); None: this process's own."""
        ...

    #: Called with each delivered event's lag (logged -> delivered) on a bus that reads a log.
    lag_observer: Callable[[float], None] | None

    def health(self) -> dict[str, Any]:
        """``kind`` and, for a bus reading a log, ``listening``, ``log_readable``, ``delivered``, ``gaps``."""
        ...

    def publish(self, event: Event) -> int: ...

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` with every event from now on; returns the unsubscribe function."""
        ...

    def since(self, seq: int) -> list[Event] | None:
        """Events after ``seq``, or None when they are no longer kept (the caller sends a snapshot)."""
        ...


class Subscribers:
    """The screens listening to a bus: every bus form hands events out the same way."""

    def __init__(self) -> None:
        self._list: list[Subscriber] = []

    def add(self, subscriber: Subscriber) -> Callable[[], None]:
        self._list.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._list:
                self._list.remove(subscriber)

        return unsubscribe

    def notify(self, event: Event) -> None:
        for sub in self._list:
            try:
                sub(event)
            except Exception:  # one broken screen must not stop the others
                log.exception("event subscriber failed")


class InMemoryBus:
    def __init__(self, *, start_seq: int = 0, keep: int = 200_000) -> None:
        self._seq = start_seq
        self._ring: deque[Event] = deque(maxlen=keep)
        self._subscribers = Subscribers()
        self.epoch: str | None = None
        self.lag_observer: Callable[[float], None] | None = None  # delivery is immediate: never called

    def health(self) -> dict[str, Any]:
        return {"kind": "memory"}

    @property
    def last_seq(self) -> int:
        return self._seq

    def publish(self, event: Event) -> int:
        self._seq += 1
        event["seq"] = self._seq
        self._ring.append(event)
        self._subscribers.notify(event)
        return self._seq

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        return self._subscribers.add(subscriber)

    def since(self, seq: int) -> list[Event] | None:
        if seq >= self._seq:
            return [] if seq == self._seq else None  # a seq from the future: another process generation
        if not self._ring or self._ring[0]["seq"] > seq + 1:
            return None
        # The ring is ordered by seq with no gaps: index arithmetic, no scan.
        start = seq + 1 - self._ring[0]["seq"]
        return [self._ring[i] for i in range(start, len(self._ring))]
