"""The dose given: rate x running time, capped at the plan; a bolus counts once given; a nurse's entry wins."""

from __future__ import annotations

import pytest

from monitor.given_dose import given_dose
from monitor.model import Phase, PhaseChange, Session

T = 1_800_000_000.0


def session(*phases: tuple[Phase, float], dose: float | None = 40.0, rate: float | None = 60.0) -> Session:
    changes = [PhaseChange(p, T + s, "nurse") for p, s in phases]
    return Session(1, "chair-1", "PT", changes[-1].phase, T, 80.0, dose, rate, changes)


def test_not_started_gives_nothing() -> None:
    got = given_dose(session((Phase.BASELINE, 0)), T + 900)
    assert (got.computed_mg, got.given_mg, got.computed_from) == (None, None, "not started")
    assert got.planned_mg_per_kg == 0.5


def test_a_running_infusion_counts_up_to_now_and_one_stopped_early_to_its_stop() -> None:
    running = given_dose(session((Phase.BASELINE, 0), (Phase.INFUSION, 600)), T + 600 + 1200)
    assert running.given_mg == pytest.approx(20.0) and running.infusion_s == 1200
    stopped = given_dose(session((Phase.BASELINE, 0), (Phase.INFUSION, 600), (Phase.ABORTED, 600 + 900)), T + 99999)
    assert stopped.given_mg == pytest.approx(15.0) and stopped.given_mg_per_kg == pytest.approx(15 / 80, abs=1e-3)


def test_an_infusion_that_ran_long_never_gives_more_than_planned() -> None:
    got = given_dose(session((Phase.BASELINE, 0), (Phase.INFUSION, 0), (Phase.RECOVERY, 3 * 3600)), T + 4 * 3600)
    assert got.given_mg == 40.0


def test_a_bolus_without_rate_counts_the_planned_dose_once_given() -> None:
    got = given_dose(session((Phase.BASELINE, 0), (Phase.INFUSION, 60), rate=None, dose=56.0), T + 120)
    assert (got.given_mg, got.computed_from) == (56.0, "bolus (planned dose)")


def test_the_nurses_entry_wins_and_the_computed_figure_is_kept() -> None:
    entry = {"dose_mg": 30.0, "user": "nurse", "ts": T + 5000, "reason": "bag not emptied"}
    got = given_dose(session((Phase.BASELINE, 0), (Phase.INFUSION, 600), (Phase.RECOVERY, 3000)), T + 5000, entry)
    assert (got.given_mg, got.computed_mg, got.reason) == (30.0, 40.0, "bag not emptied")
