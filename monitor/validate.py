"""Entry checks, in one place: is this a known vital in a known unit, and is the value plausible?

A reading with an unknown vital or unit is refused (counted, with its reason);
an implausible value is kept but marked ``invalid`` so it is stored and never
judged as real (spec/alarms.md, implausible values); a cuff measurement whose
diastolic is not below its systolic is invalid as a pair. The pipeline runs these
on every reading from every adapter, the offline replay (``alerts/trace.py``) on
trace columns; adapters only decode (a text that is not a number is a parse error
there, a unit is converted by ``monitor/units.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from monitor.model import CANONICAL_UNIT, Quality, Reading, Vital
from monitor.units import UnitError, converter

#: Plausible ranges in canonical units (spec/alarms.md technical alarms; rr and etco2 ours).
PLAUSIBLE: dict[Vital, tuple[float, float]] = {
    Vital.HR: (20.0, 300.0),
    Vital.PR: (20.0, 300.0),
    Vital.SPO2: (50.0, 100.0),
    Vital.SBP: (40.0, 300.0),
    Vital.DBP: (15.0, 250.0),
    Vital.MAP: (20.0, 270.0),
    Vital.RR: (0.0, 120.0),
    Vital.ETCO2: (0.0, 150.0),
}


class ReadingRejected(ValueError):
    """A reading that cannot be taken in at all (not stored as a reading)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # short machine-readable cause, for counters


#: Column widths of the stored identifiers (monitor/store/schema.py). A longer one would fail the
#: whole batched transaction again and again (PostgreSQL enforces them), so it is refused here.
MAX_SOURCE_LEN = 128
MAX_BED_LEN = 64


def check_ids(source: str, bed: str | None) -> None:
    if len(source) > MAX_SOURCE_LEN:
        raise ReadingRejected("bad_source", f"device id longer than {MAX_SOURCE_LEN} characters")
    if bed is not None and len(bed) > MAX_BED_LEN:
        raise ReadingRejected("bad_bed", f"bed id longer than {MAX_BED_LEN} characters")


def normalise(reading: Reading) -> Reading:
    """Check ids, vital and unit, convert to the canonical unit and set the quality, in place."""
    check_ids(reading.source, reading.bed)
    vital = reading.vital
    if not isinstance(vital, Vital):
        try:
            vital = reading.vital = Vital(vital)
        except ValueError:
            raise ReadingRejected("unknown_vital", f"unknown vital {reading.vital!r}") from None
    canonical = CANONICAL_UNIT[vital]
    if reading.unit != canonical:
        try:
            reading.value = converter(vital, reading.unit)(reading.value)
        except UnitError as exc:
            raise ReadingRejected("unknown_unit", str(exc)) from None
        reading.unit = canonical
    value = reading.value
    if not isinstance(value, float | int) or math.isnan(value) or math.isinf(value):
        raise ReadingRejected("not_a_number", f"{vital.value} value is not a number")
    low, high = PLAUSIBLE[vital]
    if not low <= value <= high:
        reading.quality = Quality.INVALID
    return reading


def implausible(vital: Vital, values: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Which of a column of ``vital`` values are outside its plausible range (NaN: no reading, not flagged)."""
    low, high = PLAUSIBLE[vital]
    return (values < low) | (values > high)


def check_nibp_pairs(readings: Sequence[Reading]) -> None:
    """Pair each diastolic with the systolic of the same measurement (device and time) and check them."""
    sbp: dict[tuple[str, float], Reading] = {}
    dbp: dict[tuple[str, float], Reading] = {}
    for r in readings:
        if r.vital is Vital.SBP:
            sbp[(r.source, r.ts)] = r
        elif r.vital is Vital.DBP:
            dbp[(r.source, r.ts)] = r
    for key, d in dbp.items():
        s = sbp.get(key)
        if s is not None:
            check_nibp_pair(s, d)


def check_nibp_pair(sbp: Reading, dbp: Reading) -> None:
    """A diastolic at or above the systolic of the same measurement makes both invalid."""
    if dbp.value >= sbp.value:
        sbp.quality = Quality.INVALID
        dbp.quality = Quality.INVALID
