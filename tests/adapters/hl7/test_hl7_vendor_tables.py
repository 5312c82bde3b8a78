"""Vendor tables beyond Philips: Mindray (VS, PDS), IHE PCD (LOINC with MDC), Welch Allyn WACS; invasive
pressures refused as NIBP; pulse against heart rate by source; the integrator's view of the new labels.

Messages: tests/fixtures/hl7 (shapes and origins in tests/fixtures/SOURCES.md); facts: docs/hl7-codes.md.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from adapters.hl7.codes import CodeMap
from adapters.hl7.label_codes import names_invasive_pressure, qualify
from adapters.hl7.message import decode, parse
from adapters.hl7.observed import CodeLedger
from adapters.hl7.pcd01 import Interpreted, interpret
from monitor.binding import Bindings
from monitor.model import Reading, Vital
from tests.fixtures import FIXTURES

CODES = CodeMap.from_config()
HL7 = FIXTURES / "hl7"


def ts(text: str, tz: timezone = UTC) -> float:
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=tz).timestamp()


def run(raw: bytes, codes: CodeMap = CODES, ledger: CodeLedger | None = None) -> Interpreted:
    return interpret(parse(decode(raw)[0]), codes, Bindings(), ledger=ledger)


def values(readings: list[Reading]) -> dict[tuple[Vital, float], float]:
    return {(r.vital, r.ts): r.value for r in readings}


def message(*obx: str, version: str = "2.6") -> bytes:
    head = (
        f"MSH|^~\\&|MON^0011223344556677^EUI-64||||20260701100000||ORU^R01^ORU_R01|1|P|{version}\r"
        "OBR|1||||||20260701100000\r"
    )
    return (head + "\r".join(obx) + "\r").encode()


# -- Mindray vital-signs monitor (VS series), IHE PCD-01 -----------------------------------------


def test_mindray_vs_spot_check_value_by_value() -> None:
    result = run((HL7 / "ivmon_mindray_vs_style_spotcheck_v26.hl7").read_bytes())
    assert not result.errors
    t, cuff = ts("20260701101500"), ts("20260701101210")
    assert values(result.readings) == {
        (Vital.SPO2, t): 96.0,
        (Vital.PR, t): 88.0,  # the oximeter's pulse (149530)
        (Vital.SBP, cuff): 131.0,  # MDC_PRESS_CUFF_*, each at the cuff's own time (OBX-14)
        (Vital.MAP, cuff): 97.0,
        (Vital.DBP, cuff): 79.0,
        (Vital.PR, cuff): 86.0,  # the cuff's pulse (149546): a second pulse, at the cuff's time
    }
    assert {r.source for r in result.readings} == {"00A037FFFE00C0DE"}
    assert result.skipped == 2  # perfusion index and axillary temperature: known, not tracked


# -- IHE PCD-01 example shape: LOINC first, MDC as the alternate identifier ------------------------


def test_ihe_pcd01_loinc_first_is_read_by_its_mdc_alternate() -> None:
    result = run((HL7 / "ivmon_ihe_pcd01_style_loinc_mdc_v26.hl7").read_bytes())
    assert not result.errors
    t = ts("20260701102950")
    assert values(result.readings) == {
        (Vital.PR, t): 63.0,  # 8889-8 "Heart Rate by Oximetry" = 149530: a pulse
        (Vital.SPO2, t): 95.0,
        (Vital.HR, t): 64.0,  # OBX-17 AMEAS^auto-measurement^MDC is a method, not a pulse sensor
    }


# -- Welch Allyn Connectivity Server (WACS) --------------------------------------------------------


def test_welch_allyn_wacs_labels_strings_and_parts() -> None:
    raw = (HL7 / "ivmon_welch_allyn_wacs_style_v24.hl7").read_bytes()
    ledger = CodeLedger(CODES)
    result = run(raw, ledger=ledger)
    assert not result.errors
    pst = timezone(timedelta(hours=-8))
    assert values(result.readings) == {
        (Vital.HR, ts("20260701034400", pst)): 71.0,  # ST value, "^BPM" unit
        (Vital.SBP, ts("20260701034000", pst)): 124.0,  # NIBP with OBX-4 SYS/DIA/MEAN
        (Vital.DBP, ts("20260701034000", pst)): 78.0,
        (Vital.MAP, ts("20260701034000", pst)): 93.0,
    }
    outcome = {(s.code, s.outcome, s.flagged) for s in ledger.take()}
    assert ("IBP-1/SYS", "not tracked: invasive blood pressure 1, sys", False) in outcome
    assert ("Temperature/1", "not tracked: temperature 1", False) in outcome
    # Labels the guide does not show: unmapped, flagged for the integrator.
    assert ("SpO2", "unmapped", True) in outcome
    assert ("Resp Rate", "unmapped", True) in outcome


def test_welch_allyn_local_codes_take_a_label_but_never_an_invasive_one_as_nibp() -> None:
    raw = (HL7 / "ivmon_welch_allyn_wacs_style_v24.hl7").read_bytes()
    codes = CodeMap.from_config({"WAP:SpO2": "spo2", "WAP:Resp Rate": "rr", "WAP:IBP-1/SYS": "sbp"})
    result = run(raw, codes)
    got = {r.vital: r.value for r in result.readings}
    assert got[Vital.SPO2] == 97.0
    assert Vital.RR not in got, "OBX-8 '?' is WACS's invalid flag: no reading"
    assert got[Vital.SBP] == 124.0, "the cuff, not the arterial line"
    [refused] = result.errors
    assert "invasive" in refused and "IBP-1" in refused


def test_welch_allyn_invalid_flag_and_text_value() -> None:
    result = run(
        message(
            "OBX|1|ST|Heart Rate^Heart Rate^WAP||72|^BPM||?|||||",
            "OBX|2|ST|Heart Rate^Heart Rate^WAP||---|^BPM||||||",
        )
    )
    assert result.readings == []
    assert result.skipped == 1 and len(result.errors) == 1 and "not a number" in result.errors[0]


def test_qualify_joins_only_wacs_parts() -> None:
    assert qualify("NIBP^NIBP^WAP", "SYS") == "NIBP/SYS^NIBP^WAP"
    assert qualify("NIBP^NIBP^WAP", "") == "NIBP^NIBP^WAP"
    assert qualify("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "SYS") == "150021^MDC_PRESS_BLD_NONINV_SYS^MDC"
    assert qualify("NIBP^NIBP^WAP", "1.2.1.1") == "NIBP^NIBP^WAP"


# -- Mindray PDS: number and label both -------------------------------------------------------------


def test_mindray_pds_pairs() -> None:
    result = run(
        message(
            "OBX||NM|101^HR||70|bpm|||||F",
            "OBX||NM|161^PR||69|bpm|||||F",
            "OBX||NM|160^SpO2||98|%|||||F",
            "OBX||NM|170^Sys||118|mmHg|||||F",
            "OBX||NM|171^Dia||76|mmHg|||||F",
            "OBX||NM|151^RR||13|rpm|||||F",
            "OBX||NM|250^CO2Et||37|mmHg|||||F",
            "OBX||NM|500^Sys||135|mmHg|||||F",  # the arterial line: same label, another number
            "OBX||NM|160^Temp||37|%|||||F",  # a number without its label is not enough
        )
    )
    assert not result.errors
    assert [(r.vital, r.value) for r in result.readings] == [
        (Vital.HR, 70.0),
        (Vital.PR, 69.0),
        (Vital.SPO2, 98.0),
        (Vital.SBP, 118.0),
        (Vital.DBP, 76.0),
        (Vital.RR, 13.0),
        (Vital.ETCO2, 37.0),
    ]
    assert CODES.known("500", "Sys", "") == "invasive arterial pressure, systolic"
    assert CODES.known("502", "Dia", "") == "invasive arterial pressure, diastolic"
    # The cuff mean's number is not in the public table: a clinic maps it (no coding system: ":number").
    assert CodeMap.from_config({":172": "map"}).vital("172", "Mean", "") is Vital.MAP


# -- invasive pressures are never NIBP ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("obx3", "local"),
    [
        ("150021^MDC_PRESS_BLD_ART_SYS^MDC", {}),  # cuff number, arterial name
        ("150033^MDC_PRESS_CUFF_SYS^MDC", {}),  # arterial number, cuff name
        ("150017^MDC_PRESS_BLD_NONINV_SYS^MDC", {}),  # method-less number (seen from a simulator), cuff name
        ("150085^MDC_PRESS_BLD_NONINV_SYS^MDC", {}),  # central venous number
        ("7001^ART Sys^99ACME", {"99ACME:7001": "sbp"}),  # a local mapping cannot make ART the cuff
        ("7002^ABPd^99ACME", {"99ACME:7002": "dbp"}),
        ("7003^IBP1 mean^99ACME", {"99ACME:7003": "map"}),
        ("7004^Arterial BP systolic^99ACME", {"99ACME:7004": "sbp"}),
        ("0002-4a15^ABPs^MDIL", {"MDIL:0002-4a15": "sbp"}),
        ("IBP-2/MEAN^IBP-2^WAP", {"WAP:IBP-2/MEAN": "map"}),
    ],
)
def test_invasive_pressures_are_refused_as_nibp(obx3: str, local: dict[str, str]) -> None:
    codes = CodeMap.from_config(local)
    vital, _convert, problem = codes.row(obx3, "266016^MDC_DIM_MMHG^MDC", "^")
    assert vital is None and problem, f"{obx3} was read as {vital}"
    assert "invasive" in problem or "disagrees" in problem


@pytest.mark.parametrize(
    ("label", "invasive"),
    [
        ("ART", True),
        ("ABPs", True),
        ("IBP-1", True),
        ("PAP mean", True),
        ("CVP", True),
        ("MDC_PRESS_BLD_ART_ABP_SYS", True),
        ("MDC_PRESS_BLD_SYS", True),
        ("Invasive BP", True),
        ("NIBP", False),
        ("NBPs", False),
        ("Non-invasive BP", False),
        ("MDC_PRESS_BLD_NONINV_SYS", False),
        ("MDC_PRESS_CUFF_MEAN", False),
        ("MAP", False),
        ("Sys", False),
    ],
)
def test_invasive_labels(label: str, invasive: bool) -> None:
    assert names_invasive_pressure(label) is invasive


# -- pulse against heart rate, by source ------------------------------------------------------------


@pytest.mark.parametrize(
    ("obx3", "obx17", "obx18", "vital"),
    [
        ("147842^MDC_ECG_HEART_RATE^MDC", "", "", Vital.HR),
        ("149530^MDC_PULS_OXIM_PULS_RATE^MDC", "", "", Vital.PR),  # oximeter
        ("149538^MDC_PLETH_PULS_RATE^MDC", "", "", Vital.PR),  # pleth
        ("149546^MDC_PULS_RATE_NON_INV^MDC", "", "", Vital.PR),  # cuff
        ("149522^MDC_BLD_PULS_RATE_INV^MDC", "", "", Vital.PR),  # arterial line
        ("149514^MDC_PULS_RATE^MDC", "", "", Vital.PR),
        ("147842^HR_Pulse^MDC", "", "", Vital.PR),  # the label pairs the rate with a sensor
        ("147842^MDC_ECG_HEART_RATE^MDC", "", "150456^MDC_PULS_OXIM_SAT_O2^MDC", Vital.PR),  # OBX-18 sensor
        ("147842^MDC_ECG_HEART_RATE^MDC", "150301^MDC_PRESS_CUFF_SYS^MDC", "", Vital.PR),  # OBX-17 sensor
        ("147842^MDC_ECG_HEART_RATE^MDC", "AMEAS^auto-measurement^MDC", "", Vital.HR),  # a method, not a sensor
        ("147842^MDC_ECG_HEART_RATE^MDC", "", "080019FFFE0B4020^B40_GE", Vital.HR),  # equipment id
        ("0002-4822^Pulse (SpO2)^MDIL", "", "", Vital.PR),
        ("0002-f0e5^Pulse (NBP)^MDIL", "", "", Vital.PR),
        ("161^PR^", "", "", Vital.PR),  # Mindray PDS
        ("101^HR^", "", "", Vital.HR),
    ],
)
def test_pulse_or_heart_rate_by_source(obx3: str, obx17: str, obx18: str, vital: Vital) -> None:
    row = f"OBX|1|NM|{obx3}|1.1.1.1|70|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R||||||{obx17}|{obx18}"
    result = run(message(row))
    assert not result.errors
    assert [r.vital for r in result.readings] == [vital]


# -- the MDC table, checked against the nomenclature extract ---------------------------------------


@pytest.mark.parametrize(
    ("obx3", "vital"),
    [
        ("150472^MDC_PULS_OXIM_SAT_O2_ART_LEFT^MDC", Vital.SPO2),
        ("150476^MDC_PULS_OXIM_SAT_O2_ART_RIGHT^MDC", Vital.SPO2),
        ("150464^MDC_PULS_OXIM_SAT_O2_NONCTS^MDC", Vital.SPO2),
        ("150468^MDC_PULS_OXIM_SAT_O2_DIFF^MDC", None),  # a difference in %, not a saturation
        ("150324^MDC_SAT_O2_ART^MDC", None),  # a blood gas, not SpO2
        ("151594^MDC_CO2_RESP_RATE^MDC", Vital.RR),
        ("151586^MDC_VENT_RESP_RATE^MDC", None),  # the ventilator's rate
        ("151650^MDC_ACOUSTIC_RESP_RATE^MDC", Vital.RR),
        ("151658^MDC_PULS_OXIM_PLETH_RESP_RATE^MDC", Vital.RR),
        ("151728^MDC_AWAY_CO2_ET^MDC", Vital.ETCO2),
        ("150025^MDC_PRESS_BLD_NONINV_SYS_CTS^MDC", None),  # continuous finger cuff: not the intermittent NIBP
    ],
)
def test_mdc_codes(obx3: str, vital: Vital | None) -> None:
    unit = "266016^MDC_DIM_MMHG^MDC" if vital is Vital.ETCO2 else ""
    got, _convert, problem = CODES.row(obx3, unit, "^")
    assert (got, problem) == (vital, "")
    if vital is None:
        code, refid, system = obx3.split("^")
        assert CODES.known(code, refid, system), f"{obx3} should be named in the integrator's view"


# -- the integrator's view of labels from vendors without a table -------------------------------------


def test_codes_view_flags_vital_looking_labels_and_names_invasive_ones() -> None:
    """Labels a Masimo, Nihon Kohden, Spacelabs or Dräger gateway might send under local codes: the
    vital-looking ones are flagged for mapping; invasive ones are named, not flagged (they cannot be mapped
    to a cuff pressure)."""
    ledger = CodeLedger(CODES)
    run(
        message(
            "OBX|1|NM|1^SpO2^99LOCAL||97|%|||||F",
            "OBX|2|NM|2^PR^99LOCAL||71|/min|||||F",
            "OBX|3|NM|3^RRa^99LOCAL||14|rpm|||||F",
            "OBX|4|NM|4^NIBP-S^99LOCAL||121|mmHg|||||F",
            "OBX|5|NM|5^ART-S^99LOCAL||133|mmHg|||||F",
            "OBX|6|NM|6^IBP1 Mean^99LOCAL||90|mmHg|||||F",
            "OBX|7|NM|7^Perfusion index^99LOCAL||2.1|%|||||F",
            "OBX|8|NM|8^Temp^99LOCAL||36.8|Cel|||||F",
        ),
        ledger=ledger,
    )
    seen = {s.label: (s.outcome, s.flagged) for s in ledger.take()}
    for label in ("SpO2", "PR", "RRa", "NIBP-S", "Perfusion index"):
        assert seen[label] == ("unmapped", True), label  # % alone flags the perfusion index: a look costs little
    assert seen["ART-S"] == ("not tracked: invasive pressure (by its name)", False)
    assert seen["IBP1 Mean"] == ("not tracked: invasive pressure (by its name)", False)
    assert seen["Temp"] == ("unmapped", False)
