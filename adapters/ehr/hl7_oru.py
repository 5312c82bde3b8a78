"""HL7 v2.5.1 ORU^R01 for one validated chart row (an outbox entry's payload).

One message per row version: PID (the patient reference as MRN), PV1 (the chair), one OBR for the
session (filler order number ``<session>^<application>``, OBR-7 the row's time, OBR-25 ``F`` or
``C``), one OBX per charted value: OBX-3 the MDC code, OBX-6 the UCUM unit (MDC unit as the
alternate), OBX-11 ``F`` (final) or ``C`` (correction of a row filed before), OBX-14 the value's own
measurement time, OBX-16 the nurse who validated it. ``MSH-10`` is derived from the outbox entry
(``<prefix><entry id>``): a resend carries the same control id, so an interface engine keeps one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.ehr.codes import LOINC_VITALS_PANEL, MDC, UNITS
from adapters.hl7.message import escape

#: OBX order in a message (flowsheet order).
ORDER = ("hr", "spo2", "sbp", "dbp", "map")


@dataclass(frozen=True, slots=True)
class Hl7Identity:
    """Who sends, to whom, and how identifiers are qualified (``[ehr.hl7]`` settings)."""

    sending_application: str = "IVMON"
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    #: PID-3.4: the authority of the patient reference (the clinic's MRN namespace).
    assigning_authority: str = "IVMON"
    control_id_prefix: str = "IVM"


def hl7_ts(ts: float) -> str:
    """POSIX seconds -> ``YYYYMMDDHHMMSS+0000`` (HL7 DTM, second precision, explicit UTC offset)."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(round(ts))) + "+0000"


def control_id(identity: Hl7Identity, entry_id: int) -> str:
    return f"{identity.control_id_prefix}{entry_id}"


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def encode_oru(payload: Mapping[str, Any], entry_id: int, identity: Hl7Identity, *, now: float | None = None) -> bytes:
    """The ORU^R01 message of one outbox entry, segments separated by CR."""
    e = escape
    status = "C" if payload.get("correction") else "F"
    sent = hl7_ts(payload["decided_at"] if now is None else now)
    msh = "|".join(
        [
            "MSH",
            "^~\\&",
            e(identity.sending_application),
            e(identity.sending_facility),
            e(identity.receiving_application),
            e(identity.receiving_facility),
            sent,
            "",
            "ORU^R01^ORU_R01",
            control_id(identity, entry_id),
            "P",
            "2.5.1",
        ]
    )
    pid = f"PID|1||{e(str(payload['patient_ref']))}^^^{e(identity.assigning_authority)}^MR"
    pv1 = f"PV1|1|O|{e(str(payload['bed']))}"
    code, text = LOINC_VITALS_PANEL
    obr_fields = [""] * 26
    obr_fields[0] = "OBR"
    obr_fields[1] = "1"
    obr_fields[3] = f"{payload['session']}^{e(identity.sending_application)}"
    obr_fields[4] = f"{code}^{text}^LN"
    obr_fields[7] = hl7_ts(payload["ts"])
    obr_fields[22] = hl7_ts(payload["decided_at"])
    obr_fields[25] = status
    segments = [msh, pid, pv1, "|".join(obr_fields)]
    nurse = e(str(payload["user"]))
    values: Mapping[str, Mapping[str, Any]] = payload["values"]
    n = 0
    for vital in ORDER:
        value = values.get(vital)
        if value is None:
            continue
        n += 1
        mdc_code, mdc_ref = MDC[str(value["vital"])]
        ucum, unit_code, unit_ref = UNITS[vital]
        obx = [
            "OBX",
            str(n),
            "NM",
            f"{mdc_code}^{mdc_ref}^MDC",
            str(n),
            _number(float(value["value"])),
            f"{ucum}^{ucum}^UCUM^{unit_code}^{unit_ref}^MDC",
            "",
            "",
            "",
            "",
            status,
            "",
            "",
            hl7_ts(float(value["ts"])),
            "",
            f"{nurse}^^^^^^^^{e(identity.sending_application)}",
        ]
        segments.append("|".join(obx))
    return ("\r".join(segments) + "\r").encode("utf-8")
