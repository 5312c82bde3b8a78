"""HL7 original-mode acknowledgements: one ACK per message, MSA-2 echoing MSH-10.

``AA`` once the readings are stored, ``AE`` with an ERR segment saying what
was wrong, ``AR`` for a message type or version this adapter does not take.
Devices are answered in original mode whatever MSH-15/16 ask for
(``research/hl7.md``, ACK): GE and Mindray both work with it.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

from adapters.hl7.message import escape

_counter = itertools.count(1)

#: HL7 table 0357 codes used here.
UNSUPPORTED_TYPE = 200
UNSUPPORTED_VERSION = 203
REQUIRED_FIELD_MISSING = 101
DATA_TYPE_ERROR = 102
SEGMENT_SEQUENCE_ERROR = 100
INTERNAL_ERROR = 207
_CODE_TEXT = {
    0: "Message accepted",
    100: "Segment sequence error",
    101: "Required field missing",
    102: "Data type error",
    103: "Table value not found",
    200: "Unsupported message type",
    201: "Unsupported event code",
    202: "Unsupported processing id",
    203: "Unsupported version id",
    207: "Application internal error",
}


@dataclass(slots=True, frozen=True)
class AckError:
    code: int  # table 0357
    text: str  # what was wrong, without patient data
    severity: str = "E"  # E error, W warning (an accepted message with refused rows)
    location: str = ""  # ERR-2 (v2.5+) / ERR-1 (v2.3, 2.4): segment^sequence^field, e.g. MSH^1^11


def _clean(raw: str) -> str:
    return raw.replace("|", " ").replace("\r", " ").replace("\n", " ")


_last_stamp: tuple[int, str] = (-1, "")


def _stamp(now: float) -> str:
    """MSH-7 of an ACK; formatted once per second (every ACK of that second shares it)."""
    global _last_stamp
    second = int(now)
    if _last_stamp[0] != second:
        _last_stamp = (second, time.strftime("%Y%m%d%H%M%S", time.gmtime(second)) + "+0000")
    return _last_stamp[1]


def build_ack(
    code: str,
    control_id: str,
    *,
    version: str = "2.6",
    trigger: str = "",
    receiving_app: str = "",
    receiving_facility: str = "",
    errors: list[AckError] | tuple[AckError, ...] = (),
    now: float | None = None,
    app: str = "IVMON",
    processing_id: str = "P",
) -> bytes:
    """The ACK message (without MLLP framing), UTF-8.

    ``receiving_app``/``facility`` are the original MSH-3/4 as sent (HL7
    text: copied verbatim); every free text is escaped. ``processing_id`` is
    the message's own MSH-11 (an ACK to training data is training data too).
    """
    # machine time: an ACK's MSH-7 is when the machine answered.
    now = time.time() if now is None else now
    ver = version if version[:2] == "2." and len(version) <= 8 else "2.6"
    msg_type = f"ACK^{trigger}^ACK" if trigger else "ACK"
    ack_id = f"IVM{int(now * 1000) % 10**12}{next(_counter) % 10**5:05d}"
    # Echoed fields are cut to HL7's lengths: a sender's megabyte MSH-3 must not come back in every ACK.
    receiving_app, receiving_facility = _clean(receiving_app[:227]), _clean(receiving_facility[:227])
    control_id = control_id[:199]
    pid = processing_id if processing_id in ("P", "T", "D") else "P"
    segments = [
        f"MSH|^~\\&|{app}|{app}|{receiving_app}|{receiving_facility}|{_stamp(now)}||{msg_type}|{ack_id}|{pid}|{ver}",
    ]
    first = errors[0].text if errors else ""
    # MSA-2 echoes MSH-10 as sent (it is already HL7 text) so senders can match it byte for byte.
    echo = control_id if not any(c in control_id for c in "|\r\n") else escape(control_id)
    msa = f"MSA|{code}|{echo}"
    if first and code != "AA":
        # MSA-3 (text) is deprecated but still what many senders log.
        msa += f"|{escape(first[:80])}"
    segments.append(msa)
    old_style = ver.startswith(("2.3", "2.4"))
    for err in errors:
        text = escape(err.text)
        label = _CODE_TEXT.get(err.code, "Error")
        if old_style:
            # v2.3/2.4: ERR-1 only (segment^seq^field^code&text&HL70357)
            segments.append(f"ERR|{err.location or '^^'}^{err.code}&{escape(label)}&HL70357&&&{text}")
        else:
            # v2.5+: ERR-3 code, ERR-4 severity, ERR-8 user message
            segments.append(f"ERR||{err.location}|{err.code}^{escape(label)}^HL70357|{err.severity}||||{text}")
    return ("\r".join(segments) + "\r").encode("utf-8")
