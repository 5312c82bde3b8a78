"""``ivmon replay`` on small files: the CSV contract of issue 3."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from alerts.cli import main, parse_phases

CSV = """ts,HR_bpm,spo2,sbp,dbp
0,70,97,,
10,72,96,165,90
20,75,80,,
30,75,82,,
40,75,97,185,95
50,0,97,,
60,131,97,120,80
"""


def _run(tmp_path: Path, *args: str) -> list[str]:
    out = tmp_path / "alarms.csv"
    assert main([*args, "--out", str(out)]) == 0
    return out.read_text().splitlines()


def test_replay_csv_with_map_phases_and_open_episode(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text(CSV)
    lines = _run(tmp_path, str(trace), "--map", "HR_bpm=hr", "--phases", "baseline=0,infusion=15,recovery=45")
    assert lines == [
        "rule_id,vital,priority,start_s,end_s,worst",
        "bp-prestart-review-sys,sbp,medium,10,15,165",  # ended by the change to infusion
        "spo2-critical,spo2,high,20,40,80",
        "bp-severe-sys,sbp,high,40,60,185",  # infusion -> recovery at 45 s does not end it; sbp 120 does
    ]  # hr 0 is implausible (stored invalid, never judged); hr 131 at 60 s has not lasted 10 s


def test_zero_is_missing_and_default_phase_is_infusion(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text(CSV)
    lines = _run(tmp_path, str(trace), "--map", "HR_bpm=hr", "--zero-is-missing")
    assert lines[1:] == ["spo2-critical,spo2,high,20,40,80", "bp-severe-sys,sbp,high,40,60,185"]
    assert _run(tmp_path, str(trace), "--map", "HR_bpm=hr,sbp=map")[1:] == ["spo2-critical,spo2,high,20,40,80"]


def test_iso_timestamps_parquet_and_rule_file(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"ts": ["2026-01-01T10:00:00Z", "2026-01-01T10:00:30Z", "2026-01-01T10:01:00Z"], "hr": [100.0, 120.0, 125.0]}
    )
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    rules = tmp_path / "r.toml"
    rules.write_text('[[rule]]\nid = "tachy"\nvital = "hr"\nop = ">"\nlimit = 110\npriority = "low"\n')
    lines = _run(tmp_path, str(path), "--rules", str(rules), "--phase-times", "infusion=0")
    assert lines[1:] == ["tachy,hr,low,30,,125"]


def test_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text(CSV)
    assert main([str(trace), "--map", "HR_bpm=heart"]) == 2
    assert "unknown vital key(s) heart" in capsys.readouterr().err
    assert main([str(trace), "--phases", "infusion=10,baseline=0"]) == 2
    assert "comes before" in capsys.readouterr().err
    assert main([str(tmp_path / "none.csv")]) == 2
    assert "cannot read trace" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown phase 'sleep'"):
        parse_phases("sleep=0")


def test_module_entry_prints_csv_to_stdout(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("ts,spo2\n0,80\n5,97\n")
    done = subprocess.run(
        [sys.executable, "-m", "alerts.cli", str(trace)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.stdout.splitlines() == ["rule_id,vital,priority,start_s,end_s,worst", "spo2-critical,spo2,high,0,5,80"]


def test_simulator_csv_phases_and_patients(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``ivmon simulate --to csv`` output (synthetic) replays with its own phase column."""
    from simulators.cli import main as simulate

    sim = tmp_path / "sim.csv"
    assert simulate(["hypertensive", "--to", f"csv:{sim}", "--patients", "2", "--seed", "3"]) == 0
    rows = _run(tmp_path, str(sim), "--patient", "1")
    fired = {line.split(",")[0] for line in rows[1:]}
    assert {"bp-rise", "bp-severe-sys"} <= fired
    # an explicit --phases wins over the column: all baseline, so only the pre-start rules can fire
    rows = _run(tmp_path, str(sim), "--patient", "1", "--phases", "baseline=0")
    assert {line.split(",")[0] for line in rows[1:]} <= {
        "bp-prestart-review-sys",
        "bp-prestart-review-dia",
        "bp-prestart-stop-sys",
        "bp-prestart-stop-dia",
        "spo2-borderline",
        "spo2-critical",
        "spo2-low",
        "hr-high",
        "hr-low",
        "hr-high-critical",
        "hr-low-critical",
        "bp-low",
        "bp-low-critical",
    }


def _keyed(lines: list[str]) -> dict[str, list[str]]:
    """Rows of a multi-patient episodes CSV grouped by their leading patient cell."""
    out: dict[str, list[str]] = {}
    for line in lines[1:]:
        patient, _, rest = line.partition(",")
        out.setdefault(patient, []).append(rest)
    return out


def test_every_patient_replayed_as_if_alone(tmp_path: Path) -> None:
    """No --patient: every patient with its own phases; patient by patient what --patient gives."""
    from simulators.cli import main as simulate
    from simulators.scenarios import SCENARIOS

    seen_alarms = 0
    for scenario in SCENARIOS:
        sim = tmp_path / f"{scenario}.csv"
        assert simulate([scenario, "--to", f"csv:{sim}", "--patients", "3", "--seed", "5"]) == 0
        lines = _run(tmp_path, str(sim))
        assert lines[0] == "patient,rule_id,vital,priority,start_s,end_s,worst"
        keyed = _keyed(lines)
        for patient in ("0", "1", "2"):
            alone = _run(tmp_path, str(sim), "--patient", patient)
            assert keyed.get(patient, []) == alone[1:], (scenario, patient)
            seen_alarms += len(alone) - 1
        # the same with explicit phases, relative to each patient's own start
        phased = _keyed(_run(tmp_path, str(sim), "--phases", "baseline=0,infusion=600"))
        for patient in ("0", "1", "2"):
            alone = _run(tmp_path, str(sim), "--patient", patient, "--phases", "baseline=0,infusion=600")
            assert phased.get(patient, []) == alone[1:], (scenario, patient)
    assert seen_alarms > 10


def test_patients_interleaved_and_offset_in_time(tmp_path: Path) -> None:
    """Rows of two patients interleaved, each at its own clock: episodes are each patient's own, times from
    each patient's first row; a patient without alarms has no rows."""
    trace = tmp_path / "two.csv"
    trace.write_text(
        "patient,ts,phase,spo2\n"
        "a,100,infusion,97\n"
        "b,5000,infusion,80\n"
        "a,101,infusion,84\n"
        "b,5001,infusion,81\n"
        "a,102,infusion,96\n"
        "b,5002,discharged,80\n"
        "c,0,infusion,99\n"
    )
    assert _run(tmp_path, str(trace)) == [
        "patient,rule_id,vital,priority,start_s,end_s,worst",
        "a,spo2-critical,spo2,high,1,2,84",
        "b,spo2-critical,spo2,high,0,2,80",  # ended by the discharge,
        "b,spo2-critical,spo2,high,2,,80",  # then raised again for the unassigned reading (always-on rule)
    ]
