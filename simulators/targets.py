"""Where ``ivmon simulate`` sends its patients: a target per ``--to`` scheme.

A target receives, per simulated second, each patient's readings of that
second (the NaN/absent vitals left out) and writes them in its wire format:
CSV rows, PCD-01 messages over MLLP, or a serial protocol into a port.
Each patient's sends come one after another, in order; the sends of
different patients may overlap (each patient is an independent monitor).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from monitor.model import Vital


class Target(Protocol):
    async def open(self) -> None: ...

    async def send(self, patient: int, ts: float, phase: str, vitals: dict[Vital, float]) -> None:
        """One patient's readings at one instant (``ts`` in POSIX seconds)."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class Answered(Protocol):
    """A target whose receiver answers each message (MLLP): what was sent and accepted, for the final report."""

    @property
    def all_accepted(self) -> bool:
        """Every message sent was accepted (a refusal or a message never answered makes this false)."""
        ...

    def summary(self) -> dict[str, object]:
        """The counts, JSON-ready (``ivmon simulate --json``)."""
        ...

    def report(self) -> str:
        """The counts on one line."""
        ...


#: ``--to`` value (whole string) and the parsed command-line arguments -> a target.
TargetFactory = Callable[[str, argparse.Namespace], Target]

TARGETS: dict[str, TargetFactory] = {}


def register_target(scheme: str) -> Callable[[TargetFactory], TargetFactory]:
    def wrap(factory: TargetFactory) -> TargetFactory:
        TARGETS[scheme] = factory
        return factory

    return wrap
