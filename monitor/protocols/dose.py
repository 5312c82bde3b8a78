"""The dose arithmetic a nurse checks before starting: mg/kg x kg = mg, over the planned time = mg/h.

Shown with the numbers it used ("0.5 mg/kg x 70 kg = 35 mg over 40 min = 52.5 mg/h") so the
nurse reads the calculation, not only its result.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.protocols.model import Protocol

_ROUTE = {"iv": "IV", "im": "IM", "intranasal": "intranasal"}


class DoseError(ValueError):
    """A dose the protocol does not allow (outside its range, per kg for a fixed dose, ...)."""


@dataclass(frozen=True, slots=True)
class DosePlan:
    dose_mg: float | None
    rate_mg_per_h: float | None
    dose_mg_per_kg: float | None
    infusion_min: float
    #: The calculation in words (empty when there is nothing to calculate: no weight for a per-kg dose).
    arithmetic: str


def _n(value: float) -> str:
    """A figure as a nurse writes it: no trailing zeros (35, 52.5, 0.35)."""
    return f"{round(value, 2):g}"


def plan_dose(
    protocol: Protocol,
    *,
    weight_kg: float | None,
    dose_mg_per_kg: float | None = None,
    dose_mg: float | None = None,
    infusion_min: float | None = None,
) -> DosePlan:
    """The dose and rate of a session of ``protocol`` (the template's defaults where not given).

    A per-kg protocol needs the weight to give a dose in mg; without it the dose per kg is kept
    and mg and rate stay unknown. A fixed-dose protocol (esketamine) takes one of its doses in mg.
    """
    dose = protocol.dose
    infusion = protocol.phase("infusion")
    assert infusion is not None  # every template plans the three open phases
    minutes = infusion.planned_min if infusion_min is None else infusion_min
    route = _ROUTE[protocol.route]
    if dose.mode == "fixed":
        if dose_mg_per_kg is not None:
            raise DoseError(f"{protocol.id} has a fixed dose ({_doses(dose.fixed_mg)} mg), not a dose per kg")
        mg = dose.fixed_mg[0] if dose_mg is None else dose_mg
        if mg not in dose.fixed_mg:
            raise DoseError(f"{protocol.id}: dose {_n(mg)} mg is not one of {_doses(dose.fixed_mg)} mg")
        per_kg = mg / weight_kg if weight_kg else None
        return DosePlan(mg, None, per_kg, minutes, f"{_n(mg)} mg {route} (fixed dose)")
    assert dose.default_mg_per_kg is not None and dose.min_mg_per_kg is not None and dose.max_mg_per_kg is not None
    per_kg = dose.default_mg_per_kg if dose_mg_per_kg is None else dose_mg_per_kg
    if not dose.min_mg_per_kg <= per_kg <= dose.max_mg_per_kg:
        raise DoseError(
            f"{protocol.id}: {_n(per_kg)} mg/kg is outside the protocol's "
            f"{_n(dose.min_mg_per_kg)}-{_n(dose.max_mg_per_kg)} mg/kg"
        )
    if weight_kg is None:
        return DosePlan(None, None, per_kg, minutes, "")
    mg = round(per_kg * weight_kg, 2)  # the dose as written on the record and the pump
    if dose.bolus:
        return DosePlan(
            round(mg, 2), None, per_kg, minutes, f"{_n(per_kg)} mg/kg x {_n(weight_kg)} kg = {_n(mg)} mg {route}"
        )
    rate = mg / minutes * 60.0
    text = f"{_n(per_kg)} mg/kg x {_n(weight_kg)} kg = {_n(mg)} mg over {_n(minutes)} min = {_n(rate)} mg/h"
    return DosePlan(round(mg, 2), round(rate, 2), per_kg, minutes, text)


def _doses(values: list[float]) -> str:
    return " or ".join(_n(v) for v in values)


def session_arithmetic(
    protocol: Protocol,
    weight_kg: float | None,
    dose_mg_per_kg: float | None,
    dose_mg: float | None,
    rate_mg_per_h: float | None,
) -> str:
    """The calculation of a started session, from what it recorded (its rate may set another infusion time)."""
    route = _ROUTE[protocol.route]
    if dose_mg is None:
        return ""
    if protocol.dose.mode == "fixed":
        return f"{_n(dose_mg)} mg {route} (fixed dose)"
    head = f"{_n(dose_mg_per_kg)} mg/kg x {_n(weight_kg)} kg = " if dose_mg_per_kg and weight_kg else ""
    if protocol.dose.bolus or not rate_mg_per_h:
        return f"{head}{_n(dose_mg)} mg {route}"
    minutes = dose_mg / rate_mg_per_h * 60.0
    return f"{head}{_n(dose_mg)} mg over {_n(minutes)} min = {_n(rate_mg_per_h)} mg/h"
