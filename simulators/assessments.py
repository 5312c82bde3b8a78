"""What a nurse would score at the chair for a simulated patient: MOAA/S, CADSS-6, nausea, BPRS+.

The scores follow the patient's drug response over time (``physiology.response_at``, the shape that
drives the blood pressure): sedation and dissociation are greatest where the response peaks and fade
with it. How strongly a patient reacts is drawn once per patient. Label figures for orientation
(intranasal esketamine, via spravatohcp.com): sedation on MOAA/S in 48-61 %, dissociation on CADSS
in 61-75 % of patients. Synthetic, like every simulated value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulators.physiology import response_at
from simulators.plan import SessionPlan


@dataclass(frozen=True, slots=True)
class Scored:
    score: float
    items: list[float] | None = None


@dataclass(frozen=True, slots=True)
class Reactivity:
    """How much this patient is sedated and dissociates at the response's peak (0: not at all)."""

    sedation: float
    dissociation: float
    nausea: float


def draw_reactivity(rng: np.random.Generator) -> Reactivity:
    # About half the patients sedate (a MOAA/S below 5 at the peak), about two thirds dissociate.
    return Reactivity(
        sedation=float(rng.uniform(0.0, 2.2)),
        dissociation=float(rng.uniform(0.0, 2.8)),
        nausea=float(rng.uniform(0.0, 4.0)),
    )


def score(plan: SessionPlan, who: Reactivity, scale: str, offset_s: float, rng: np.random.Generator) -> Scored:
    """The score on ``scale`` of the patient of ``plan`` at ``offset_s`` seconds from the session start."""
    level = response_at(plan, offset_s)
    if scale == "moaas":
        return Scored(float(np.clip(5 - round(who.sedation * level + rng.normal(0, 0.3)), 0, 5)))
    if scale == "cadss6":
        items = [float(np.clip(round(who.dissociation * level + rng.normal(0, 0.5)), 0, 4)) for _ in range(6)]
        return Scored(sum(items), items)
    if scale == "nausea":
        return Scored(float(np.clip(round(who.nausea * level + rng.normal(0, 0.5)), 0, 10)))
    if scale == "bprs4":
        items = [float(np.clip(round(0.8 * who.dissociation * level + rng.normal(0, 0.4)), 0, 6)) for _ in range(4)]
        return Scored(sum(items), items)
    raise ValueError(f"unknown scale {scale!r}")
