"""Every message in tests/fixtures/hl7 read to exactly the vitals, values, units and times it carries.

The messages are the project's own, each written in the shape of one vendor's output with its quirks
(Comen NC monitor, Continua PHD gateway, GE B40/B20 manual examples, Mindray bedside and eGateway,
Philips Efficia CM, a multi-OBR PCD-01 sender): the real captures they follow carry no licence that
allows redistribution (tests/fixtures/SOURCES.md says which and why).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import hl7
import pytest

from adapters.hl7.codes import CodeMap
from adapters.hl7.message import decode, parse
from adapters.hl7.pcd01 import Interpreted, check_supported, interpret, interpret_fragment
from monitor.binding import Bindings
from monitor.config import Hl7Binding
from monitor.model import Quality, Vital
from tests.fixtures import FIXTURES

HL7 = FIXTURES / "hl7"
CODES = CodeMap.from_config()
NO_BINDINGS = Bindings()


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def read_message(path: Path, binder: Bindings = NO_BINDINGS) -> Interpreted:
    text, _ = decode(path.read_bytes())
    msg = parse(text)
    result = interpret(msg, CODES, binder)
    assert result.header is not None
    check_supported(result.header)
    return result


def values(result: Interpreted) -> list[tuple[Vital, float, str, float, str, Quality]]:
    return [(r.vital, r.value, r.unit, r.ts, r.source, r.quality) for r in result.readings]


def test_comen_nc_monitor_vitals() -> None:
    result = read_message(HL7 / "ivmon_comen_style_vitals_v26.hl7")
    ts = _utc("2025-03-01T00:30:15")  # 20250301083015+0800
    src = "NC_Monitor/KC900000042A"  # MSH-3 has no universal id: application/facility
    assert values(result) == [
        (Vital.SPO2, 96.0, "%", ts, src, Quality.VALID),
        (Vital.PR, 64.0, "bpm", ts, src, Quality.VALID),
        # the second SpO2 channel (1.3.2.150456) repeats 96 and is not stored twice
        (Vital.RR, 16.0, "/min", ts, src, Quality.VALID),
        (Vital.SBP, 118.0, "mmHg", ts, src, Quality.VALID),
        (Vital.DBP, 76.0, "mmHg", ts, src, Quality.VALID),
        (Vital.MAP, 90.0, "mmHg", ts, src, Quality.VALID),
    ]
    assert result.errors == []
    # SQI, SpO2 diff, temperature, body position, empty height/weight, duplicate SpO2 channel
    assert result.skipped == 7
    assert result.header is not None and result.header.control_id == "202503010830150007"
    assert result.location == "^^&10"


def test_comen_bed_bound_by_compact_location() -> None:
    binder = Bindings.from_config([Hl7Binding(bed="chair-10", location="10")])
    result = read_message(HL7 / "ivmon_comen_style_vitals_v26.hl7", binder)
    assert {r.bed for r in result.readings} == {"chair-10"}


def test_continua_gateway_blood_pressure() -> None:
    path = HL7 / "ivmon_continua_style_bp_v26.hl7"
    text, codec = decode(path.read_bytes())
    assert codec == "utf-8" and "Müller^Zoë" in text  # no MSH-18: UTF-8 by default
    result = read_message(path)
    ts = _utc("2024-06-11T09:15:00")
    # rows inherit the device of their MDS header row (OBX-4 "1", OBX-18 FEDCBA9876543210)
    dev = "FEDCBA9876543210"
    assert values(result) == [
        (Vital.SBP, 132.5, "mmHg", ts, dev, Quality.VALID),
        (Vital.DBP, 84.0, "mmHg", ts, dev, Quality.VALID),
        (Vital.PR, 68.5, "bpm", ts, dev, Quality.VALID),
    ]
    assert result.errors == [] and result.skipped == 2
    assert result.device == "0A1B2C3D4E5F"


def test_ge_b40_example1_header() -> None:
    result = read_message(HL7 / "ivmon_ge_style_header_fragment.hl7")
    assert result.readings == [] and result.errors == []
    assert result.skipped == 1  # the MDS header row
    assert result.header is not None
    assert (result.header.message_type, result.header.control_id, result.header.version) == (
        "ORU^R01",
        "004097112233",
        "2.6",
    )
    assert result.device == "00A0C9FFFE112233"
    assert result.location == "RECOVERY^^B4"


def test_ge_b40_pcd01_obx_fragment() -> None:
    raw = (HL7 / "ivmon_ge_style_pcd01_obx_fragment.hl7").read_bytes()
    result = interpret_fragment(raw.decode(), CODES, NO_BINDINGS, ts=1000.0)
    dev = "00A0C9FFFE0B4021"
    # ECG HR and the pulse rate of the arterial line; VPC rate and invasive pressures are not ivmon vitals
    assert values(result) == [
        (Vital.HR, 74.0, "bpm", 1000.0, dev, Quality.VALID),
        (Vital.PR, 74.0, "bpm", 1000.0, dev, Quality.VALID),
    ]
    assert result.errors == [] and result.skipped == 7


def test_ge_b40_example2_tail_fragment() -> None:
    raw = (HL7 / "ivmon_ge_style_tail_fragment.hl7").read_bytes()
    result = interpret_fragment(raw.decode(), CODES, NO_BINDINGS, ts=1000.0)
    dev = "00A0C9FFFE0B4021"
    assert values(result) == [
        (Vital.SPO2, 98.0, "%", 1000.0, dev, Quality.VALID),
        (Vital.RR, 14.0, "/min", 1000.0, dev, Quality.VALID),  # airway RR first; ECG-impedance RR 22 skipped
    ]
    assert result.errors == [] and result.skipped == 6


def test_mindray_waveform_has_no_numerics() -> None:
    result = read_message(HL7 / "ivmon_mindray_style_waveform_r01.hl7")
    assert result.items == [] and result.errors == []
    assert result.skipped == 8  # 2 NA arrays (one all 32767), 6 attribute rows
    assert result.device == "00A037000042" and result.location == "PACU^12^1"


def test_mindray_pcd04_lead_off_alarm() -> None:
    result = read_message(HL7 / "ivmon_mindray_style_alarm_r40.hl7")
    assert result.readings == [] and result.errors == []
    [alarm] = result.alarms
    assert alarm.source == "00A037000042"
    assert alarm.ts == _utc("2026-03-01T01:17:30")  # 20260301091730+0800
    assert (alarm.priority, alarm.message, alarm.code, alarm.active) == ("low", "Lead off", "196680", True)


def test_mindray_egateway_v231() -> None:
    result = read_message(HL7 / "ivmon_egateway_style_waveform_v231.hl7")
    assert result.header is not None and result.header.version == "2.3.1"
    assert result.items == [] and result.errors == []
    assert result.skipped == 32
    assert result.device == "Mindray_eGateway/WARD7"


def test_philips_invalid_rows_and_text_alarm() -> None:
    raw = (HL7 / "ivmon_philips_style_invalid_obx_fragment.hl7").read_bytes()
    result = interpret_fragment(raw.decode(), CODES, NO_BINDINGS, ts=1000.0)
    assert result.readings == []  # empty value + status X: "?" on the monitor, never a reading
    assert result.skipped == 2
    [alarm] = result.alarms
    assert (alarm.priority, alarm.message, alarm.ts) == ("medium", "HR Low, HR=48 /min", 1000.0)


def test_pcd01_two_obr_groups_of_waveforms() -> None:
    result = read_message(HL7 / "ivmon_pcd01_style_waveform_multi_obr.hl7")
    # 150456 appears as an NA waveform row: not a SpO2 reading
    assert result.items == [] and result.errors == []
    assert result.skipped == 14


def test_numeric_rows_agree_with_python_hl7() -> None:
    """Independent check of the hand-written splitter: python-hl7 sees the same codes, values and units."""
    for path in sorted((HL7).glob("*.hl7")):
        raw = path.read_bytes()
        if not raw.startswith(b"MSH"):
            continue
        text, _ = decode(raw)
        ours = [seg for seg in parse(text).segments if seg[0] == "OBX"]
        theirs = hl7.parse(text.replace("\n", "\r")).segments("OBX")
        assert len(ours) == len(theirs), path.name
        for a, b in zip(ours, theirs, strict=True):
            for n in (2, 3, 4, 5, 6, 11, 14, 18):
                assert (a[n] if len(a) > n else "") == (str(b[n]) if len(b) > n else ""), (path.name, n)


@pytest.mark.parametrize("name", ["ivmon_ge_style_pcd01_obx_fragment.hl7", "ivmon_ge_style_tail_fragment.hl7"])
def test_fragments_bound_by_device(name: str) -> None:
    binder = Bindings.from_config([Hl7Binding(bed="chair-2", device="00a0c9fffe0b4021")])
    raw = (HL7 / name).read_bytes()
    result = interpret_fragment(raw.decode(), CODES, binder, ts=0.0)
    assert result.readings and {r.bed for r in result.readings} == {"chair-2"}
