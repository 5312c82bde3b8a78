"""Masimo Rad-8 ASCII 1: decoder, emulator and recordings (cabling: docs/serial.md).

Importing the package registers the decoder (``adapters.serial.protocol.load_protocols``).
"""

from adapters.serial.masimo.decoder import (
    ALARM_BITS,
    EXC_AMBIENT_LIGHT,
    EXC_BITS,
    EXC_DEFECTIVE,
    EXC_INTERFERENCE,
    EXC_LOW_PERFUSION,
    EXC_LOW_SIQ,
    EXC_NO_SENSOR,
    EXC_OFF_PATIENT,
    EXC_SEARCH,
    EXC_UNRECOGNIZED,
    NULLS,
    MasimoAscii1Decoder,
    exception_effect,
)

__all__ = [
    "ALARM_BITS",
    "EXC_AMBIENT_LIGHT",
    "EXC_BITS",
    "EXC_DEFECTIVE",
    "EXC_INTERFERENCE",
    "EXC_LOW_PERFUSION",
    "EXC_LOW_SIQ",
    "EXC_NO_SENSOR",
    "EXC_OFF_PATIENT",
    "EXC_SEARCH",
    "EXC_UNRECOGNIZED",
    "NULLS",
    "MasimoAscii1Decoder",
    "exception_effect",
]
