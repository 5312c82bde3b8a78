from __future__ import annotations

import pytest

from adapters.hl7.codes import CodeError, CodeMap, mdc_number
from adapters.hl7.message import parse
from adapters.hl7.pcd01 import interpret
from monitor.binding import Bindings
from monitor.config import Hl7Binding
from monitor.model import Quality, Vital

CODES = CodeMap.from_config()
HEAD = "MSH|^~\\&|MON^00A0370000001234^EUI-64|F|||20250101120000+0000||ORU^R01^ORU_R01|9|P|2.6\rPV1||I|ICU^^7\r"


def obx(code: str, value: str, unit: str, status: str = "R") -> str:
    return f"OBX|1|NM|{code}|1.1.1.1|{value}|{unit}|||||{status}"


def read(*rows: str, codes: CodeMap = CODES, binder: Bindings | None = None):  # type: ignore[no-untyped-def]
    return interpret(parse(HEAD + "\r".join(rows)), codes, binder or Bindings())


def test_mdil_codes_are_mdc_numbers_in_hex() -> None:
    assert mdc_number("0002-4182", "MDIL") == 147842
    assert mdc_number("0004-0f20", "MDIL") == 266016
    r = read(
        obx("0002-4bb8^SpO2^MDIL", "96", "0004-0220^%^MDIL"), obx("0002-4a05^NBPs^MDIL", "121", "0004-0f20^mmHg^MDIL")
    )
    assert [(x.vital, x.value, x.unit) for x in r.readings] == [(Vital.SPO2, 96.0, "%"), (Vital.SBP, 121.0, "mmHg")]


def test_kpa_is_converted_and_unknown_units_refused() -> None:
    r = read(
        obx("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "16", "265987^MDC_DIM_KILO_PASCAL^MDC"),
        obx("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "80", "mm[Hg]^^UCUM"),
        obx("150023^MDC_PRESS_BLD_NONINV_MEAN^MDC", "90", ""),
        obx("147842^MDC_ECG_HEART_RATE^MDC", "72", "266016^MDC_DIM_MMHG^MDC"),
        obx("150456^MDC_PULS_OXIM_SAT_O2^MDC", "0.97", "262656^MDC_DIM_DIMLESS^MDC"),
    )
    assert [(x.vital, round(x.value, 3)) for x in r.readings] == [
        (Vital.SBP, 120.01),
        (Vital.DBP, 80.0),
        (Vital.SPO2, 97.0),
    ]
    assert len(r.errors) == 2
    assert "unknown unit 'none' for map" in r.errors[0]
    assert "does not fit hr" in r.errors[1]


def test_code_and_reference_id_are_cross_checked() -> None:
    r = read(
        obx("150456^MDC_AWAY_CO2_ET^MDC", "38", "266016^MDC_DIM_MMHG^MDC"),  # wrong pair seen in public code
        obx("150457^MDC_PULS_OXIM_PULS_RATE^MDC", "76", "264864^MDC_DIM_BEAT_PER_MIN^MDC"),  # unknown number
        obx("150456^MDC_PULS_OXIM_SAT_O2^MDC", "98", "266418^MDC_DIM_PERCENT^MDC"),  # unit code mV, name percent
        # 150031 is MDC_PRESS_BLD_AORT_MEAN (an aortic line), sent as CUFF_SYS by a real monitor: the number decides
        obx("150031^MDC_PRESS_CUFF_SYS^MDC", "118", "266016^MDC_DIM_MMHG^MDC"),
    )
    assert [(x.vital, x.value) for x in r.readings] == [(Vital.PR, 76.0)]
    assert len(r.errors) == 3 and all("disagrees" in e for e in r.errors)
    assert "aortic" in r.errors[2]


def test_sentinels_empty_and_x_rows_are_never_readings() -> None:
    r = read(
        obx("150456^MDC_PULS_OXIM_SAT_O2^MDC", "-100", "262688^MDC_DIM_PERCENT^MDC"),
        obx("149530^MDC_PULS_OXIM_PULS_RATE^MDC", "32767", "264864^MDC_DIM_BEAT_PER_MIN^MDC"),
        obx("147842^MDC_ECG_HEART_RATE^MDC", "", "264864^MDC_DIM_BEAT_PER_MIN^MDC"),
        obx("147842^MDC_ECG_HEART_RATE^MDC", "70", "264864^MDC_DIM_BEAT_PER_MIN^MDC", status="X"),
        obx("151562^MDC_RESP_RATE^MDC", "abc", "264928^MDC_DIM_RESP_PER_MIN^MDC"),
        obx("151562^MDC_RESP_RATE^MDC", "14", "264928^MDC_DIM_RESP_PER_MIN^MDC", status="W"),
    )
    assert [(x.vital, x.value, x.quality) for x in r.readings] == [(Vital.RR, 14.0, Quality.INVALID)]
    assert r.skipped == 4 and len(r.errors) == 1 and "not a number" in r.errors[0]


def test_local_codes_from_configuration() -> None:
    codes = CodeMap.from_config({"99COMEN:2": "hr", "EHC:393216": "sbp"})
    r = read(obx("2^COMEN_HR^99COMEN", "64", "bpm"), obx("393216^NIBP_SYS^EHC", "130", "mmHg"), codes=codes)
    assert [(x.vital, x.value) for x in r.readings] == [(Vital.HR, 64.0), (Vital.SBP, 130.0)]
    with pytest.raises(ValueError, match="unknown vital"):
        CodeMap.from_config({"X:1": "temperature"})


def test_binding_prefers_the_device_then_location_then_sender() -> None:
    row = obx("147842^MDC_ECG_HEART_RATE^MDC", "72", "bpm") + "|||||||DEV42^^DEV42^EUI-64"
    by_location = Bindings.from_config([Hl7Binding(bed="chair-7", location="ICU^^7")])
    by_both = Bindings.from_config(
        [Hl7Binding(bed="chair-7", location="ICU^^7"), Hl7Binding(bed="chair-1", device="dev42")]
    )
    by_sender = Bindings.from_config([Hl7Binding(bed="chair-3", device="00A0370000001234")])
    assert [x.bed for x in read(row, binder=by_location).readings] == ["chair-7"]
    assert [x.bed for x in read(row, binder=by_both).readings] == ["chair-1"]
    assert [x.bed for x in read(row, binder=by_sender).readings] == ["chair-3"]
    unbound = read(row).readings[0]
    assert unbound.bed is None and unbound.source == "DEV42"


def test_code_error_is_a_value_error() -> None:
    with pytest.raises(CodeError):
        CodeMap.convert(Vital.HR, 1.0, "", "furlongs", "")
