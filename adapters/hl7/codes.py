"""Observation codes and units -> vitals in canonical units.

Keyed on the numeric IEEE 11073 MDC code (partition * 65536 + term code) and
cross-checked with the reference id, because wrong code/name pairs circulate in
public code and devices (``research/hl7.md``, "Wrong codes circulate").
Philips MDIL codes (``0002-4182``) are the same numbers written as
``partition-hexterm``. Other local code systems come from the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor.model import CANONICAL_UNIT, Vital

#: MDC numeric codes of the vitals ivmon tracks. Invasive arterial pressures
#: (150033-150035) are deliberately absent: the spec's sbp/dbp/map are cuff
#: pressures, and mixing them would defeat the NIBP-overdue alarm.
MDC_VITALS: dict[int, Vital] = {
    147842: Vital.HR,  # MDC_ECG_HEART_RATE
    149530: Vital.PR,  # MDC_PULS_OXIM_PULS_RATE
    149514: Vital.PR,  # MDC_PULS_RATE
    149522: Vital.PR,  # MDC_BLD_PULS_RATE_INV (Comen labels it MDC_PULS_RATE)
    149546: Vital.PR,  # MDC_PULS_RATE_NON_INV (pulse from the NIBP cuff)
    150456: Vital.SPO2,  # MDC_PULS_OXIM_SAT_O2
    150021: Vital.SBP,  # MDC_PRESS_BLD_NONINV_SYS
    150022: Vital.DBP,  # MDC_PRESS_BLD_NONINV_DIA
    150023: Vital.MAP,  # MDC_PRESS_BLD_NONINV_MEAN
    150301: Vital.SBP,  # MDC_PRESS_CUFF_SYS
    150302: Vital.DBP,  # MDC_PRESS_CUFF_DIA
    150303: Vital.MAP,  # MDC_PRESS_CUFF_MEAN
    151562: Vital.RR,  # MDC_RESP_RATE
    151578: Vital.RR,  # MDC_TTHOR_RESP_RATE
    151570: Vital.RR,  # MDC_AWAY_RESP_RATE
    151586: Vital.RR,  # MDC_CO2_RESP_RATE
    # etCO2 is matched by its reference id only (MDC_AWAY_CO2_ET): its number
    # could not be confirmed from a primary source.
}

#: Reference ids (OBX-3.2) -> vital, for the cross-check and for rows whose
#: number is wrong but whose name is a known MDC reference id.
MDC_REFIDS: dict[str, Vital] = {
    "MDC_ECG_HEART_RATE": Vital.HR,
    "MDC_ECG_CARD_BEAT_RATE": Vital.HR,
    "MDC_PULS_OXIM_PULS_RATE": Vital.PR,
    "MDC_PULS_RATE": Vital.PR,
    "MDC_BLD_PULS_RATE_INV": Vital.PR,
    "MDC_PULS_RATE_NON_INV": Vital.PR,
    "MDC_PULS_OXIM_SAT_O2": Vital.SPO2,
    "MDC_PRESS_BLD_NONINV_SYS": Vital.SBP,
    "MDC_PRESS_BLD_NONINV_DIA": Vital.DBP,
    "MDC_PRESS_BLD_NONINV_MEAN": Vital.MAP,
    "MDC_PRESS_CUFF_SYS": Vital.SBP,
    "MDC_PRESS_CUFF_DIA": Vital.DBP,
    "MDC_PRESS_CUFF_MEAN": Vital.MAP,
    "MDC_RESP_RATE": Vital.RR,
    "MDC_TTHOR_RESP_RATE": Vital.RR,
    "MDC_AWAY_RESP_RATE": Vital.RR,
    "MDC_CO2_RESP_RATE": Vital.RR,
    "MDC_AWAY_CO2_ET": Vital.ETCO2,
    "MDC_CONC_AWAY_CO2_ET": Vital.ETCO2,
}

# Kinds of unit, each with the vitals it may carry and the factor to the canonical unit.
_PER_MIN = "per_min"
_PERCENT = "percent"
_FRACTION = "fraction"
_MMHG = "mmhg"
_KPA = "kpa"
_OTHER = "other"

KPA_TO_MMHG = 7.500615758

#: MDC unit codes (OBX-6.1) -> kind.
MDC_UNITS: dict[int, str] = {
    264864: _PER_MIN,  # MDC_DIM_BEAT_PER_MIN
    264928: _PER_MIN,  # MDC_DIM_RESP_PER_MIN
    264896: _PER_MIN,  # MDC_DIM_PER_MIN
    262688: _PERCENT,  # MDC_DIM_PERCENT
    262656: _FRACTION,  # MDC_DIM_DIMLESS
    266016: _MMHG,  # MDC_DIM_MMHG
    265987: _KPA,  # MDC_DIM_KILO_PASCAL
    # Known units of things that are not vitals: named so that a vital sent in
    # them is refused instead of read by its (possibly wrong) unit name.
    266418: _OTHER,  # MDC_DIM_MILLI_VOLT
    264640: _OTHER,  # MDC_DIM_HZ
    264608: _OTHER,  # MDC_DIM_PER_SEC
    268192: _OTHER,  # MDC_DIM_DEGC
    263441: _OTHER,  # MDC_DIM_CENTI_M
    263875: _OTHER,  # MDC_DIM_KILO_G
}

#: Unit names (OBX-6.1 or .2, MDC reference ids, UCUM, plain) -> kind; lower-cased, no spaces.
UNIT_NAMES: dict[str, str] = {
    "mdc_dim_beat_per_min": _PER_MIN,
    "mdc_dim_resp_per_min": _PER_MIN,
    "mdc_dim_per_min": _PER_MIN,
    "mdc_dim_percent": _PERCENT,
    "mdc_dim_dimless": _FRACTION,
    "mdc_dim_mmhg": _MMHG,
    "mdc_dim_kilo_pascal": _KPA,
    "bpm": _PER_MIN,
    "/min": _PER_MIN,
    "1/min": _PER_MIN,
    "min-1": _PER_MIN,
    "rpm": _PER_MIN,
    "brpm": _PER_MIN,
    "beats/min": _PER_MIN,
    "breaths/min": _PER_MIN,
    "{beats}/min": _PER_MIN,
    "{beat}/min": _PER_MIN,
    "{breaths}/min": _PER_MIN,
    "{breath}/min": _PER_MIN,
    "%": _PERCENT,
    "percent": _PERCENT,
    "1": _FRACTION,
    "{ratio}": _FRACTION,
    "mmhg": _MMHG,
    "mm[hg]": _MMHG,
    "mm(hg)": _MMHG,
    "kpa": _KPA,
}

_KIND_FOR: dict[Vital, dict[str, float]] = {
    Vital.HR: {_PER_MIN: 1.0},
    Vital.PR: {_PER_MIN: 1.0},
    Vital.RR: {_PER_MIN: 1.0},
    Vital.SPO2: {_PERCENT: 1.0, _FRACTION: 100.0},
    Vital.SBP: {_MMHG: 1.0, _KPA: KPA_TO_MMHG},
    Vital.DBP: {_MMHG: 1.0, _KPA: KPA_TO_MMHG},
    Vital.MAP: {_MMHG: 1.0, _KPA: KPA_TO_MMHG},
    Vital.ETCO2: {_MMHG: 1.0, _KPA: KPA_TO_MMHG},
}

#: Vitals whose unit is unambiguous, so a missing OBX-6 is accepted (a
#: pressure without a unit could be kPa or mmHg: refused).
_UNIT_OPTIONAL = frozenset({Vital.HR, Vital.PR, Vital.SPO2, Vital.RR})

#: Values devices send instead of "no value": never readings.
SENTINELS = frozenset({-100.0, 32767.0, -32768.0, 8388607.0, -8388608.0, 8388606.0, -8388606.0})


class CodeError(ValueError):
    """An observation that names a vital but cannot be taken in (mismatch, unit)."""


def mdc_number(code: str, system: str) -> int | None:
    """The MDC number of an OBX-3/OBX-6 code, or None when it is not one (MDIL ``0002-4182`` converted)."""
    if not code:
        return None
    if code.isdigit():
        return int(code) if system in ("", "MDC") or system.upper().startswith("MDC") else None
    if system.upper() == "MDIL" and len(code) == 9 and code[4] == "-":
        try:
            return int(code[:4]) * 65536 + int(code[5:], 16)
        except ValueError:
            return None
    return None


@dataclass(slots=True)
class CodeMap:
    """Resolves OBX-3 to a vital and OBX-6 to a conversion; local codes come from the configuration."""

    local: dict[str, Vital]

    @classmethod
    def from_config(cls, local_codes: Mapping[str, str] | None = None) -> CodeMap:
        """``local_codes`` maps ``"SYSTEM:CODE"`` (or just ``"CODE"``) to a vital key, e.g. ``{"99COMEN:2": "hr"}``."""
        local: dict[str, Vital] = {}
        for key, name in (local_codes or {}).items():
            try:
                local[key.strip().upper()] = Vital(name.strip().lower())
            except ValueError:
                raise ValueError(f"local code {key!r}: unknown vital {name!r}") from None
        return cls(local)

    def vital(self, code: str, refid: str, system: str) -> Vital | None:
        """The vital an OBX-3 names, None when it names something ivmon does not track.

        Raises :class:`CodeError` when the number and the reference id name two different vitals.
        """
        if self.local:
            hit = self.local.get(f"{system}:{code}".upper())
            if hit is None and system.upper() not in ("MDC", ""):
                hit = self.local.get(code.upper())
            if hit is not None:
                return hit
        number = mdc_number(code, system)
        by_code = MDC_VITALS.get(number) if number is not None else None
        by_name = MDC_REFIDS.get(refid.upper()) if refid.startswith(("MDC_", "mdc_")) else None
        if by_code is not None and by_name is not None and by_code is not by_name:
            raise CodeError(f"OBX-3 code {code} ({by_code.value}) disagrees with its name {refid} ({by_name.value})")
        # A known MDC name with an unknown number: the name is the standard's, the number a typo.
        return by_code or by_name

    @staticmethod
    def convert(vital: Vital, value: float, unit_code: str, unit_name: str, unit_system: str) -> float:
        """``value`` in ``vital``'s canonical unit, or :class:`CodeError` for a unit that does not fit."""
        kinds = _KIND_FOR[vital]
        kind: str | None = None
        number = mdc_number(unit_code, unit_system)
        if number is not None:
            kind = MDC_UNITS.get(number)
            named = UNIT_NAMES.get(unit_name.replace(" ", "").lower()) if unit_name else None
            if kind is not None and named is not None and named != kind:
                raise CodeError(f"unit code {unit_code} disagrees with its name {unit_name}")
            if kind is None:
                kind = named
        else:
            for text in (unit_code, unit_name):
                if text:
                    kind = UNIT_NAMES.get(text.replace(" ", "").lower())
                    if kind is not None:
                        break
        if kind is None:
            if not unit_code and not unit_name and vital in _UNIT_OPTIONAL:
                return value
            shown = unit_name or unit_code or "none"
            raise CodeError(f"unknown unit {shown!r} for {vital.value} (expected {CANONICAL_UNIT[vital]})")
        factor = kinds.get(kind)
        if factor is None:
            shown = unit_name or unit_code
            raise CodeError(f"unit {shown!r} does not fit {vital.value} (expected {CANONICAL_UNIT[vital]})")
        return value * factor if factor != 1.0 else value
