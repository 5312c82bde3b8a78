"""Line-oriented text output (Nonin, Nellcor N-560): decoder, emulator and recordings (cabling: docs/serial.md).

Importing the package registers the decoder (``adapters.serial.protocol.load_protocols``).
"""

from adapters.serial.textlines.decoder import (
    DEFAULT_NULLS,
    PRESETS,
    TextLinesConfig,
    TextLinesDecoder,
)

__all__ = [
    "DEFAULT_NULLS",
    "PRESETS",
    "TextLinesConfig",
    "TextLinesDecoder",
]
