"""Recent readings of one bed, per vital, for the tiles' sparklines and the bed page's trends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine

from monitor.store import readings as reading_store

#: Above this many points per vital a trend is thinned (every n-th point): a screen cannot show more.
MAX_POINTS = 4000


def bed_trend(
    engine: Engine, bed: str, start: float, end: float | None = None, vitals: Sequence[str] | None = None
) -> dict[str, list[list[float]]]:
    """``{vital: [[ts, value], ...]}`` of the valid readings of ``bed`` from ``start``, oldest first.

    Only valid readings are drawn: a questionable or invalid value must not
    shape a trend a nurse reads at a glance (they stay in the stored record).
    """
    rows = reading_store.valid_points(engine, bed, start, end, vitals)
    out: dict[str, list[list[float]]] = {}
    for ts, vital, value in rows:
        out.setdefault(vital, []).append([ts, value])
    for vital, points in out.items():
        if len(points) > MAX_POINTS:
            step = -(-len(points) // MAX_POINTS)
            thinned = points[::step]
            if thinned[-1] is not points[-1]:
                thinned.append(points[-1])  # the newest value always shows
            out[vital] = thinned
    return out


def trend_json(bed: str, start: float, end: float, series: dict[str, list[list[float]]]) -> dict[str, Any]:
    return {"bed": bed, "from": start, "to": end, "vitals": series}
