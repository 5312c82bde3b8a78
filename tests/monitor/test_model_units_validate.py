from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.model import Alarm, AlarmKind, AlarmState, Phase, PhaseChange, Priority, Quality, Reading, Session, Vital
from monitor.units import KPA_TO_MMHG, UnitError, to_canonical
from monitor.validate import ReadingRejected, check_nibp_pair, check_nibp_pairs, implausible, normalise


def reading(vital: Vital | str, value: float, unit: str) -> Reading:
    return Reading(vital, value, unit, 1000.0, "dev-1")  # type: ignore[arg-type]


def test_session_phase_at_follows_changes() -> None:
    s = Session(
        1,
        "chair-1",
        "P1",
        Phase.RECOVERY,
        100.0,
        phases=[
            PhaseChange(Phase.BASELINE, 100.0, "n"),
            PhaseChange(Phase.INFUSION, 700.0, "n"),
            PhaseChange(Phase.RECOVERY, 3100.0, "n"),
        ],
    )
    assert s.phase_at(50.0) is None
    assert s.phase_at(100.0) is Phase.BASELINE
    assert s.phase_at(699.9) is Phase.BASELINE
    assert s.phase_at(700.0) is Phase.INFUSION
    assert s.phase_at(5000.0) is Phase.RECOVERY
    assert s.phase_started(Phase.INFUSION) == 700.0
    assert s.is_open


def test_latched_high_alarm_needs_attention_until_acknowledged() -> None:
    a = Alarm("a1", "spo2-low", AlarmKind.PHYSIOLOGICAL, Priority.HIGH, "SpO2 low", 1.0, state=AlarmState.RESOLVED)
    assert a.needs_attention
    a.acknowledged_at = 2.0
    assert not a.needs_attention
    medium = Alarm("a2", "hr-high", AlarmKind.PHYSIOLOGICAL, Priority.MEDIUM, "HR", 1.0, state=AlarmState.RESOLVED)
    assert not medium.needs_attention


@pytest.mark.parametrize(
    ("vital", "value", "unit", "expected"),
    [
        (Vital.SBP, 16.0, "kPa", 16.0 * KPA_TO_MMHG),
        (Vital.SBP, 120.0, "mm[Hg]", 120.0),
        (Vital.SPO2, 0.97, "fraction", 97.0),
        (Vital.HR, 72.0, "/min", 72.0),
        (Vital.HR, 72.0, "{beats}/min", 72.0),
        (Vital.RR, 14.0, "breaths/min", 14.0),
    ],
)
def test_units_are_converted_to_canonical(vital: Vital, value: float, unit: str, expected: float) -> None:
    assert math.isclose(to_canonical(vital, value, unit), expected)


def test_unknown_unit_is_refused_not_guessed() -> None:
    with pytest.raises(UnitError, match="unknown unit 'cmH2O' for sbp"):
        to_canonical(Vital.SBP, 120.0, "cmH2O")
    r = reading(Vital.SPO2, 97.0, "ppm")
    with pytest.raises(ReadingRejected) as info:
        normalise(r)
    assert info.value.reason == "unknown_unit"


def test_unknown_vital_is_refused() -> None:
    with pytest.raises(ReadingRejected) as info:
        normalise(reading("temp", 37.0, "Cel"))
    assert info.value.reason == "unknown_vital"
    assert "unknown vital 'temp'" in str(info.value)


def test_vital_given_as_text_is_accepted() -> None:
    r = normalise(reading("hr", 70.0, "bpm"))
    assert r.vital is Vital.HR and r.quality is Quality.VALID


def test_nan_is_refused() -> None:
    with pytest.raises(ReadingRejected):
        normalise(reading(Vital.HR, float("nan"), "bpm"))


@pytest.mark.parametrize(
    ("vital", "value", "quality"),
    [
        (Vital.HR, 19.0, Quality.INVALID),
        (Vital.HR, 20.0, Quality.VALID),
        (Vital.HR, 301.0, Quality.INVALID),
        (Vital.SPO2, 49.0, Quality.INVALID),
        (Vital.SPO2, 100.0, Quality.VALID),
        (Vital.SBP, 39.0, Quality.INVALID),
        (Vital.DBP, 251.0, Quality.INVALID),
    ],
)
def test_implausible_values_are_kept_but_invalid(vital: Vital, value: float, quality: Quality) -> None:
    unit = {Vital.HR: "bpm", Vital.SPO2: "%"}.get(vital, "mmHg")
    assert normalise(reading(vital, value, unit)).quality is quality


def test_diastolic_not_below_systolic_invalidates_the_pair() -> None:
    s, d = reading(Vital.SBP, 80.0, "mmHg"), reading(Vital.DBP, 85.0, "mmHg")
    check_nibp_pair(s, d)
    assert s.quality is Quality.INVALID and d.quality is Quality.INVALID


def test_cuff_pairs_are_matched_by_device_and_time() -> None:
    s1 = Reading(Vital.SBP, 90.0, "mmHg", 10.0, "cuff-a")
    d1 = Reading(Vital.DBP, 95.0, "mmHg", 10.0, "cuff-a")  # not below its systolic: both invalid
    s2 = Reading(Vital.SBP, 120.0, "mmHg", 10.0, "cuff-b")
    d2 = Reading(Vital.DBP, 130.0, "mmHg", 11.0, "cuff-b")  # another measurement: not a pair
    check_nibp_pairs([s1, d1, s2, d2])
    assert (s1.quality, d1.quality) == (Quality.INVALID, Quality.INVALID)
    assert (s2.quality, d2.quality) == (Quality.VALID, Quality.VALID)


def test_the_offline_trace_and_the_pipeline_share_the_plausible_ranges() -> None:
    values = np.array([19.0, 20.0, 300.0, 301.0, np.nan])
    assert implausible(Vital.HR, values).tolist() == [True, False, False, True, False]
    for value, flagged in zip(values[:4], implausible(Vital.HR, values)[:4], strict=True):
        reading = normalise(Reading(Vital.HR, float(value), "bpm", 0.0, "dev"))
        assert (reading.quality is Quality.INVALID) == bool(flagged)
