"""The ketamine dose actually given: from the infusion's rate and running time, unless a nurse entered it.

An infusion stopped early gave less than planned: rate (mg/h) x the time between the infusion's start
and its end (the next phase change, or now while it runs). A pump stops at the programmed amount, so
the computed dose never exceeds the planned dose. Without a rate (a bolus: IM, intranasal) the planned
dose counts as given once the infusion phase began. A nurse may enter another figure with a reason
(audited); the record prints both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.model import Phase, Session


@dataclass(frozen=True, slots=True)
class GivenDose:
    planned_mg: float | None
    planned_mg_per_kg: float | None
    computed_mg: float | None
    #: How ``computed_mg`` was found: "rate x time", "bolus (planned dose)", or "not started".
    computed_from: str
    given_mg: float | None
    given_mg_per_kg: float | None
    infusion_s: float | None
    #: The nurse's entry, when there is one (it wins over the computed figure).
    entered_by: str | None = None
    entered_at: float | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "planned_mg": self.planned_mg,
            "planned_mg_per_kg": self.planned_mg_per_kg,
            "computed_mg": self.computed_mg,
            "computed_from": self.computed_from,
            "given_mg": self.given_mg,
            "given_mg_per_kg": self.given_mg_per_kg,
            "infusion_s": self.infusion_s,
            "entered_by": self.entered_by,
            "entered_at": self.entered_at,
            "reason": self.reason,
        }


def per_kg(mg: float | None, weight_kg: float | None) -> float | None:
    return None if mg is None or not weight_kg else mg / weight_kg


def infusion_interval(session: Session, now: float) -> tuple[float, float] | None:
    """When the infusion ran: its start to the next phase change (or ``now`` while it runs)."""
    index = next((i for i, c in enumerate(session.phases) if c.phase == Phase.INFUSION), None)
    if index is None:
        return None
    later = session.phases[index + 1 :]
    return session.phases[index].ts, later[0].ts if later else now


def given_dose(session: Session, now: float, entered: dict[str, Any] | None = None) -> GivenDose:
    """The dose given so far (``entered``: the stored row of a nurse's entry, if any)."""
    interval = infusion_interval(session, now)
    running = None if interval is None else max(0.0, interval[1] - interval[0])
    computed: float | None = None
    source = "not started"
    if interval is not None:
        if session.rate_mg_per_h:
            computed = session.rate_mg_per_h * (running or 0.0) / 3600.0
            if session.dose_mg is not None:
                computed = min(computed, session.dose_mg)
            source = "rate x time"
        elif session.dose_mg is not None:
            computed, source = session.dose_mg, "bolus (planned dose)"
    given = computed if entered is None else float(entered["dose_mg"])
    return GivenDose(
        planned_mg=session.dose_mg,
        planned_mg_per_kg=per_kg(session.dose_mg, session.weight_kg),
        computed_mg=None if computed is None else round(computed, 2),
        computed_from=source,
        given_mg=None if given is None else round(given, 2),
        given_mg_per_kg=None if given is None else _round(per_kg(given, session.weight_kg), 3),
        infusion_s=running,
        entered_by=None if entered is None else entered["user"],
        entered_at=None if entered is None else entered["ts"],
        reason=None if entered is None else entered["reason"],
    )


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)
