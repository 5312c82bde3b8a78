"""The offline engine over per-vital series (stored sessions) gives exactly what it gives over a frame."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings

from alerts.replay import Episode, replay, replay_series
from alerts.rules import Rule
from tests.alerts.test_alarm_agreement import traces


def _series(frame: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each vital's valid readings in time order (ties in row order), as the store hands them over."""
    order = np.argsort(frame["ts"], kind="stable")
    ts = frame["ts"][order]
    out = {}
    for vital in ("hr", "pr", "spo2", "sbp"):
        v = frame[vital][order]
        keep = ~np.isnan(v) & (frame[f"{vital}_quality"][order] == "valid")
        out[vital] = (ts[keep], v[keep])
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces())
def test_series_and_frame_agree_on_random_traces(
    case: tuple[dict[str, np.ndarray], list[Rule], list[tuple[str, float]] | None],
) -> None:
    frame, rules, phases = case
    from_frame: list[Episode] = replay(frame, rules, phases)
    assert replay_series(_series(frame), rules, phases).to_list() == from_frame


def test_pr_judged_while_hr_is_away_and_cut_when_it_returns() -> None:
    """A hand case: hr stops at 10 s; pr 130 from 0 s is judged by hr-high from 41 s (hr last seen > 30 s
    before) until the hr reading at 60 s reconnects it: the pr reading at 60 s ends the episode."""
    from tests.alerts.alarm_helpers import rule

    hr_t = np.array([0.0, 5.0, 10.0, 60.0])
    pr_t = np.arange(0.0, 70.0, 1.0)
    series = {"hr": (hr_t, np.full(4, 70.0)), "pr": (pr_t, np.full(pr_t.size, 130.0))}
    got = replay_series(series, [rule(id="hr-high", vital="hr", op=">", limit=120)], [("infusion", 0.0)]).to_list()
    assert [(e.rule_id, e.vital.value, e.start, e.end) for e in got] == [("hr-high", "pr", 41.0, 60.0)]
