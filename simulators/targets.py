"""Where ``ivmon simulate`` sends its patients: a target per ``--to`` scheme.

A target receives, per simulated second, each patient's readings of that
second (the NaN/absent vitals left out) and writes them in its wire format:
CSV rows, PCD-01 messages over MLLP, or a serial protocol into a port.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Protocol

from monitor.model import Vital


class Target(Protocol):
    async def open(self) -> None: ...

    async def send(self, patient: int, ts: float, phase: str, vitals: dict[Vital, float]) -> None:
        """One patient's readings at one instant (``ts`` in POSIX seconds)."""
        ...

    async def close(self) -> None: ...


#: ``--to`` value (whole string) and the parsed command-line arguments -> a target.
TargetFactory = Callable[[str, argparse.Namespace], Target]

TARGETS: dict[str, TargetFactory] = {}


def register_target(scheme: str) -> Callable[[TargetFactory], TargetFactory]:
    def wrap(factory: TargetFactory) -> TargetFactory:
        TARGETS[scheme] = factory
        return factory

    return wrap
