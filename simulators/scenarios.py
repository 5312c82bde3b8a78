"""Named scenarios: how a routine patient's plan is changed to produce an event.

Each scenario takes the patient's routine plan (same person in every
scenario for a given seed and patient number) and the scenario's own random
stream, and returns the plan to render. The event thresholds are chosen to
cross the clinic's default rules in ``../shared/spec/alarms.md`` with margin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from simulators.plan import (
    MINUTE,
    Baseline,
    CuffArtefact,
    Desaturation,
    HeartRateEpisode,
    SensorOff,
    SessionPlan,
    Spike,
)

Shape = Callable[[SessionPlan, np.random.Generator], SessionPlan]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str  # one line, shown by ``ivmon simulate --list``
    shape: Shape


class UnknownScenario(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")


def _at(rng: np.random.Generator, low: int, high: int) -> int:
    """A whole second in [low, high]."""
    return int(rng.integers(low, max(low, high) + 1))


def _routine(plan: SessionPlan, rng: np.random.Generator) -> SessionPlan:
    return replace(plan, kind="routine")


def _hypertensive(plan: SessionPlan, rng: np.random.Generator) -> SessionPlan:
    # A mildly hypertensive patient with a large response (the tail of Yale 2024:
    # severe hypertension in 12.5 % of patients): peak systolic 192-210 mmHg,
    # at least +52 over baseline, so both bp-rise (+40) and bp-severe (>= 180) fire.
    sbp = float(rng.uniform(132.0, 148.0))
    dbp = float(np.clip(0.5 * sbp + 14.0 + rng.normal(0.0, 3.0), 78.0, 92.0))
    rise = max(float(rng.uniform(192.0, 210.0)) - sbp, 52.0)
    b = plan.baseline
    return replace(
        plan,
        kind="hypertensive",
        baseline=Baseline(hr=b.hr, sbp=sbp, dbp=dbp, spo2=b.spo2),
        response=replace(plan.response, sbp_rise=rise, dbp_rise=0.45 * rise, hr_rise=float(rng.uniform(4.0, 10.0))),
        recovery_s=_at(rng, 50, 60) * MINUTE,  # it takes longer to settle
    )


def _desaturation(plan: SessionPlan, rng: np.random.Generator) -> SessionPlan:
    # SpO2 to 82-87 % for 40-100 s during the infusion (with the ramps, > 30 s below 90).
    event = Desaturation(
        start=_at(rng, plan.infusion_start + 8 * MINUTE, plan.infusion_end - 10 * MINUTE),
        fall_s=_at(rng, 50, 90),
        hold_s=_at(rng, 40, 100),
        rise_s=_at(rng, 45, 90),
        nadir=float(rng.uniform(82.0, 87.0)),
    )
    return replace(plan, kind="desaturation", events=(*plan.events, event))


def _tachycardia(plan: SessionPlan, rng: np.random.Generator) -> SessionPlan:
    # Anxious dissociation during the infusion: 122-138 bpm for 2-4 min.
    event = HeartRateEpisode(
        start=_at(rng, plan.infusion_start + 5 * MINUTE, plan.infusion_end - 8 * MINUTE),
        ramp_s=_at(rng, 45, 90),
        hold_s=_at(rng, 120, 240),
        target=float(rng.uniform(122.0, 138.0)),
    )
    return replace(plan, kind="tachycardia", events=(*plan.events, event))


def _bradycardia(plan: SessionPlan, rng: np.random.Generator) -> SessionPlan:
    # A vasovagal episode early in recovery: 38-46 bpm for 1-2 min.
    event = HeartRateEpisode(
        start=_at(rng, plan.infusion_end + 3 * MINUTE, plan.infusion_end + 20 * MINUTE),
        ramp_s=_at(rng, 20, 40),
        hold_s=_at(rng, 60, 120),
        target=float(rng.uniform(38.0, 46.0)),
    )
    return replace(plan, kind="bradycardia", events=(*plan.events, event))


def _sensor_off(plan: SessionPlan, rng: np.random.Generator) -> SessionPlan:
    event = SensorOff(start=_at(rng, plan.infusion_start + 5 * MINUTE, plan.infusion_end - 5 * MINUTE), duration_s=60)
    return replace(plan, kind="sensor-off", events=(*plan.events, event))


def _artefact(plan: SessionPlan, rng: np.random.Generator) -> SessionPlan:
    # Motion during the infusion: four implausible one-second values within
    # about 3 min (3 in 5 min raise the technical alarm) and a cuff reading of
    # 40/10 as MIMIC-II record s25047 shows one.
    a = _at(rng, plan.infusion_start + 5 * MINUTE, plan.infusion_end - 12 * MINUTE)
    spikes = (
        Spike(a, "pr", float(rng.integers(305, 341))),
        Spike(a + _at(rng, 20, 60), "spo2", float(rng.integers(20, 46))),
        Spike(a + _at(rng, 80, 140), "hr", float(rng.integers(5, 16))),
        Spike(a + _at(rng, 150, 200), "hr", float(rng.integers(305, 341))),
    )
    return replace(plan, kind="artefact", events=(*plan.events, *spikes, CuffArtefact(after=a, sbp=40.0, dbp=10.0)))


def _protocol(
    plan: SessionPlan,
    rng: np.random.Generator,
    kind: str,
    protocol: str,
    minutes: int,
    observed: tuple[int, int],
    **changes: Any,
) -> SessionPlan:
    """The patient's plan under another protocol: its drug time, an observation drawn in ``observed`` (min)."""
    return replace(
        plan,
        kind=kind,
        protocol=protocol,
        infusion_s=minutes * MINUTE,
        recovery_s=_at(rng, *observed) * MINUTE,
        **changes,
    )


def _esketamine(plan: SessionPlan, rng: np.random.Generator) -> SessionPlan:
    # Intranasal esketamine (Spravato, REMS; ../shared/research/protocols.md): dosing takes about
    # 10 min (one device every 5 min), the BP rise peaks near 40 min after the first device and lasts
    # about 4 h in shape; observation of at least 2 h (120-135 min here) before the patient leaves.
    return _protocol(plan, rng, "esketamine", "in-esketamine", 10, (120, 135), peak_after_start_s=40 * MINUTE)


def _pain(plan: SessionPlan, rng: np.random.Generator) -> SessionPlan:
    # A chronic-pain infusion (0.35 mg/kg/h over 4 h, Cohen 2018): a smaller rise, held through hours.
    r = replace(plan.response, sbp_rise=0.6 * plan.response.sbp_rise, dbp_rise=0.6 * plan.response.dbp_rise)
    return _protocol(plan, rng, "pain", "iv-ketamine-pain", 240, (60, 75), response=r)


def _im(plan: SessionPlan, rng: np.random.Generator) -> SessionPlan:
    # IM ketamine: one injection (5 min with the first look), the response peaking about 20 min later.
    return _protocol(plan, rng, "im", "im-ketamine", 5, (60, 70), peak_after_start_s=20 * MINUTE)


#: The demo's mix: mostly uneventful IV sessions for depression, sometimes one event, and sessions
#: of the other protocols (intranasal esketamine, a long pain infusion, IM ketamine).
MIX: dict[str, float] = {
    "routine": 0.58,
    "hypertensive": 0.07,
    "desaturation": 0.05,
    "tachycardia": 0.04,
    "bradycardia": 0.03,
    "sensor-off": 0.04,
    "artefact": 0.03,
    "esketamine": 0.10,
    "pain": 0.03,
    "im": 0.03,
}


def _mixed(plan: SessionPlan, rng: np.random.Generator) -> SessionPlan:
    names = list(MIX)
    kind = names[int(rng.choice(len(names), p=np.array(list(MIX.values()))))]
    # A slower infusion for some IV depression sessions (the same dose over up to 60 min).
    if rng.random() < 0.25 and kind not in ("esketamine", "pain", "im"):
        plan = replace(plan, infusion_s=int(rng.choice([45, 50, 55, 60])) * MINUTE)
    return SCENARIOS[kind].shape(plan, rng)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("routine", "uneventful: systolic about +16 mmHg at the end of a 40 min infusion", _routine),
        Scenario("hypertensive", "systolic peak 192-210 mmHg (>= +52): bp-rise and bp-severe fire", _hypertensive),
        Scenario("desaturation", "SpO2 down to 82-87 % for about a minute during the infusion", _desaturation),
        Scenario("tachycardia", "heart rate 122-138 bpm for 2-4 min during the infusion", _tachycardia),
        Scenario("bradycardia", "vasovagal heart rate 38-46 bpm for 1-2 min early in recovery", _bradycardia),
        Scenario("sensor-off", "oximeter probe off for 60 s during the infusion: no SpO2 or pulse rate", _sensor_off),
        Scenario("artefact", "motion: 4 implausible HR/PR/SpO2 spikes in 3 min, a 40/10 cuff reading", _artefact),
        Scenario(
            "esketamine", "intranasal esketamine: dosing 10 min, BP peak near 40 min, observation 2 h+", _esketamine
        ),
        Scenario("pain", "chronic-pain infusion over 4 h, smaller BP rise, 1 h recovery", _pain),
        Scenario("im", "IM ketamine injection, response peaking near 20 min, 1 h observation", _im),
        Scenario("mixed", "the demo's mix: mostly routine, sometimes one of the events above, chosen by seed", _mixed),
    )
}


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise UnknownScenario(name) from None
