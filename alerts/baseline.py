"""The session baseline of a vital (spec/alarms.md clause 8), shared by the live and offline engines.

Median of the valid readings taken during the session's ``baseline`` phase;
enough data means at least 2 readings for NIBP and at least 60 s between the
first and last reading for continuous vitals. The baseline is fixed when the
session leaves the baseline phase: during the baseline phase a relative rule
is inactive (its limit would otherwise move under a running episode).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from monitor.model import NIBP_VITALS, Vital

MIN_NIBP_READINGS = 2
MIN_CONTINUOUS_SPAN_S = 60.0


def baseline_of(vital: Vital, ts: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray) -> float | None:
    """The baseline from the baseline phase's valid readings, or None when there are too few."""
    n = len(values)
    if n == 0:
        return None
    if vital in NIBP_VITALS:
        if n < MIN_NIBP_READINGS:
            return None
    elif float(np.max(ts)) - float(np.min(ts)) < MIN_CONTINUOUS_SPAN_S:
        return None
    return float(np.median(np.asarray(values, dtype=np.float64)))
