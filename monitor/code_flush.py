"""Moves the HL7 listener's in-memory code counts into storage every few seconds.

The listener counts every observation code it sees (``adapters/hl7/observed.py``);
this job takes those counts and adds them to ``hl7_codes`` in one transaction,
off the event loop. Counts that cannot be stored (database down) are given
back and go with the next flush: the integrator's view lags, it loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import Engine

from monitor.store.hl7_codes import CodeCount, add_counts

log = logging.getLogger(__name__)

FLUSH_S = 5.0


class CodeSource(Protocol):
    def take(self) -> list[Any]: ...

    def give_back(self, taken: list[Any]) -> None: ...


def flush_once(engine: Engine, source: CodeSource, now: float) -> int:
    """Store what ``source`` counted since the last flush; returns the number of codes written."""
    taken = source.take()
    if not taken:
        return 0
    counts = [
        CodeCount(
            s.sender,
            s.obx3,
            s.obx6,
            s.code,
            s.label,
            s.code_system,
            s.unit,
            s.count,
            s.example_value,
            s.outcome,
            s.flagged,
        )
        for s in taken
    ]
    try:
        add_counts(engine, counts, now)
    except Exception:
        source.give_back(taken)
        raise
    return len(counts)


async def flush_loop(
    engine: Engine, source: CodeSource, interval: float = FLUSH_S, now: Callable[[], float] = time.time
) -> None:
    """Run until cancelled.

    No last flush at a stop: with the database unreachable it could hold the
    stop for a connection timeout, and a stop must end within seconds. At most
    the counts of the last ``interval`` seconds are not kept; they are
    diagnostics, not readings.
    """
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(flush_once, engine, source, now())  # seen times on the service's clock
        except Exception as exc:
            log.warning("HL7 code counts not stored yet (%s); kept for the next try", exc.__class__.__name__)
