"""Discharge readiness (advisory, never automatic), as spec/alarms.md defines it.

All of: at least 30 min since the infusion stopped; the last two NIBP readings
with sbp and dbp within 20 % of baseline; hr within 20 % of baseline (median of
the last 5 min); spo2 >= 92 % (median of the last 5 min); no active alarm.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from monitor.model import Alarm, AlarmState, Phase, Session, Vital

MIN_RECOVERY_S = 30 * 60.0
WITHIN = 0.20
RECENT_S = 5 * 60.0
SPO2_MIN = 92.0

#: (vital, start) -> [(ts, value)] of the session's valid readings of that vital from ``start``, oldest first.
Series = Callable[[Vital, float], list[tuple[float, float]]]


@dataclass(slots=True, frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _near(value: float, base: float | None) -> bool:
    return base is not None and base > 0 and abs(value - base) <= WITHIN * base


def readiness(
    session: Session,
    now: float,
    series: Series,
    baseline: Callable[[Vital], float | None],
    alarms: Iterable[Alarm],
) -> list[Check]:
    checks: list[Check] = []
    stopped = session.phase_started(Phase.RECOVERY)
    if stopped is None:
        checks.append(Check("recovery", False, "infusion not stopped yet"))
    else:
        mins = (now - stopped) / 60.0
        checks.append(Check("recovery", mins >= MIN_RECOVERY_S / 60, f"{mins:.0f} of 30 min since infusion stop"))

    ok_bp, detail = True, []
    for vital in (Vital.SBP, Vital.DBP):
        last = series(vital, session.started)[-2:]
        base = baseline(vital)
        if len(last) < 2 or base is None:
            ok_bp = False
            detail.append(f"{vital.value}: {'no baseline' if base is None else 'fewer than 2 readings'}")
            continue
        near = all(_near(v, base) for _, v in last)
        ok_bp &= near
        detail.append(f"{vital.value} {'/'.join(f'{v:.0f}' for _, v in last)} vs {base:.0f}")
    checks.append(Check("nibp", ok_bp, "; ".join(detail)))

    hr_vital = Vital.HR
    recent_hr = [v for _, v in series(Vital.HR, now - RECENT_S)]
    if not recent_hr:
        hr_vital, recent_hr = Vital.PR, [v for _, v in series(Vital.PR, now - RECENT_S)]
    base_hr = baseline(Vital.HR) if baseline(Vital.HR) is not None else baseline(Vital.PR)
    if recent_hr and base_hr is not None:
        med = statistics.median(recent_hr)
        checks.append(Check("hr", _near(med, base_hr), f"{hr_vital.value} median {med:.0f} vs baseline {base_hr:.0f}"))
    else:
        checks.append(Check("hr", False, "no recent heart rate" if not recent_hr else "no heart-rate baseline"))

    recent_spo2 = [v for _, v in series(Vital.SPO2, now - RECENT_S)]
    if recent_spo2:
        med = statistics.median(recent_spo2)
        checks.append(Check("spo2", med >= SPO2_MIN, f"median {med:.0f} % (needs >= 92)"))
    else:
        checks.append(Check("spo2", False, "no recent SpO2"))

    active = [a for a in alarms if a.bed == session.bed and a.state != AlarmState.RESOLVED]
    checks.append(Check("alarms", not active, f"{len(active)} active alarm(s)" if active else "none active"))
    return checks


def readiness_json(session: Session, checks: list[Check]) -> dict[str, Any]:
    return {
        "session": session.id,
        "bed": session.bed,
        "ready": all(c.ok for c in checks),
        "advisory": "advisory only: the nurse decides and confirms the escort",
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
    }
