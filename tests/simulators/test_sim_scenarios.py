"""Each scenario produces its event (and routine sessions do not), across many seeds."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from simulators.physiology import SessionTrace, simulate_session
from simulators.scenarios import MIX, SCENARIOS, UnknownScenario, get_scenario

SEEDS = range(30)


def longest_run(mask: np.ndarray) -> int:
    """Length of the longest stretch of consecutive True values."""
    padded = np.concatenate(([0], mask.astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max()) if edges.size else 0


def traces(name: str) -> list[SessionTrace]:
    return [simulate_session(name, seed, patient=seed % 3) for seed in SEEDS]


@pytest.fixture(scope="module")
def routine() -> list[SessionTrace]:
    return traces("routine")


def in_phase(f: pd.DataFrame, *phases: str) -> pd.DataFrame:
    return f[f["phase"].isin(phases)]


def test_every_scenario_is_listed_with_one_line() -> None:
    assert {
        "routine",
        "hypertensive",
        "desaturation",
        "bradycardia",
        "tachycardia",
        "sensor-off",
        "artefact",
        "mixed",
    } <= set(SCENARIOS)
    for scenario in SCENARIOS.values():
        assert scenario.description and "\n" not in scenario.description
    with pytest.raises(UnknownScenario, match="known: routine"):
        get_scenario("nonsense")


def test_hypertensive_crosses_bp_rise_and_bp_severe(routine: list[SessionTrace]) -> None:
    def crossings(trace: SessionTrace) -> tuple[bool, bool]:
        nibp = trace.nibp()
        base = nibp.loc[nibp["phase"] == "baseline", "sbp"].median()
        judged = in_phase(nibp, "infusion", "recovery")
        rise = bool((judged["sbp"] >= base + 40).any())
        severe = bool(((judged["sbp"] >= 180) | (judged["dbp"] >= 110)).any())
        return rise, severe

    for trace in traces("hypertensive"):
        assert crossings(trace) == (True, True), trace.nibp()
        # Not so high at check-in that the infusion would not have been started.
        base = trace.nibp().query("phase == 'baseline'")
        assert (base["sbp"] < 180).all() and (base["dbp"] < 110).all()
    assert not any(any(crossings(t)) for t in routine)


def test_desaturation_below_90_for_over_30_s_then_recovers(routine: list[SessionTrace]) -> None:
    for trace in traces("desaturation"):
        f = trace.frame
        infusion = in_phase(f, "infusion")
        assert longest_run((infusion["spo2"] < 90).to_numpy()) > 30
        assert (f.loc[f["phase"] != "infusion", "spo2"].dropna() >= 90).all()
        last_low = infusion.loc[infusion["spo2"] < 90, "ts"].max()
        assert (f.loc[(f["ts"] > last_low + 180) & (f["phase"] != "discharged"), "spo2"] >= 93).all()
    assert all((t.frame["spo2"].dropna() >= 90).all() for t in routine)


def test_tachycardia_and_bradycardia(routine: list[SessionTrace]) -> None:
    for trace in traces("tachycardia"):
        assert longest_run((in_phase(trace.frame, "infusion")["hr"] > 110).to_numpy()) > 30
    for trace in traces("bradycardia"):
        recovery = in_phase(trace.frame, "recovery")
        assert longest_run((recovery["hr"] < 51).to_numpy()) > 30
        assert longest_run((recovery["pr"] < 51).to_numpy()) > 30
    for trace in routine:
        assert longest_run((trace.frame["hr"] > 110).to_numpy()) == 0
        assert longest_run((trace.frame["hr"] < 51).to_numpy()) <= 30


def test_sensor_off_for_60_s(routine: list[SessionTrace]) -> None:
    for trace in traces("sensor-off"):
        f = trace.frame
        off = f["sensor_off"].to_numpy()
        assert off.sum() == 60 and longest_run(off) == 60
        assert (in_phase(f[off], "infusion").shape[0]) == 60
        # No SpO2 or pulse rate while the probe is off, and only then; the ECG rate goes on.
        open_ = f["phase"] != "discharged"
        assert np.array_equal(f["spo2"].isna()[open_], f["sensor_off"][open_])
        assert np.array_equal(f["pr"].isna()[open_], f["sensor_off"][open_])
        assert f.loc[off, "hr"].notna().all()
    assert not any(t.frame["sensor_off"].any() for t in routine)


def implausible(f: pd.DataFrame) -> pd.Series:
    """The technical-alarm plausibility limits of spec/alarms.md (PR judged like HR)."""
    return (
        ~f["hr"].between(20, 300)
        | ~f["pr"].fillna(60).between(20, 300)
        | ~f["spo2"].fillna(97).between(50, 100)
        | ~f["sbp"].fillna(120).between(40, 300)
        | ~f["dbp"].fillna(80).between(15, 250)
        | (f["dbp"] >= f["sbp"])
    )


def test_artefact_spikes(routine: list[SessionTrace]) -> None:
    for trace in traces("artefact"):
        f = trace.frame[trace.frame["phase"] != "discharged"]
        bad = f.loc[implausible(f), "ts"].to_numpy()
        # Three in five minutes raise the technical alarm.
        assert any(np.sum((bad >= t) & (bad < t + 300)) >= 3 for t in bad)
        # Every implausible value is flagged as artefact (ground truth) and nothing else is.
        assert np.array_equal(np.sort(bad), f.loc[f["artefact"], "ts"].to_numpy())
        assert (trace.nibp()["dbp"] < 15).sum() == 1
    for trace in routine:
        f = trace.frame[trace.frame["phase"] != "discharged"]
        assert not implausible(f).any()


def test_mixed_is_mostly_routine_and_chosen_by_seed() -> None:
    kinds = [simulate_session("mixed", seed, patient).kind for seed in range(40) for patient in range(6)]
    counts = Counter(kinds)
    assert set(counts) <= set(MIX)
    assert counts["routine"] >= 0.5 * len(kinds)
    assert len(counts) >= 5
    again = simulate_session("mixed", 7, 3)
    assert again.scenario == "mixed" and again.kind == kinds[7 * 6 + 3]
