"""The scales a clinic scores at the chair and at follow-up, and what an entry must look like.

Ranges from ../shared/research/protocols.md: MOAA/S 0-5 (5 = awake), CADSS short form of 6 items
scored 0-4 (total 0-24), BPRS positive-symptom subscale of 4 items (total 0-24, so 0-6 each), a
0-10 numeric nausea rating; at follow-up PHQ-9 0-27, GAD-7 0-21, MADRS 0-60. A multi-item scale's
total is the sum of its items: the items are what the nurse scored, so they are what is kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


class ScaleError(ValueError):
    """An entry that does not fit its scale; the message says why (shown to the user as a 422)."""


@dataclass(frozen=True, slots=True)
class Scale:
    key: str
    title: str
    low: int
    high: int
    #: Number of items for a multi-item scale (each ``item_low``..``item_high``); 0: a single score.
    items: int = 0
    item_low: int = 0
    item_high: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "title": self.title,
            "min": self.low,
            "max": self.high,
            "items": self.items,
            "item_min": self.item_low,
            "item_max": self.item_high,
        }


#: Scored at the chair (``POST /api/sessions/{id}/assessments``).
SESSION_SCALES: dict[str, Scale] = {
    s.key: s
    for s in (
        Scale("moaas", "MOAA/S sedation (5 = awake)", 0, 5),
        Scale("cadss6", "CADSS-6 dissociation", 0, 24, items=6, item_low=0, item_high=4),
        Scale("nausea", "Nausea (0-10)", 0, 10),
        Scale("bprs4", "BPRS+ positive symptoms", 0, 24, items=4, item_low=0, item_high=6),
    )
}

#: Scored at follow-up (``POST /api/patients/{ref}/outcomes``).
OUTCOME_SCALES: dict[str, Scale] = {
    s.key: s
    for s in (
        Scale("phq9", "PHQ-9 depression", 0, 27),
        Scale("gad7", "GAD-7 anxiety", 0, 21),
        Scale("madrs", "MADRS depression", 0, 60),
    )
}

#: Adverse event categories a nurse picks from (plus free text). Keys are stored; titles are shown.
ADVERSE_CATEGORIES: dict[str, str] = {
    "hypertension-treated": "Hypertension treated",
    "nausea-vomiting": "Nausea/vomiting",
    "emergence-reaction": "Emergence reaction",
    "desaturation-intervention": "Desaturation needing intervention",
    "other": "Other",
}

#: What MOAA/S score counts as sedation on the REMS form (below "awake", 5).
SEDATED_BELOW = 5


def checked_score(scales: dict[str, Scale], key: str, score: float | None, items: Sequence[float] | None) -> float:
    """The entry's total on its scale, or ``ScaleError`` saying what is wrong with it.

    Items, when the scale has them, are required (the total alone loses what was scored) and a total
    sent beside them must equal their sum. Scores are whole numbers on every scale here.
    """
    scale = scales.get(key)
    if scale is None:
        raise ScaleError(f"unknown scale {key!r} (one of {', '.join(scales)})")
    if scale.items:
        if items is None:
            raise ScaleError(f"{key} needs its {scale.items} item scores (items)")
        if len(items) != scale.items:
            raise ScaleError(f"{key} has {scale.items} items, got {len(items)}")
        for i, item in enumerate(items, 1):
            _whole_in(item, scale.item_low, scale.item_high, f"{key} item {i}")
        total = float(sum(items))
        if score is not None and float(score) != total:
            raise ScaleError(f"{key} score {score:g} is not the sum of its items ({total:g})")
        return total
    if items is not None:
        raise ScaleError(f"{key} is a single score: send score, not items")
    if score is None:
        raise ScaleError(f"{key} needs a score")
    _whole_in(score, scale.low, scale.high, key)
    return float(score)


def _whole_in(value: float, low: int, high: int, what: str) -> None:
    if not math.isfinite(value) or value != int(value):
        raise ScaleError(f"{what}: {value:g} is not a whole number")
    if not low <= value <= high:
        raise ScaleError(f"{what}: {value:g} outside {low}-{high}")
