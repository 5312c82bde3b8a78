"""What every serial device emulator is: one instant of a simulated patient in, the device's bytes out.

Each device folder (``adapters/serial/<device>/``) holds its decoder, its emulator and its recordings.
An emulator turns one instant of a simulated patient into the bytes the real device would send then,
and takes the bytes the host sends (only the Datex monitor listens: it streams only after a
transmission request). Used by ``ivmon simulate --to serial:...`` and by the end-to-end tests.
The encoders are written from the protocol descriptions independently of the decoders (only the
Datex byte stuffing is shared, and it is tested against hand-made vectors), so a round trip checks both.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from monitor.model import Vital

Vitals = Mapping[Vital, float]


class DeviceEmulator(Protocol):
    protocol: str

    def emit(self, vitals: Vitals, ts: float) -> bytes:
        """Bytes the device sends at ``ts`` (``b""`` when it has nothing to say then)."""
        ...

    def receive(self, data: bytes) -> None:
        """Bytes from the host."""
        ...


def whole(vitals: Vitals, *keys: Vital) -> int | None:
    """The first of ``keys`` present in ``vitals``, rounded (None when none is)."""
    for key in keys:
        value = vitals.get(key)
        if value is not None and not math.isnan(value):
            return round(value)
    return None


def utc(ts: float, fmt: str) -> str:
    return time.strftime(fmt, time.gmtime(ts))


#: protocol -> (device folder, emulator class name)
_EMULATORS: dict[str, tuple[str, str]] = {
    "masimo-ascii1": ("masimo", "MasimoEmulator"),
    "text-lines": ("textlines", "NoninEmulator"),
    "text-lines:nonin": ("textlines", "NoninEmulator"),
    "text-lines:nellcor-n560": ("textlines", "NellcorEmulator"),
    "ivy-ansarb": ("ivy", "IvyEmulator"),
    "datex-s5": ("datex", "DatexEmulator"),
}
EMULATED = tuple(sorted(_EMULATORS))


def make_emulator(protocol: str) -> DeviceEmulator:
    try:
        folder, name = _EMULATORS[protocol]
    except KeyError:
        raise ValueError(f"no device emulator for {protocol!r} (known: {', '.join(EMULATED)})") from None
    factory: Callable[[], DeviceEmulator] = getattr(importlib.import_module(f"adapters.serial.{folder}.emulator"), name)
    return factory()
