"""Ivy 450C ANSAR-B: decoder, emulator and recordings (cabling: docs/serial.md).

Importing the package registers the decoder (``adapters.serial.protocol.load_protocols``).
"""

from adapters.serial.ivy.decoder import (
    END,
    HEADER,
    HIGH_WORDS,
    MAGIC,
    MAX_TEXT,
    START,
    WAVEFORM_BYTES,
    IvyAnsarBDecoder,
    IvyFramer,
    IvyMessage,
    parse_text,
)

__all__ = [
    "END",
    "HEADER",
    "HIGH_WORDS",
    "MAGIC",
    "MAX_TEXT",
    "START",
    "WAVEFORM_BYTES",
    "IvyAnsarBDecoder",
    "IvyFramer",
    "IvyMessage",
    "parse_text",
]
