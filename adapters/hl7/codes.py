"""Observation codes and units -> vitals in canonical units.

Keyed on the numeric IEEE 11073 MDC code (partition * 65536 + term code) and
cross-checked with the reference id, because wrong code/name pairs circulate in
public code and devices (``research/hl7.md``, "Wrong codes circulate").
Philips MDIL codes (``0002-4182``) are the same numbers written as
``partition-hexterm``, except Philips' own terms (:mod:`adapters.hl7.vendor_codes`).
Other local code systems come from the configuration (``[hl7] local_codes``).
Sources of every code: ``docs/hl7-codes.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from adapters.hl7.label_codes import WAP, names_invasive_pressure, pds_known, pds_vital, wap_known, wap_vital
from adapters.hl7.mdc_known import MDC_KNOWN
from adapters.hl7.vendor_codes import (
    MDIL_KNOWN,
    MDIL_VITALS,
    PULSE_LABEL_WORDS,
    PULSE_LABELS,
    REFID_KNOWN_PREFIXES,
    mdil_key,
)
from monitor.model import CANONICAL_UNIT, NIBP_VITALS, Vital
from monitor.units import UnitError, converter

#: MDC numeric codes of the vitals ivmon tracks. Invasive arterial pressures
#: (150033-150035) are deliberately absent: the spec's sbp/dbp/map are cuff
#: pressures, and mixing them would defeat the NIBP-overdue alarm.
MDC_VITALS: dict[int, Vital] = {
    147842: Vital.HR,  # MDC_ECG_HEART_RATE
    149514: Vital.PR,  # MDC_PULS_RATE
    149522: Vital.PR,  # MDC_BLD_PULS_RATE_INV: the arterial line's pulse (Comen labels it MDC_PULS_RATE)
    149530: Vital.PR,  # MDC_PULS_OXIM_PULS_RATE: the oximeter's pulse
    149538: Vital.PR,  # MDC_PLETH_PULS_RATE: pulse from the pleth (Philips "Pulse (SpO2)", 0002-4822)
    149546: Vital.PR,  # MDC_PULS_RATE_NON_INV: pulse from the NIBP cuff
    150456: Vital.SPO2,  # MDC_PULS_OXIM_SAT_O2
    150460: Vital.SPO2,  # MDC_PULS_OXIM_SAT_O2_CTS (continuous)
    150464: Vital.SPO2,  # MDC_PULS_OXIM_SAT_O2_NONCTS (spot check)
    150472: Vital.SPO2,  # MDC_PULS_OXIM_SAT_O2_ART_LEFT: a second sensor
    150476: Vital.SPO2,  # MDC_PULS_OXIM_SAT_O2_ART_RIGHT: a second sensor
    150021: Vital.SBP,  # MDC_PRESS_BLD_NONINV_SYS
    150022: Vital.DBP,  # MDC_PRESS_BLD_NONINV_DIA
    150023: Vital.MAP,  # MDC_PRESS_BLD_NONINV_MEAN
    150301: Vital.SBP,  # MDC_PRESS_CUFF_SYS
    150302: Vital.DBP,  # MDC_PRESS_CUFF_DIA
    150303: Vital.MAP,  # MDC_PRESS_CUFF_MEAN
    151562: Vital.RR,  # MDC_RESP_RATE
    151570: Vital.RR,  # MDC_AWAY_RESP_RATE
    151578: Vital.RR,  # MDC_TTHOR_RESP_RATE (impedance)
    151594: Vital.RR,  # MDC_CO2_RESP_RATE (capnograph); 151586 is the ventilator's rate, not tracked
    151650: Vital.RR,  # MDC_ACOUSTIC_RESP_RATE (Masimo RRa)
    151658: Vital.RR,  # MDC_PULS_OXIM_PLETH_RESP_RATE (Masimo RRp)
    151708: Vital.ETCO2,  # MDC_CONC_AWAY_CO2_ET
    151728: Vital.ETCO2,  # MDC_AWAY_CO2_ET
}

#: Reference ids (OBX-3.2) -> vital, for the cross-check and for rows whose
#: number is wrong but whose name is a known MDC reference id.
MDC_REFIDS: dict[str, Vital] = {
    "MDC_ECG_HEART_RATE": Vital.HR,
    "MDC_ECG_CARD_BEAT_RATE": Vital.HR,
    "MDC_PULS_RATE": Vital.PR,
    "MDC_BLD_PULS_RATE_INV": Vital.PR,
    "MDC_PULS_OXIM_PULS_RATE": Vital.PR,
    "MDC_PLETH_PULS_RATE": Vital.PR,
    "MDC_PULS_RATE_NON_INV": Vital.PR,
    "MDC_PULS_OXIM_SAT_O2": Vital.SPO2,
    "MDC_PULS_OXIM_SAT_O2_CTS": Vital.SPO2,
    "MDC_PULS_OXIM_SAT_O2_NONCTS": Vital.SPO2,
    "MDC_PULS_OXIM_SAT_O2_ART_LEFT": Vital.SPO2,
    "MDC_PULS_OXIM_SAT_O2_ART_RIGHT": Vital.SPO2,
    "MDC_PRESS_BLD_NONINV_SYS": Vital.SBP,
    "MDC_PRESS_BLD_NONINV_DIA": Vital.DBP,
    "MDC_PRESS_BLD_NONINV_MEAN": Vital.MAP,
    "MDC_PRESS_CUFF_SYS": Vital.SBP,
    "MDC_PRESS_CUFF_DIA": Vital.DBP,
    "MDC_PRESS_CUFF_MEAN": Vital.MAP,
    "MDC_RESP_RATE": Vital.RR,
    "MDC_AWAY_RESP_RATE": Vital.RR,
    "MDC_TTHOR_RESP_RATE": Vital.RR,
    "MDC_CO2_RESP_RATE": Vital.RR,
    "MDC_ACOUSTIC_RESP_RATE": Vital.RR,
    "MDC_PULS_OXIM_PLETH_RESP_RATE": Vital.RR,
    "MDC_CONC_AWAY_CO2_ET": Vital.ETCO2,
    "MDC_AWAY_CO2_ET": Vital.ETCO2,
}

#: MDC unit codes (OBX-6.1) -> the spelling :mod:`monitor.units` converts from;
#: "" marks known units of things that are not vitals, so that a vital sent in
#: them is refused instead of read by its (possibly wrong) unit name.
MDC_UNITS: dict[int, str] = {
    264864: "bpm",  # MDC_DIM_BEAT_PER_MIN
    264928: "/min",  # MDC_DIM_RESP_PER_MIN
    264896: "/min",  # MDC_DIM_PER_MIN
    262688: "%",  # MDC_DIM_PERCENT
    262656: "fraction",  # MDC_DIM_DIMLESS
    266016: "mmHg",  # MDC_DIM_MMHG
    265987: "kPa",  # MDC_DIM_KILO_PASCAL
    266418: "",  # MDC_DIM_MILLI_VOLT
    264640: "",  # MDC_DIM_HZ
    264608: "",  # MDC_DIM_PER_SEC
    268192: "",  # MDC_DIM_DEGC
    263441: "",  # MDC_DIM_CENTI_M
    263875: "",  # MDC_DIM_KILO_G
}

#: MDC unit reference ids (OBX-6.2) -> spelling, for the cross-check with the number.
MDC_UNIT_NAMES: dict[str, str] = {
    "MDC_DIM_BEAT_PER_MIN": "bpm",
    "MDC_DIM_RESP_PER_MIN": "/min",
    "MDC_DIM_PER_MIN": "/min",
    "MDC_DIM_PERCENT": "%",
    "MDC_DIM_DIMLESS": "fraction",
    "MDC_DIM_MMHG": "mmHg",
    "MDC_DIM_KILO_PASCAL": "kPa",
    "MDC_DIM_MILLI_VOLT": "",
    "MDC_DIM_HZ": "",
    "MDC_DIM_PER_SEC": "",
    "MDC_DIM_DEGC": "",
    "MDC_DIM_CENTI_M": "",
    "MDC_DIM_KILO_G": "",
}

Converter = Callable[[float], float]

#: Vitals whose unit is unambiguous, so a missing OBX-6 is accepted (a
#: pressure without a unit could be kPa or mmHg: refused).
_UNIT_OPTIONAL = frozenset({Vital.HR, Vital.PR, Vital.SPO2, Vital.RR})

#: Values devices send instead of "no value": never readings.
SENTINELS = frozenset({-100.0, 32767.0, -32768.0, 8388607.0, -8388608.0, 8388606.0, -8388606.0})


def _says_pulse(label: str) -> bool:
    upper = label.strip().upper()
    return upper in PULSE_LABELS or any(word in upper for word in PULSE_LABEL_WORDS)


class CodeError(ValueError):
    """An observation that names a vital but cannot be taken in (mismatch, unit)."""


def mdc_number(code: str, system: str) -> int | None:
    """The MDC number of an OBX-3/OBX-6 code, or None when it is not one (MDIL ``0002-4182`` converted)."""
    if not code:
        return None
    if code.isascii() and code.isdigit():  # not str.isdigit alone: '²' is a digit int() refuses
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
    #: Local codes the configuration marks as not vitals ("-").
    ignored: frozenset[str] = frozenset()
    _memo: dict[tuple[str, str, str], tuple[Vital | None, Converter, str]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, local_codes: Mapping[str, str] | None = None) -> CodeMap:
        """``local_codes`` maps ``"SYSTEM:CODE"`` (or just ``"CODE"``) to a vital key, e.g. ``{"99COMEN:2": "hr"}``;
        ``"-"`` marks a code known not to be a vital (the integrator's view then stops flagging it)."""
        local: dict[str, Vital] = {}
        ignored: set[str] = set()
        for key, name in (local_codes or {}).items():
            if name.strip() == "-":
                ignored.add(key.strip().upper())
                continue
            try:
                local[key.strip().upper()] = Vital(name.strip().lower())
            except ValueError:
                raise ValueError(f"local code {key!r}: unknown vital {name!r} (or '-' for not a vital)") from None
        return cls(local, frozenset(ignored))

    def vital(self, code: str, refid: str, system: str) -> Vital | None:
        """The vital an OBX-3 names, None when it names something ivmon does not track.

        Raises :class:`CodeError` when the number and the reference id name two different vitals.
        """
        found = self._vital(code, refid, system)
        if found in NIBP_VITALS and names_invasive_pressure(refid):
            # Whatever the number or a local mapping says: a row named as an arterial, venous or
            # other invasive pressure is never the cuff (research/hl7.md: wrong pairs circulate).
            raise CodeError(
                f"OBX-3 {code} is named {refid!r}, an invasive pressure: never read as NIBP ({found.value})"
            )
        if found is Vital.HR and _says_pulse(refid):
            # A pulse rate sent under a heart-rate code ("HR_Pulse", "Pulse"): it counts pulses
            # at a sensor, not the ECG's beats, so it is pr (the alarm rules treat pr as hr anyway).
            return Vital.PR
        return found

    def _vital(self, code: str, refid: str, system: str) -> Vital | None:
        if self.local or self.ignored:
            if self._local_key(code, system) in self.ignored:
                return None
            hit = self.local.get(f"{system}:{code}".upper())
            if hit is None and system.upper() not in ("MDC", ""):
                hit = self.local.get(code.upper())
            if hit is not None:
                return hit
        upper_system = system.upper()
        if upper_system == "MDIL":
            vendor = MDIL_VITALS.get(mdil_key(code))
            if vendor is not None:
                return vendor
            if mdil_key(code) in MDIL_KNOWN:
                return None
        elif upper_system == WAP:
            return wap_vital(code)
        elif not upper_system:
            pds = pds_vital(code, refid)
            if pds is not None or pds_known(code, refid):
                return pds
        number = mdc_number(code, system)
        by_code = MDC_VITALS.get(number) if number is not None else None
        by_name = MDC_REFIDS.get(refid.upper()) if refid.startswith(("MDC_", "mdc_")) else None
        if by_code is not None and by_name is not None and by_code is not by_name:
            raise CodeError(f"OBX-3 code {code} ({by_code.value}) disagrees with its name {refid} ({by_name.value})")
        if by_code is None and by_name is not None and number in MDC_KNOWN:
            # The number is a known other quantity (150031 is an aortic pressure): the number decides.
            raise CodeError(
                f"OBX-3 code {code} ({MDC_KNOWN[number]}) disagrees with its name {refid} ({by_name.value})"
            )
        # A known MDC name with an unknown number: the name is the standard's, the number a typo.
        return by_code or by_name

    def _local_key(self, code: str, system: str) -> str:
        """The configured key a code matches among the ignored ones ("SYSTEM:CODE" first, then "CODE")."""
        full = f"{system}:{code}".upper()
        if full in self.ignored or system.upper() in ("MDC", ""):
            return full
        return code.upper()

    def known(self, code: str, refid: str, system: str) -> str:
        """What a code ivmon does not take is, when the tables know it ("" when they do not)."""
        if self._local_key(code, system) in self.ignored:
            return "marked not a vital in [hl7] local_codes"
        if system.upper() == "MDIL" and mdil_key(code) in MDIL_KNOWN:
            return MDIL_KNOWN[mdil_key(code)]
        if system.upper() == WAP:
            return wap_known(code)
        if not system and pds_known(code, refid):
            return pds_known(code, refid)
        number = mdc_number(code, system)
        if number is not None and number in MDC_KNOWN:
            return MDC_KNOWN[number]
        upper = refid.upper()
        known = next((what for prefix, what in REFID_KNOWN_PREFIXES if upper.startswith(prefix)), "")
        if not known and names_invasive_pressure(refid):
            # An unmapped "ART-S" or "IBP1 Sys" is not a vital to map: it could only be refused as NIBP.
            known = "invasive pressure (by its name)"
        return known

    @staticmethod
    def convert(vital: Vital, value: float, unit_code: str, unit_name: str, unit_system: str) -> float:
        """``value`` in ``vital``'s canonical unit, or :class:`CodeError` for a unit that does not fit."""
        return CodeMap.converter(vital, unit_code, unit_name, unit_system)(value)

    @staticmethod
    def converter(vital: Vital, unit_code: str, unit_name: str, unit_system: str) -> Converter:
        """OBX-6 -> the conversion to ``vital``'s canonical unit (by :mod:`monitor.units`), or :class:`CodeError`."""
        number = mdc_number(unit_code, unit_system)
        by_code = MDC_UNITS.get(number) if number is not None else None
        by_name = MDC_UNIT_NAMES.get(unit_name.upper()) if unit_name else None
        if by_code is not None and by_name is not None and by_code != by_name:
            raise CodeError(f"unit code {unit_code} disagrees with its name {unit_name}")
        spelling = by_code if by_code is not None else by_name
        shown = unit_name or unit_code
        if spelling is None:
            # Not an MDC unit: UCUM or plain text ("mm[Hg]", "bpm"), as monitor.units knows them.
            spelling = next((t for t in (unit_code, unit_name) if t and not (t.isascii() and t.isdigit())), None)
            if spelling is None:
                if not shown and vital in _UNIT_OPTIONAL:
                    return float
                raise CodeError(
                    f"unknown unit {shown or 'none'!r} for {vital.value} (expected {CANONICAL_UNIT[vital]})"
                )
            try:
                return converter(vital, spelling)
            except UnitError as exc:
                raise CodeError(str(exc)) from None
        try:
            if spelling:
                return converter(vital, spelling)
        except UnitError:
            pass
        raise CodeError(f"unit {shown!r} does not fit {vital.value} (expected {CANONICAL_UNIT[vital]})")

    def row(self, obx3: str, obx6: str, component: str) -> tuple[Vital | None, Converter, str]:
        """(vital, unit conversion, error) for the raw OBX-3 and OBX-6 of a numeric row, memoised.

        A code error comes with no vital; a unit error with the vital (the row is
        refused only if it holds a value).

        A monitor repeats the same dozen code/unit pairs in every message, so
        the hot path is one dict lookup per row. The memo is bounded: random
        input (a fuzzer, a broken sender) cannot grow it without limit.
        """
        key = (obx3, obx6, component)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        c = obx3.split(component)
        result: tuple[Vital | None, Converter, str]
        try:
            vital = self.vital(c[0].strip(), c[1].strip() if len(c) > 1 else "", c[2].strip() if len(c) > 2 else "")
            if (
                vital is None
                and len(c) > 5
                and c[5].strip().upper() == "MDC"
                and self._local_key(c[0].strip(), c[2].strip() if len(c) > 2 else "") not in self.ignored
            ):
                # CWE alternate identifier: IHE PCD's examples put LOINC first and MDC second
                # (8889-8^Heart Rate by Oximetry^LN^149530^MDC_PULS_OXIM_PULS_RATE^MDC).
                vital = self.vital(c[3].strip(), c[4].strip(), "MDC")
        except CodeError as exc:
            result = (None, float, str(exc))
        else:
            result = (vital, float, "")
            if vital is not None:
                u = obx6.split(component)
                try:
                    conv = self.converter(
                        vital, u[0].strip(), u[1].strip() if len(u) > 1 else "", u[2].strip() if len(u) > 2 else ""
                    )
                    result = (vital, conv, "")
                except CodeError as exc:  # reported only if the row has a value
                    result = (vital, float, str(exc))
        if len(self._memo) >= 4096:
            self._memo.clear()
        self._memo[key] = result
        return result
