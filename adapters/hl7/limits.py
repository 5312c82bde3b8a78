"""How long a field from the wire may be: checked where a message enters, refused with the reason.

Every identifier a sender chooses ends up in a database column, an alarm's rule
id, a screen or an ACK. A longer one than the column holds failed whole batches
on PostgreSQL (issue 13); a megabyte MSH-3 came back in every ACK. The limits
are HL7's own field lengths where it has them (v2.5+), the columns' elsewhere.
"""

from __future__ import annotations

from monitor.validate import MAX_BED_LEN, MAX_SOURCE_LEN

#: MSH-10 message control id (ST; HL7 v2.5+ allows 199).
MAX_CONTROL_ID = 199
#: MSH-3 / MSH-4 sending application and facility (HD: 20 + 199 + 6 plus separators).
MAX_SENDER = 227
#: MSH-7 / OBR-7 / OBX-14 (DTM with precision and offset; 24 in HL7, room for vendor quirks).
MAX_TIME = 40
#: PV1-3 assigned patient location (PL).
MAX_LOCATION = 250
#: A device id (OBX-18 EI or MSH-3): the width of the stored ``source``.
MAX_DEVICE_ID = MAX_SOURCE_LEN
MAX_BED = MAX_BED_LEN
#: A device alarm's event code (CWE-1 is 20 in HL7): it names the alarm's rule (``device:<code>``, 64).
MAX_ALARM_CODE = 40
#: A device alarm's text as shown on screens: longer texts are cut (the alarm itself is kept).
MAX_ALARM_TEXT = 200


def too_long(name: str, value: str, limit: int) -> str | None:
    """The refusal reason when ``value`` is longer than ``limit`` (None: it fits)."""
    if len(value) <= limit:
        return None
    return f"{name} longer than {limit} characters ({len(value)})"


def has_control(value: str) -> bool:
    """Control characters (NUL, CR, escape sequences) have no place in an identifier."""
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


def display_text(value: str) -> str:
    """Free text a device sends for a screen: control characters blanked, cut to MAX_ALARM_TEXT."""
    if has_control(value):
        value = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in value)
    return value if len(value) <= MAX_ALARM_TEXT else value[: MAX_ALARM_TEXT - 1] + "…"
