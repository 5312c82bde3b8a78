"""The ketamine-session patient model: a plan rendered second by second, as a monitor shows it.

One call renders a whole session at once with numpy (no per-second Python):
resting baseline with slow drift and beat noise, the ketamine pressure rise
that peaks at the end of the infusion and ebbs over the next hour, SpO2 and
HR/PR every second, NIBP on the cuff's cycle, and the scenario's events.
Everything is seeded: the same (scenario, seed, patient) gives the same trace.
The output is synthetic and must be labelled so wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitor.model import Phase
from simulators.plan import (
    CuffArtefact,
    Desaturation,
    HeartRateEpisode,
    SensorOff,
    SessionPlan,
    Spike,
    draw_routine_plan,
)
from simulators.scenarios import get_scenario

#: Columns of a trace frame, in CSV order after ``ts`` and ``phase``. NaN = no reading that second.
VITAL_COLUMNS: tuple[str, ...] = ("hr", "pr", "spo2", "sbp", "dbp", "map")
#: Per-second ground truth of device events (what a real device would report, or not).
FLAG_COLUMNS: tuple[str, ...] = ("sensor_off", "artefact")
#: Phase categories of the ``phase`` column, in session order.
PHASES: tuple[Phase, ...] = (Phase.BASELINE, Phase.INFUSION, Phase.RECOVERY, Phase.DISCHARGED)
#: Automatic NIBP cycle per phase (clinic practice: q10 min during, q15 min after; Emory 2018).
NIBP_CYCLE_S: dict[Phase, int] = {Phase.INFUSION: 600, Phase.RECOVERY: 900}


@dataclass(frozen=True, slots=True)
class SessionTrace:
    """One simulated session at 1 s resolution.

    ``frame`` has one row per second from 0 to the discharge instant: ``ts``
    (int seconds from the session start), ``phase`` (categorical), the vitals
    (float, integer-valued, NaN = no reading) and the flags (bool). Its last
    row is the ``discharged`` instant, with no reading: the patient has left.
    """

    scenario: str  # as requested (may be ``mixed``)
    seed: int
    patient: int
    plan: SessionPlan
    frame: pd.DataFrame

    @property
    def kind(self) -> str:
        """The scenario the patient actually follows (``mixed`` resolved)."""
        return self.plan.kind

    @property
    def duration_s(self) -> int:
        return self.plan.discharge_at

    @property
    def phase_changes(self) -> tuple[tuple[int, Phase], ...]:
        """(seconds from the session start, phase entered), starting with baseline at 0."""
        p = self.plan
        return (
            (0, Phase.BASELINE),
            (p.infusion_start, Phase.INFUSION),
            (p.infusion_end, Phase.RECOVERY),
            (p.discharge_at, Phase.DISCHARGED),
        )

    def nibp(self) -> pd.DataFrame:
        """The cuff measurements only (rows with a systolic value)."""
        return self.frame.loc[self.frame["sbp"].notna(), ["ts", "phase", "sbp", "dbp", "map"]]


def simulate_session(scenario: str, seed: int, patient: int = 0) -> SessionTrace:
    """The session of patient number ``patient`` of ``scenario`` under ``seed`` (both >= 0).

    Three independent random streams: the patient (baseline, response,
    durations), the scenario's events, the measurement noise. So patient 3
    of seed 7 is the same person in every scenario; only the events differ.
    """
    shape = get_scenario(scenario).shape
    patient_ss, event_ss, noise_ss = np.random.SeedSequence(entropy=seed, spawn_key=(patient,)).spawn(3)
    plan = shape(draw_routine_plan(np.random.default_rng(patient_ss)), np.random.default_rng(event_ss))
    frame = render(plan, np.random.default_rng(noise_ss))
    return SessionTrace(scenario=scenario, seed=seed, patient=patient, plan=plan, frame=frame)


def render(plan: SessionPlan, rng: np.random.Generator) -> pd.DataFrame:
    """The per-second frame of ``plan`` (see :class:`SessionTrace`)."""
    n = plan.discharge_at  # open-phase seconds; one more row marks the discharge
    t = np.arange(n, dtype=np.float64)
    base = plan.baseline
    profile = _ketamine_profile(t, plan)

    # Heart rate: check-in nerves settling, slow drift, the small ketamine rise, beat-to-beat noise.
    nerves = rng.uniform(0.0, 6.0) * np.exp(-t / 180.0)
    hr = (
        base.hr
        + nerves
        + _drift(n, rng, sd=2.0, knot_s=300)
        + _drift(n, rng, sd=1.0, knot_s=30)
        + plan.response.hr_rise * profile
        + rng.normal(0.0, 0.8, n)
    )
    spo2 = base.spo2 + _drift(n, rng, sd=0.5, knot_s=240) + rng.normal(0.0, 0.3, n)
    bp_drift = _drift(n, rng, sd=3.0, knot_s=300)
    sbp_true = base.sbp + bp_drift + plan.response.sbp_rise * profile
    dbp_true = base.dbp + 0.6 * bp_drift + _drift(n, rng, sd=1.5, knot_s=300) + plan.response.dbp_rise * profile

    sensor_off = np.zeros(n + 1, dtype=bool)
    artefact = np.zeros(n + 1, dtype=bool)
    for event in plan.events:
        if isinstance(event, HeartRateEpisode):
            w = _envelope(t, event.start, event.ramp_s, event.hold_s, event.ramp_s)
            hr += (event.target - hr) * w
        elif isinstance(event, Desaturation):
            w = _envelope(t, event.start, event.fall_s, event.hold_s, event.rise_s)
            spo2 -= (base.spo2 - event.nadir) * w
            hr += 6.0 * w  # the heart answers hypoxaemia
        elif isinstance(event, SensorOff):
            sensor_off[event.start : event.start + event.duration_s] = True

    # The oximeter's pulse rate follows the ECG rate with its own small error.
    pr = hr + rng.normal(0.0, 0.7, n)
    out: dict[str, np.ndarray] = {
        "hr": _shown(np.clip(hr, 25.0, 220.0)),
        "pr": _shown(np.clip(pr, 25.0, 220.0)),
        "spo2": _shown(np.clip(spo2, 50.0, 100.0)),
    }
    out["spo2"][sensor_off] = np.nan
    out["pr"][sensor_off] = np.nan

    sbp, dbp, mean = (np.full(n + 1, np.nan) for _ in range(3))
    at = _nibp_times(plan, rng)
    s = sbp_true[at] + rng.normal(0.0, 3.5, at.size)
    d = np.minimum(dbp_true[at] + rng.normal(0.0, 2.5, at.size), s - 15.0)
    m = d + (s - d) / 3.0 + rng.normal(0.0, 1.0, at.size)
    sbp[at], dbp[at], mean[at] = np.rint(s), np.rint(d), np.rint(m)

    for event in plan.events:
        if isinstance(event, Spike) and not (event.vital in ("pr", "spo2") and sensor_off[event.at]):
            out[event.vital][event.at] = event.value
            artefact[event.at] = True
        elif isinstance(event, CuffArtefact):
            later = at[at >= event.after]
            if later.size:
                k = int(later[0])
                sbp[k], dbp[k] = event.sbp, event.dbp
                mean[k] = np.rint(event.dbp + (event.sbp - event.dbp) / 3.0)
                artefact[k] = True
    out.update(sbp=sbp, dbp=dbp, map=mean)

    ts = np.arange(n + 1, dtype=np.int64)
    bounds = np.array([plan.infusion_start, plan.infusion_end, plan.discharge_at])
    codes = np.searchsorted(bounds, ts, side="right")
    phase = pd.Categorical.from_codes(codes, categories=[p.value for p in PHASES])
    return pd.DataFrame(
        {"ts": ts, "phase": phase, **{c: out[c] for c in VITAL_COLUMNS}, "sensor_off": sensor_off, "artefact": artefact}
    )


def _shown(x: np.ndarray) -> np.ndarray:
    """Rounded as a monitor displays it, with room for the discharge row (NaN)."""
    return np.append(np.rint(x), np.nan)


def _drift(n: int, rng: np.random.Generator, *, sd: float, knot_s: int) -> np.ndarray:
    """A slow wander: random knots every ``knot_s`` seconds, linearly joined."""
    k = n // knot_s + 2
    return np.interp(np.arange(n), np.arange(k) * float(knot_s), rng.normal(0.0, sd, k))


def _envelope(t: np.ndarray, start: float, up: float, hold: float, down: float) -> np.ndarray:
    """0 -> 1 -> 0 with smooth (raised-cosine) ramps: the shape of an episode."""
    x = np.clip((t - start) / up, 0.0, 1.0) - np.clip((t - (start + up + hold)) / down, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


def response_at(plan: SessionPlan, offset_s: float) -> float:
    """The fraction of the peak drug response at ``offset_s`` seconds from the session start (0..1)."""
    return float(_ketamine_profile(np.array([float(offset_s)]), plan)[0])


def _ketamine_profile(t: np.ndarray, plan: SessionPlan) -> np.ndarray:
    """Fraction of the peak response: rises through the infusion to 1 at its end, then decays.

    A drug that peaks after it is given (``plan.peak_after_start_s``: intranasal esketamine near
    40 min, lasting about 4 h) follows x/p * e^(1 - x/p) from its start: 1 at the peak, about 0.04
    four hours on.
    """
    r = plan.response
    s, e = float(plan.infusion_start), float(plan.infusion_end)
    if plan.peak_after_start_s is not None:
        x = np.clip(t - s, 0.0, None) / float(plan.peak_after_start_s)
        return np.asarray(x * np.exp(1.0 - x), dtype=np.float64)
    during = -np.expm1(-np.clip(t - s, 0.0, None) / r.onset_tau_s) / -np.expm1(-(e - s) / r.onset_tau_s)
    after = np.exp(-np.clip(t - e, 0.0, None) / r.offset_tau_s)
    return np.where(t < s, 0.0, np.where(t < e, during, after))


def _nibp_times(plan: SessionPlan, rng: np.random.Generator) -> np.ndarray:
    """Seconds at which a cuff measurement completes.

    Baseline: 2-3 readings spread over the phase. Infusion and recovery: the
    monitor's automatic cycle restarts at the phase change (the nurse sets the
    new interval), and each result arrives 25-45 s after the cuff starts.
    """
    count = int(rng.integers(2, 4))
    first, last = 60, plan.baseline_s - 90
    times = [*np.linspace(first, last, count) + rng.integers(-20, 21, count)]
    for phase, start, end in (
        (Phase.INFUSION, plan.infusion_start, plan.infusion_end),
        (Phase.RECOVERY, plan.infusion_end, plan.discharge_at),
    ):
        cycle = NIBP_CYCLE_S[phase]
        starts = np.arange(start, end, cycle)
        done = starts + rng.integers(25, 46, starts.size)
        times.extend(done[done < end])
    return np.asarray(times, dtype=np.int64)
