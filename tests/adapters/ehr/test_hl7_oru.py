"""The ORU^R01 encoder read back by an independent parser (python-hl7), hostile text included."""

from __future__ import annotations

from typing import Any

import hl7

from adapters.ehr.hl7_oru import Hl7Identity, encode_oru

TS = 1_800_000_000.0


def payload(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "session": 12,
        "bed": "chair-3",
        "patient_ref": "MRN|1^2~3\\4&5",
        "row": 1_800_000_000_000,
        "ts": TS,
        "values": {
            "hr": {"value": 66.0, "ts": TS - 2, "vital": "pr"},
            "sbp": {"value": 121.0, "ts": TS - 30, "vital": "sbp"},
            "dbp": {"value": 79.5, "ts": TS - 30, "vital": "dbp"},
        },
        "user": "nurse|x",
        "decided_at": TS + 60,
        "correction": False,
    }
    return base | over


def test_the_message_reads_back_with_escaped_delimiters_and_every_field_in_place() -> None:
    raw = encode_oru(payload(), 77, Hl7Identity(assigning_authority="CLINIC"))
    msg = hl7.parse(raw.decode())
    assert str(msg.segment("MSH")[10]) == "IVM77"
    pid3 = msg.segment("PID")[3]
    assert len(msg.segment("PID")) == 4, "the patient reference's | did not open new fields"
    assert msg.unescape(str(pid3[0][0])) == "MRN|1^2~3\\4&5" and str(pid3[0][3]) == "CLINIC"
    obx = msg.segments("OBX")
    assert [str(s[3]) for s in obx] == [
        "149530^MDC_PULS_OXIM_PULS_RATE^MDC",  # the heart rate came from the oximeter's pulse rate
        "150021^MDC_PRESS_BLD_NONINV_SYS^MDC",
        "150022^MDC_PRESS_BLD_NONINV_DIA^MDC",
    ]
    assert [str(s[5]) for s in obx] == ["66", "121", "79.5"]
    assert str(obx[0][6]) == "/min^/min^UCUM^264864^MDC_DIM_BEAT_PER_MIN^MDC"
    assert [str(s[14]) for s in obx] == ["20270115075958+0000", "20270115075930+0000", "20270115075930+0000"]
    assert {str(s[11]) for s in obx} == {"F"} and str(msg.segment("OBR")[25]) == "F"
    assert all(len(s) == 17 for s in obx), "the nurse's | did not open new fields"


def test_a_correction_is_marked_c_and_keeps_its_own_control_id() -> None:
    msg = hl7.parse(encode_oru(payload(correction=True), 78, Hl7Identity()).decode())
    assert {str(s[11]) for s in msg.segments("OBX")} == {"C"}
    assert str(msg.segment("MSH")[10]) == "IVM78"
