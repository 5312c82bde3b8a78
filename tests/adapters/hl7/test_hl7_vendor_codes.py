"""Vendor code tables (adapters/hl7/vendor_codes.py): each vendor's documented messages read value by value.

Messages: tests/fixtures/hl7 (shapes and origins in tests/fixtures/SOURCES.md);
the facts behind each code: docs/hl7-codes.md.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from adapters.hl7.codes import CodeMap
from adapters.hl7.mdc_known import MDC_KNOWN
from adapters.hl7.message import decode, parse
from adapters.hl7.pcd01 import interpret, sensor_reference
from adapters.hl7.vendor_codes import MDIL_KNOWN, MDIL_VITALS
from monitor.binding import Bindings
from monitor.model import NIBP_VITALS, DeviceAlarm, Quality, Reading, Vital
from tests.fixtures import FIXTURES

CODES = CodeMap.from_config()


def ts(text: str) -> float:
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC).timestamp()


def read(raw: bytes) -> list[Reading]:
    result = interpret(parse(decode(raw)[0]), CODES, Bindings())
    assert not result.errors
    return result.readings


def frames(name: str) -> list[bytes]:
    return re.findall(rb"\x0b(.*?)\x1c\r", (FIXTURES / "hl7" / name).read_bytes(), re.S)


def values(readings: list[Reading]) -> dict[tuple[Vital, float], float]:
    return {(r.vital, r.ts): r.value for r in readings}


# -- Philips IntelliVue Information Center (IIC) ---------------------------------------------


def test_philips_iic_telemetry_and_pulses_per_source() -> None:
    demo = frames("ivmon_philips_iic_style_demo_mode_v23.mllp")
    tele, bedside, arterial, alarmed, nmd = demo
    t0 = ts("20260701090000")
    assert values(read(tele)) == {(Vital.SPO2, t0): 97.0, (Vital.RR, t0): 17.0, (Vital.HR, t0): 74.0}
    t1, nbp = ts("20260701090001"), ts("20260701085500")
    assert values(read(bedside)) == {
        (Vital.SPO2, t1): 96.0,
        (Vital.PR, t1): 71.0,  # Pulse (SpO2)
        (Vital.SBP, nbp): 128.0,  # the cuff's own time (OBX-14), not the message's
        (Vital.DBP, nbp): 79.0,
        (Vital.MAP, nbp): 95.0,
        (Vital.PR, nbp): 69.0,  # Pulse (NBP)
        (Vital.HR, t1): 72.0,
    }
    t2 = ts("20260701090002")
    # ABPs/d/m are an arterial line: never sbp/dbp/map
    assert values(read(arterial)) == {(Vital.HR, t2): 66.0, (Vital.SPO2, t2): 99.0, (Vital.PR, t2): 66.0}
    result = interpret(parse(decode(alarmed)[0]), CODES, Bindings())
    [alarm] = [i for i in result.items if isinstance(i, DeviceAlarm)]
    assert alarm.priority == "medium" and "SpO2T" in alarm.message
    assert {r.vital: r.value for r in result.readings} == {Vital.SPO2: 84.0, Vital.HR: 131.0}
    assert all(r.source == "ICU/PCU^^pDemo5&0&0" for r in result.readings), "no MSH-3: PV1-3 names the device"
    assert nmd.startswith(b"MSH|^~\\&|||||||NMD|")


def test_philips_iic_production_telemetry_spo2() -> None:
    raw = (FIXTURES / "hl7" / "ivmon_philips_iic_style_telemetry_v23.hl7").read_bytes()
    t = ts("20260701091500")
    assert values(read(raw)) == {(Vital.SPO2, t): 99.0, (Vital.RR, t): 14.0, (Vital.HR, t): 68.0}


# -- Philips Efficia CM, SureSigns VS ----------------------------------------------------------


def test_philips_efficia_orf_pulse_paired_with_spo2() -> None:
    raw = (FIXTURES / "hl7" / "ivmon_philips_efficia_style_orf_r04_v24.hl7").read_bytes()
    result = interpret(parse(decode(raw)[0]), CODES, Bindings())
    assert not result.errors
    t, nbp = ts("20260701092000"), ts("20260701091830")
    assert values(result.readings) == {
        (Vital.SPO2, t): 95.0,
        (Vital.SBP, nbp): 134.0,
        (Vital.DBP, nbp): 86.0,
        (Vital.MAP, nbp): 102.0,
        (Vital.PR, t): 77.0,  # "Pulse", its source SpO2 named in OBX-17
        (Vital.RR, t): 16.0,  # "Resp" in rpm
    }
    # The sensor reference is not a device id: every reading stays the monitor's.
    assert {r.source for r in result.readings} == {"EfficiaCM"}
    assert result.skipped >= 2  # the HR shown as "?" (status X) and the temperature


def test_philips_suresigns_spot_check() -> None:
    raw = (FIXTURES / "hl7" / "ivmon_philips_suresigns_style_spotcheck_v24.hl7").read_bytes()
    t = ts("20260701092945")
    assert values(read(raw)) == {
        (Vital.SPO2, t): 97.0,
        (Vital.SBP, t): 142.0,
        (Vital.DBP, t): 91.0,
        (Vital.MAP, t): 108.0,
        (Vital.PR, t): 82.0,
    }


# -- the tables themselves ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obx3", "obx6", "vital"),
    [
        ("0002-f09c^SpO2T^MDIL", "0004-0220^%^MDIL", Vital.SPO2),
        ("0002-4822^Pulse (SpO2)^MDIL", "0004-0aa0^bpm^MDIL", Vital.PR),
        ("0002-f0e5^Pulse (NBP)^MDIL", "0004-0aa0^bpm^MDIL", Vital.PR),
        ("0002-480a^Pulse^MDIL", "0004-0aa0^bpm^MDIL", Vital.PR),
        ("0002-4182^HR^MDIL", "0004-0aa0^bpm^MDIL", Vital.HR),
        ("0002-4a05^NBPs^MDIL", "0004-0f20^mmHg^MDIL", Vital.SBP),
        ("0002-f0a3^NBPm^MDIL", "0004-0f20^mmHg^MDIL", Vital.MAP),
        ("0002-500a^RR^MDIL", "0004-0ae0^rpm^MDIL", Vital.RR),
        ("151708^MDC_CONC_AWAY_CO2_ET^MDC", "266016^MDC_DIM_MMHG^MDC", Vital.ETCO2),
        ("147842^HR_Pulse^MDC", "264864^MDC_DIM_BEAT_PER_MIN^MDC", Vital.PR),  # a pulse under the HR code
        ("147842^MDC_ECG_HEART_RATE^MDC", "264864^MDC_DIM_BEAT_PER_MIN^MDC", Vital.HR),
        ("0002-f154^QT-HR^MDIL", "0004-0aa0^bpm^MDIL", None),  # HR for QTc: not the monitored HR
        ("0002-4a15^ABPs^MDIL", "0004-0f20^mmHg^MDIL", None),
        ("150033^MDC_PRESS_BLD_ART_SYS^MDC", "266016^MDC_DIM_MMHG^MDC", None),
        ("150017^MDC_PRESS_BLD_SYS^MDC", "266016^MDC_DIM_MMHG^MDC", None),
    ],
)
def test_code_table(obx3: str, obx6: str, vital: Vital | None) -> None:
    got, _convert, problem = CodeMap.from_config().row(obx3, obx6, "^")
    assert (got, problem) == (vital, "")


def test_invasive_pressures_are_never_nibp() -> None:
    codes = CodeMap.from_config()
    invasive_mdil = [c for c, what in MDIL_KNOWN.items() if "pressure" in what]
    invasive_mdc = [n for n, what in MDC_KNOWN.items() if "pressure" in what]
    assert len(invasive_mdil) >= 12 and len(invasive_mdc) >= 12
    for code in invasive_mdil:
        assert codes.vital(code, "", "MDIL") is None
    for number in invasive_mdc:
        assert codes.vital(str(number), "", "MDC") is None
    assert not {c for c, v in MDIL_VITALS.items() if v in NIBP_VITALS} & set(MDIL_KNOWN)


def test_heart_rate_paired_with_a_sensor_is_a_pulse() -> None:
    msg = (
        "MSH|^~\\&|MON^0011223344556677^EUI-64||||20260701100000||ORU^R01^ORU_R01|1|P|2.6\r"
        "OBR|1||||||20260701100000\r"
        "OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|70|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R\r"
        "OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.2.1.1|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||||||"
        "150456^MDC_PULS_OXIM_SAT_O2^MDC\r"
        "OBX|3|NM|0002-4182^HR^MDIL||74|0004-0aa0^bpm^MDIL|||||F|||20260701095500|||0002-4a05^NBPs^MDIL\r"
    )
    result = interpret(parse(msg), CODES, Bindings())
    assert [(r.vital, r.value, r.source) for r in result.readings] == [
        (Vital.HR, 70.0, "0011223344556677"),
        (Vital.PR, 72.0, "0011223344556677"),  # OBX-18 names the oximeter
        (Vital.PR, 74.0, "0011223344556677"),  # OBX-17 names the cuff (Philips' place for it)
    ]
    assert all(r.quality is Quality.VALID for r in result.readings)


def test_sensor_reference_is_not_an_equipment_id() -> None:
    assert sensor_reference("0002-4bb8^SpO2^MDIL") == "SpO2"
    assert sensor_reference("150456^MDC_PULS_OXIM_SAT_O2^MDC") == "MDC_PULS_OXIM_SAT_O2"
    assert sensor_reference("080019FFFE0B4020^B40_GE") == ""
    assert sensor_reference("00A037000000^^00A037000000^EUI-64") == ""


def test_local_codes_map_and_silence() -> None:
    codes = CodeMap.from_config({"99ACME:7001": "spo2", "99ACME:7002": "-"})
    assert codes.vital("7001", "SAT", "99ACME") is Vital.SPO2
    assert codes.vital("7002", "HR for QT", "99ACME") is None
    assert codes.known("7002", "HR for QT", "99ACME") == "marked not a vital in [hl7] local_codes"
    with pytest.raises(ValueError, match="unknown vital"):
        CodeMap.from_config({"99ACME:1": "temperature"})


def test_welch_allyn_text_units() -> None:
    """WACS sends its units as text tags (Programmer's Guide, table 12): BPM, Percent, Br/M, mmHg."""
    codes = CodeMap.from_config()
    for obx3, obx6, value, vital, expected in [
        ("150456^MDC_PULS_OXIM_SAT_O2^MDC", "Percent", 97.0, Vital.SPO2, 97.0),
        ("151562^MDC_RESP_RATE^MDC", "Br/M", 14.0, Vital.RR, 14.0),
        ("149530^MDC_PULS_OXIM_PULS_RATE^MDC", "BPM", 71.0, Vital.PR, 71.0),
        ("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "kPa", 16.0, Vital.SBP, 120.0),
    ]:
        got, convert, problem = codes.row(obx3, obx6, "^")
        assert (got, problem) == (vital, "")
        assert convert(value) == pytest.approx(expected, abs=0.05)
