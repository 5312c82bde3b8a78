"""What happens to one simulated patient: phases, resting baseline, ketamine response, events.

A plan is drawn from realistic distributions (``draw_routine_plan``), changed
by a scenario (``simulators.scenarios``) and then rendered second by second by
``simulators.physiology``. Keeping the three apart lets a scenario say *what*
happens without knowing *how* a monitor would show it.

Figures (``../shared/research/clinical.md`` section 4, all synthetic here):
0.5 mg/kg over 40 min raises systolic pressure by +16.0 mmHg (SD 11.2) and
diastolic by +11.0 (SD 8.5) at a peak near 40 min (Yale 2024); pulse +1.9 bpm
(Liu 2019); back to baseline within about 1.5 h (Gdańsk 2020).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

MINUTE = 60


@dataclass(frozen=True, slots=True)
class Baseline:
    """The patient's resting values before any drug."""

    hr: float
    sbp: float
    dbp: float
    spo2: float


@dataclass(frozen=True, slots=True)
class Response:
    """The ketamine response: rises reached at the end of the infusion and their time constants."""

    sbp_rise: float
    dbp_rise: float
    hr_rise: float
    onset_tau_s: float  # rise towards the peak during the infusion
    offset_tau_s: float  # return towards baseline after the infusion stops


@dataclass(frozen=True, slots=True)
class Desaturation:
    """SpO2 falls to ``nadir``, stays there ``hold_s``, then recovers (times in session seconds)."""

    start: int
    fall_s: int
    hold_s: int
    rise_s: int
    nadir: float


@dataclass(frozen=True, slots=True)
class HeartRateEpisode:
    """Heart rate moves to ``target`` bpm and back (a tachycardia or a vasovagal bradycardia)."""

    start: int
    ramp_s: int
    hold_s: int
    target: float


@dataclass(frozen=True, slots=True)
class SensorOff:
    """The oximeter probe is off: no SpO2 and no pulse rate, the device says so."""

    start: int
    duration_s: int


@dataclass(frozen=True, slots=True)
class Spike:
    """One implausible value shown for one second (motion, a loose lead)."""

    at: int
    vital: str  # "hr" | "pr" | "spo2"
    value: float


@dataclass(frozen=True, slots=True)
class CuffArtefact:
    """The next NIBP measurement at or after ``after`` reads these implausible values."""

    after: int
    sbp: float
    dbp: float


Event = Desaturation | HeartRateEpisode | SensorOff | Spike | CuffArtefact


@dataclass(frozen=True, slots=True)
class SessionPlan:
    kind: str  # the scenario that shaped it (``mixed`` resolves to one of the others)
    baseline_s: int
    infusion_s: int
    recovery_s: int
    baseline: Baseline
    response: Response
    events: tuple[Event, ...] = ()
    #: The protocol template the session follows (monitor/protocols) and the patient's weight.
    protocol: str = "iv-ketamine-depression"
    weight_kg: float = 70.0
    #: Seconds from the drug's start to the peak of the response when it does not peak at the end of
    #: the infusion (intranasal esketamine: near 40 min; an IM injection: near 20 min); None: at the end.
    peak_after_start_s: int | None = None

    @property
    def infusion_start(self) -> int:
        return self.baseline_s

    @property
    def infusion_end(self) -> int:
        return self.baseline_s + self.infusion_s

    @property
    def discharge_at(self) -> int:
        return self.baseline_s + self.infusion_s + self.recovery_s


def _truncated_normal(rng: np.random.Generator, mean: float, sd: float, low: float, high: float) -> float:
    """A normal draw truncated to [low, high] (redrawn, so no pile-up at the bounds)."""
    for _ in range(64):
        value = float(rng.normal(mean, sd))
        if low <= value <= high:
            return value
    return float(np.clip(value, low, high))


def draw_baseline(rng: np.random.Generator) -> Baseline:
    """Adults at rest before an outpatient infusion: normotensive to mildly hypertensive."""
    sbp = _truncated_normal(rng, 123.0, 12.0, 110.0, 148.0)
    # Diastolic correlates with systolic; keep a pulse pressure a cuff would really show.
    dbp = float(np.clip(0.5 * sbp + 16.0 + rng.normal(0.0, 6.0), 60.0, min(90.0, sbp - 28.0)))
    return Baseline(
        hr=_truncated_normal(rng, 74.0, 10.0, 60.0, 95.0),
        sbp=sbp,
        dbp=dbp,
        spo2=_truncated_normal(rng, 97.6, 0.9, 95.0, 99.4),
    )


def draw_response(rng: np.random.Generator) -> Response:
    """A routine response: the literature's mean rise, its tail trimmed below the bp-rise rule (+40)."""
    sbp_rise = _truncated_normal(rng, 16.0, 9.0, -2.0, 30.0)
    return Response(
        sbp_rise=sbp_rise,
        dbp_rise=sbp_rise * (11.0 / 16.0) * _truncated_normal(rng, 1.0, 0.15, 0.6, 1.4),
        hr_rise=_truncated_normal(rng, 2.0, 3.0, -2.0, 8.0),
        onset_tau_s=_truncated_normal(rng, 15.0, 3.0, 8.0, 25.0) * MINUTE,
        offset_tau_s=_truncated_normal(rng, 22.0, 5.0, 12.0, 35.0) * MINUTE,
    )


def draw_routine_plan(rng: np.random.Generator) -> SessionPlan:
    """Baseline about 10 min, a 40 min infusion, recovery 35-60 min, no event.

    A routine peak stays below the severe limits (180/110) with room for
    drift and cuff error: those sessions are the ``hypertensive`` scenario.
    """
    baseline = draw_baseline(rng)
    response = draw_response(rng)
    response = replace(
        response,
        sbp_rise=min(response.sbp_rise, 165.0 - baseline.sbp),
        dbp_rise=min(response.dbp_rise, 100.0 - baseline.dbp),
    )
    baseline_s = int(rng.integers(8, 13)) * MINUTE
    recovery_s = int(rng.integers(35, 61)) * MINUTE
    # Drawn last: every draw above is the same as before weights were drawn (seeded traces keep).
    weight = round(_truncated_normal(rng, 76.0, 14.0, 48.0, 125.0), 1)
    return SessionPlan(
        kind="routine",
        baseline_s=baseline_s,
        infusion_s=40 * MINUTE,
        recovery_s=recovery_s,
        baseline=baseline,
        response=response,
        weight_kg=weight,
    )
