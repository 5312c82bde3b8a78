"""Which bed a message's readings belong to: configured by device id or PV1-3 location.

PID is never used: on real monitors it is empty, fake or typed by hand
(``research/hl7.md``, "Identity"). The clinic binds devices or locations to
chairs in the configuration instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol


class BindingLike(Protocol):
    @property
    def bed(self) -> str: ...
    @property
    def device(self) -> str | None: ...
    @property
    def location(self) -> str | None: ...


def location_keys(pv1_3: str, component: str = "^", subcomponent: str = "&") -> tuple[str, ...]:
    """Ways an operator may write a PV1-3 in the configuration.

    The field as sent (trailing empty components dropped), and its non-empty
    parts joined with ``^``: ``^^&10`` (Comen) can be bound as ``10``.
    """
    raw = pv1_3.rstrip(component).strip()
    if not raw:
        return ()
    leaves = [p for c in raw.split(component) for p in c.split(subcomponent) if p]
    compact = "^".join(leaves)
    return (raw.upper(),) if compact.upper() == raw.upper() else (raw.upper(), compact.upper())


class Binder:
    def __init__(self, bindings: Iterable[BindingLike] = ()) -> None:
        self._by_device: dict[str, str] = {}
        self._by_location: dict[str, str] = {}
        for b in bindings:
            if b.device:
                self._by_device[b.device.strip().upper()] = b.bed
            if b.location:
                self._by_location[b.location.strip().upper()] = b.bed

    def __bool__(self) -> bool:
        return bool(self._by_device or self._by_location)

    def resolve(
        self, device_ids: Sequence[str], locations: Sequence[str], sender_ids: Sequence[str] = ()
    ) -> str | None:
        """The bed for a reading: its own device first, then the location, then the sending system.

        A gateway (MSH-3) may forward many monitors, so its binding comes last.
        """
        for key in device_ids:
            bed = self._by_device.get(key.upper())
            if bed is not None:
                return bed
        for key in locations:
            bed = self._by_location.get(key)
            if bed is not None:
                return bed
        for key in sender_ids:
            bed = self._by_device.get(key.upper())
            if bed is not None:
                return bed
        return None
