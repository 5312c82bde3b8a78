"""Every real message in shared/data/hl7 read to exactly the vitals, values, units and times it carries.

Origins and licences of the files: shared/data/SOURCES.md (Comen NC monitor
test sender, Continua "Cdog" test, GE B40/B20 HL7 Reference Manual
2062665-001 G, Mindray bedside capture, Mindray eGateway dummy, Philips
Efficia CM Data Export Guide, sllmdilab dordriver test).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import hl7
import pytest

from adapters.hl7.binding import Binder
from adapters.hl7.codes import CodeMap
from adapters.hl7.message import decode, parse
from adapters.hl7.pcd01 import Interpreted, check_supported, interpret, interpret_fragment
from monitor.config import Hl7Binding
from monitor.model import Quality, Vital

CODES = CodeMap.from_config()
NO_BINDINGS = Binder()


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def read_message(path: Path, binder: Binder = NO_BINDINGS) -> Interpreted:
    text, _ = decode(path.read_bytes())
    msg = parse(text)
    result = interpret(msg, CODES, binder)
    assert result.header is not None
    check_supported(result.header)
    return result


def values(result: Interpreted) -> list[tuple[Vital, float, str, float, str, Quality]]:
    return [(r.vital, r.value, r.unit, r.ts, r.source, r.quality) for r in result.readings]


def test_comen_nc_monitor_vitals(shared_data: Path) -> None:
    result = read_message(shared_data / "hl7" / "comen_nc_monitor_vitals_v26_1.hl7")
    ts = _utc("2025-06-09T17:51:27")  # 20250610015127+0800
    src = "NC_Monitor/KC261551373G"  # MSH-3 has no universal id: application/facility
    assert values(result) == [
        (Vital.SPO2, 97.0, "%", ts, src, Quality.VALID),
        (Vital.PR, 59.0, "bpm", ts, src, Quality.VALID),
        # the second SpO2 channel (1.3.2.150456) repeats 97 and is not stored twice
        (Vital.RR, 20.0, "/min", ts, src, Quality.VALID),
        (Vital.SBP, 120.0, "mmHg", ts, src, Quality.VALID),
        (Vital.DBP, 80.0, "mmHg", ts, src, Quality.VALID),
        (Vital.MAP, 90.0, "mmHg", ts, src, Quality.VALID),
    ]
    assert result.errors == []
    # SQI, SpO2 diff, temperature, body position, empty height/weight, duplicate SpO2 channel
    assert result.skipped == 7
    assert result.header is not None and result.header.control_id == "202506100151270003"
    assert result.location == "^^&10"


def test_comen_bed_bound_by_compact_location(shared_data: Path) -> None:
    binder = Binder([Hl7Binding(bed="chair-10", location="10")])
    result = read_message(shared_data / "hl7" / "comen_nc_monitor_vitals_v26_1.hl7", binder)
    assert {r.bed for r in result.readings} == {"chair-10"}


def test_continua_cdog_blood_pressure(shared_data: Path) -> None:
    path = shared_data / "hl7" / "continua_phd_bp_cdog_v26_1.hl7"
    text, codec = decode(path.read_bytes())
    assert codec == "utf-8" and "Lófasz" in text  # no MSH-18: UTF-8 by default
    result = read_message(path)
    ts = _utc("2015-01-18T14:30:00")
    # rows inherit the device of their MDS header row (OBX-4 "1", OBX-18 0123456789ABCDEF)
    dev = "0123456789ABCDEF"
    assert values(result) == [
        (Vital.SBP, 140.5, "mmHg", ts, dev, Quality.VALID),
        (Vital.DBP, 95.0, "mmHg", ts, dev, Quality.VALID),
        (Vital.PR, 75.5, "bpm", ts, dev, Quality.VALID),
    ]
    assert result.errors == [] and result.skipped == 2
    assert result.device == "6CF049DB5F02"


def test_ge_b40_example1_header(shared_data: Path) -> None:
    result = read_message(shared_data / "hl7" / "ge_b40_example1_header_fragment.hl7")
    assert result.readings == [] and result.errors == []
    assert result.skipped == 1  # the MDS header row
    assert result.header is not None
    assert (result.header.message_type, result.header.control_id, result.header.version) == (
        "ORU^R01",
        "004097134535",
        "2.6",
    )
    assert result.device == "080019FFFE134535"
    assert result.location == "SURGERY^^V2"


def test_ge_b40_pcd01_obx_fragment(shared_data: Path) -> None:
    raw = (shared_data / "hl7" / "ge_b40_pcd01_obx_fragment.hl7").read_bytes()
    result = interpret_fragment(raw.decode(), CODES, NO_BINDINGS, ts=1000.0)
    dev = "080019FFFE0B4020"
    # ECG HR and the pulse rate of the arterial line; VPC rate and invasive pressures are not ivmon vitals
    assert values(result) == [
        (Vital.HR, 80.0, "bpm", 1000.0, dev, Quality.VALID),
        (Vital.PR, 80.0, "bpm", 1000.0, dev, Quality.VALID),
    ]
    assert result.errors == [] and result.skipped == 7


def test_ge_b40_example2_tail_fragment(shared_data: Path) -> None:
    raw = (shared_data / "hl7" / "ge_b40_example2_tail_fragment.hl7").read_bytes()
    result = interpret_fragment(raw.decode(), CODES, NO_BINDINGS, ts=1000.0)
    dev = "080019FFFE0B4020"
    assert values(result) == [
        (Vital.SPO2, 100.0, "%", 1000.0, dev, Quality.VALID),
        (Vital.RR, 18.0, "/min", 1000.0, dev, Quality.VALID),  # airway RR first; ECG-impedance RR 30 skipped
    ]
    assert result.errors == [] and result.skipped == 6


def test_mindray_waveform_has_no_numerics(shared_data: Path) -> None:
    result = read_message(shared_data / "hl7" / "mindray_bedside_oru_r01_waveform_1.hl7")
    assert result.items == [] and result.errors == []
    assert result.skipped == 8  # 2 NA arrays (one all 32767), 6 attribute rows
    assert result.device == "00A037000000" and result.location == "HDU^507^3"


def test_mindray_pcd04_lead_off_alarm(shared_data: Path) -> None:
    result = read_message(shared_data / "hl7" / "mindray_bedside_oru_r40_alarm_1.hl7")
    assert result.readings == [] and result.errors == []
    [alarm] = result.alarms
    assert alarm.source == "00A037000000"
    assert alarm.ts == _utc("2026-01-24T04:47:38")  # 20260124124738+0800
    assert (alarm.priority, alarm.message, alarm.code, alarm.active) == ("low", "Lead off", "196680", True)


def test_mindray_egateway_v231(shared_data: Path) -> None:
    result = read_message(shared_data / "hl7" / "mindray_egateway_dummy_waveform_v231.hl7")
    assert result.header is not None and result.header.version == "2.3.1"
    assert result.items == [] and result.errors == []
    assert result.skipped == 32
    assert result.device == "Mindray_eGateway/WARDNAME"


def test_philips_invalid_rows_and_text_alarm(shared_data: Path) -> None:
    raw = (shared_data / "hl7" / "philips_efficia_cm_invalid_obx_fragment.hl7").read_bytes()
    result = interpret_fragment(raw.decode(), CODES, NO_BINDINGS, ts=1000.0)
    assert result.readings == []  # empty value + status X: "?" on the monitor, never a reading
    assert result.skipped == 2
    [alarm] = result.alarms
    assert (alarm.priority, alarm.message, alarm.ts) == ("medium", "HR Low, HR=55 /min", 1000.0)


def test_dordriver_two_obr_groups_of_waveforms(shared_data: Path) -> None:
    result = read_message(shared_data / "hl7" / "sllmdilab_dordriver_pcd01_waveform_multi_obr.hl7")
    # 150456 appears as an NA waveform row: not a SpO2 reading
    assert result.items == [] and result.errors == []
    assert result.skipped == 14


def test_numeric_rows_agree_with_python_hl7(shared_data: Path) -> None:
    """Independent check of the hand-written splitter: python-hl7 sees the same codes, values and units."""
    for path in sorted((shared_data / "hl7").glob("*.hl7")):
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


@pytest.mark.parametrize("name", ["ge_b40_pcd01_obx_fragment.hl7", "ge_b40_example2_tail_fragment.hl7"])
def test_fragments_bound_by_device(shared_data: Path, name: str) -> None:
    binder = Binder([Hl7Binding(bed="chair-2", device="080019fffe0b4020")])
    raw = (shared_data / "hl7" / name).read_bytes()
    result = interpret_fragment(raw.decode(), CODES, binder, ts=0.0)
    assert result.readings and {r.bed for r in result.readings} == {"chair-2"}
