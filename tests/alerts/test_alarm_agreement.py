"""The live engine fed reading by reading and the vectorised replay give identical episodes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from alarm_helpers import rule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.feed import live_replay
from alerts.replay import replay
from alerts.rules import Rule, default_rules
from alerts.trace import load_trace
from tests.fixtures import FIXTURES

VITALS = ["hr", "pr", "spo2", "sbp"]
PHASE_NAMES = ["baseline", "infusion", "recovery", "unassigned"]


@st.composite
def traces(draw: st.DrawFn) -> tuple[dict[str, np.ndarray], list[Rule], list[tuple[str, float]] | None]:
    n = draw(st.integers(1, 60))
    gaps = draw(st.lists(st.sampled_from([0.0, 1.0, 2.5, 5.0, 10.0, 31.0]), min_size=n, max_size=n))
    ts = np.cumsum(np.array(gaps)) + draw(st.sampled_from([0.0, 1000.5]))
    frame: dict[str, np.ndarray] = {"ts": ts}
    for vital in VITALS:
        values = draw(st.lists(st.one_of(st.none(), st.integers(85, 95).map(float)), min_size=n, max_size=n))
        frame[vital] = np.array([math.nan if v is None else v for v in values])
        qualities = draw(
            st.lists(st.sampled_from(["valid", "valid", "valid", "questionable", "invalid"]), min_size=n, max_size=n)
        )
        frame[f"{vital}_quality"] = np.array(qualities, dtype=object)
    rules = []
    for i in range(draw(st.integers(1, 4))):
        relative = draw(st.booleans())
        phases = draw(st.lists(st.sampled_from(PHASE_NAMES), min_size=1, max_size=4, unique=True))
        if relative:
            phases = [p for p in phases if p != "unassigned"] or ["infusion"]
        fields: dict[str, object] = {
            "id": f"r{i}",
            "vital": draw(st.sampled_from(["hr", "spo2", "sbp", "pr"])),
            "op": draw(st.sampled_from(["<", "<=", ">", ">="])),
            "priority": draw(st.sampled_from(["high", "medium", "low"])),
            "delay_s": draw(st.sampled_from([0, 0, 2.5, 5, 15])),
            "hysteresis": draw(st.sampled_from([0, 0, 1, 2.5])),
            "phases": phases,
            "limit": None if relative else float(draw(st.integers(86, 94))),
        }
        if relative:
            kind = draw(st.sampled_from(["baseline_delta", "baseline_ratio"]))
            fields[kind] = draw(st.sampled_from([-2.0, 0.0, 3.0] if kind == "baseline_delta" else [0.97, 1.0, 1.03]))
        rules.append(rule(**fields))
    if draw(st.booleans()):
        return frame, rules, None
    names = draw(
        st.sampled_from(
            [
                ["baseline", "infusion", "recovery", "discharged"],
                ["baseline", "infusion"],
                ["infusion", "recovery"],
                ["baseline", "aborted"],
                ["baseline"],
            ]
        )
    )
    span = float(ts[-1] - ts[0]) + 20
    times = sorted(
        draw(
            st.lists(
                st.floats(-10, span, allow_nan=False).map(lambda x: round(x * 2) / 2),
                min_size=len(names),
                max_size=len(names),
            )
        )
    )
    if draw(st.booleans()):  # land some changes exactly on reading timestamps
        times = sorted(float(ts[min(int(t) % n, n - 1)]) for t in times)
    return frame, rules, [(p, float(ts[0]) + t if t > 0 else t) for p, t in zip(names, times, strict=True)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traces())
def test_live_and_offline_agree_on_random_traces(
    case: tuple[dict[str, np.ndarray], list[Rule], list[tuple[str, float]] | None],
) -> None:
    frame, rules, phases = case
    phases = sorted(phases, key=lambda p: p[1]) if phases else None
    assert live_replay(frame, rules, phases) == replay(frame, rules, phases)


def _recorded_traces(root: Path) -> list[tuple[str, pd.DataFrame, bool]]:
    out = []
    for path in sorted((root / "traces").glob("*.csv")):
        if path.name.startswith("mimic2wdb"):
            frame = load_trace(
                path,
                {
                    "HR_bpm": "hr",
                    "PULSE_bpm": "pr",
                    "SpO2_pct": "spo2",
                    "NBPSys_mmHg": "sbp",
                    "NBPDias_mmHg": "dbp",
                    "NBPMean_mmHg": "map",
                    "RESP_per_min": "rr",
                    "elapsed_s": "ts",
                },
            )
            out.append((path.name, frame, True))  # MIMIC numerics: 0 = sensor off
        else:
            out.append(
                (
                    path.name,
                    load_trace(
                        path, {"HR": "hr", "NISysABP": "sbp", "NIDiasABP": "dbp", "NIMAP": "map", "RespRate": "rr"}
                    ),
                    False,
                )
            )
    return out


def test_live_and_offline_agree_on_every_recorded_trace() -> None:
    cases = _recorded_traces(FIXTURES)
    assert len(cases) >= 5
    total = 0
    for name, frame, zero in cases:
        span = float(frame["ts"].max() - frame["ts"].min())
        t0 = float(frame["ts"].min())
        for phases in (
            None,
            [
                ("baseline", t0),
                ("infusion", t0 + span * 0.2),
                ("recovery", t0 + span * 0.6),
                ("discharged", t0 + span * 0.9),
            ],
        ):
            offline = replay(frame, default_rules(), phases, zero_is_missing=zero)
            live = live_replay(frame, default_rules(), phases, zero_is_missing=zero)
            assert live == offline, name
            total += len(offline)
    assert total > 0  # the traces do raise alarms: the comparison is not vacuous


@pytest.mark.parametrize("hyst", [0, 3])
def test_agreement_on_a_long_noisy_trace(hyst: float) -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    ts = np.cumsum(rng.choice([0.0, 1.0, 1.0, 2.0, 40.0], n))
    frame = {
        "ts": ts,
        "spo2": np.round(rng.normal(92, 3, n)),
        "hr": np.where(rng.random(n) < 0.3, np.nan, np.round(rng.normal(100, 25, n))),
        "pr": np.round(rng.normal(100, 25, n)),
        "sbp": np.where(rng.random(n) < 0.9, np.nan, np.round(rng.normal(150, 30, n))),
    }
    rules = [*default_rules(), rule(id="h", vital="spo2", op="<=", limit=90, hysteresis=hyst, delay_s=3)]
    phases = [("baseline", 0.0), ("infusion", ts[n // 5]), ("recovery", ts[n // 2]), ("discharged", ts[-100])]
    offline = replay(frame, rules, phases)
    assert len(offline) > 100
    assert live_replay(frame, rules, phases) == offline


def test_live_and_offline_agree_on_every_simulated_scenario(tmp_path: Path) -> None:
    """Per-second synthetic ketamine sessions (labelled synthetic), every scenario, phases from the trace."""
    from alerts.trace import phases_from_column, select_patient
    from simulators.cli import main as simulate
    from simulators.scenarios import SCENARIOS

    total = 0
    for name in SCENARIOS:
        path = tmp_path / f"{name}.csv"
        assert simulate([name, "--to", f"csv:{path}", "--patients", "1", "--seed", "11"]) == 0
        frame = select_patient(load_trace(path), None)
        phases = phases_from_column(frame)
        offline = replay(frame, default_rules(), phases)
        assert live_replay(frame, default_rules(), phases) == offline, name
        total += len(offline)
    assert total > 0
