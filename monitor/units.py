"""Unit normalisation on entry: every stored value is in its vital's canonical unit.

Unknown units are refused, never guessed (spec/interfaces.md).
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.model import CANONICAL_UNIT, Vital

KPA_TO_MMHG = 7.500615758

_identity: Callable[[float], float] = float


def _pct_from_fraction(v: float) -> float:
    return v * 100.0


def _mmhg_from_kpa(v: float) -> float:
    return v * KPA_TO_MMHG


# Spellings devices use, by kind of quantity (lower-cased, spaces removed).
_RATE = {
    "bpm": _identity,
    "/min": _identity,
    "1/min": _identity,
    "beats/min": _identity,
    "{beats}/min": _identity,
    "{beat}/min": _identity,
    "min-1": _identity,
    "/mn": _identity,
}
_BREATHS = {
    "/min": _identity,
    "1/min": _identity,
    "rpm": _identity,
    "brpm": _identity,
    "breaths/min": _identity,
    "{breaths}/min": _identity,
    "{breath}/min": _identity,
    "bpm": _identity,
    "min-1": _identity,
    "br/m": _identity,  # Welch Allyn Connectivity Server's unit tag (docs/hl7-codes.md)
}
_PERCENT = {
    "%": _identity,
    "percent": _identity,
    "pct": _identity,
    "fraction": _pct_from_fraction,
    "1": _pct_from_fraction,
    "{fraction}": _pct_from_fraction,
}
_PRESSURE = {"mmhg": _identity, "mm[hg]": _identity, "mm(hg)": _identity, "kpa": _mmhg_from_kpa}

_CONVERTERS: dict[Vital, dict[str, Callable[[float], float]]] = {
    Vital.HR: _RATE,
    Vital.PR: _RATE,
    Vital.SPO2: _PERCENT,
    Vital.SBP: _PRESSURE,
    Vital.DBP: _PRESSURE,
    Vital.MAP: _PRESSURE,
    Vital.ETCO2: _PRESSURE,
    Vital.RR: _BREATHS,
}


class UnitError(ValueError):
    """A value whose unit cannot be converted to the vital's canonical unit."""


def converter(vital: Vital, unit: str) -> Callable[[float], float]:
    """The function turning a value in ``unit`` into ``vital``'s canonical unit."""
    key = unit.replace(" ", "").lower()
    try:
        return _CONVERTERS[vital][key]
    except KeyError:
        raise UnitError(f"unknown unit {unit!r} for {vital.value} (expected {CANONICAL_UNIT[vital]})") from None


def to_canonical(vital: Vital, value: float, unit: str) -> float:
    return converter(vital, unit)(value)
