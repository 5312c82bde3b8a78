"""What-if: a hand-checked small case for every column, a rule set against itself, the CLI's outputs."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alerts.cases import trace_cases
from alerts.rules import default_rules, loads_rules
from alerts.trace import load_trace
from alerts.whatif import Answer, compare, compare_replays
from alerts.whatif_cli import main

CURRENT = """
[[rule]]
id = "spo2-low"
vital = "spo2"
op = "<"
limit = 90
priority = "high"
phases = ["infusion", "recovery"]

[[rule]]
id = "hr-high"
vital = "hr"
op = ">"
limit = 120
priority = "medium"
"""
PROPOSED = """
[[rule]]
id = "spo2-low"
vital = "spo2"
op = "<"
limit = 90
priority = "high"
delay_s = 5
phases = ["infusion", "recovery"]

[[rule]]
id = "hr-very-high"
vital = "hr"
op = ">"
limit = 130
priority = "low"
"""


def _trace(tmp_path: Path) -> Path:
    """Patient a, one reading a second for 41 s: baseline 0-9, infusion 10-29, recovery 30-40.

    SpO2 88 at 12-13 (a 2 s dip), 85 at 20-27 (8 s), 80 at 33-34 (2 s, recovery); HR 135 at 15-18.
    Patient b: quiet.
    """
    rows = []
    for t in range(41):
        phase = "baseline" if t < 10 else "infusion" if t < 30 else "recovery"
        spo2 = 88 if t in (12, 13) else 85 if 20 <= t <= 27 else 80 if t in (33, 34) else 97
        hr = 135 if 15 <= t <= 18 else 70
        rows.append(("a", 1000 + t, phase, spo2, hr))
        rows.append(("b", t, phase, 97, 70))
    path = tmp_path / "hand.csv"
    pd.DataFrame(rows, columns=["patient", "ts", "phase", "spo2", "hr"]).to_csv(path, index=False)
    return path


def test_every_column_by_hand(tmp_path: Path) -> None:
    cases = trace_cases(load_trace(_trace(tmp_path)))
    answers = [
        Answer("a", "spo2-low", "spo2", 1012.0, True),  # the 2 s dip: removed, was actionable
        Answer("a", "spo2-low", "spo2", 1020.0, True),  # kept (shifted to 1025): not counted
        Answer("a", "spo2-low", "spo2", 1033.0, False),  # removed, not actionable
        Answer("a", "hr-high", "hr", 1015.0, True),  # the rule is gone: removed, actionable
    ]
    got = compare(cases, loads_rules(CURRENT), loads_rules(PROPOSED), answers)
    table = {(r.rule_id, r.phase): r.as_dict() for r in got.rows}
    assert set(table) == {("hr-high", "infusion"), ("hr-very-high", "infusion"), ("spo2-low", "infusion"),
                          ("spo2-low", "recovery")}  # fmt: skip
    spo2_inf = table[("spo2-low", "infusion")]
    # now: 12-14 (2 s) and 20-28 (8 s); proposed: 25-28 (3 s) only
    assert spo2_inf == {
        "rule_id": "spo2-low",
        "phase": "infusion",
        "episodes_now": 2,
        "episodes_proposed": 1,
        "difference": -1,
        "alarm_minutes_now": pytest.approx(10 / 60),
        "alarm_minutes_proposed": pytest.approx(3 / 60),
        "median_s_now": 5.0,
        "median_s_proposed": 3.0,
        "removed": 1,
        "removed_actionable": 1,
        "added": 0,
    }
    spo2_rec = table[("spo2-low", "recovery")]  # 33-35 (2 s), gone with the delay
    assert (spo2_rec["episodes_now"], spo2_rec["episodes_proposed"], spo2_rec["difference"]) == (1, 0, -1)
    assert (spo2_rec["median_s_now"], spo2_rec["median_s_proposed"]) == (2.0, None)
    assert (spo2_rec["removed"], spo2_rec["removed_actionable"], spo2_rec["added"]) == (1, 0, 0)
    hr_old, hr_new = table[("hr-high", "infusion")], table[("hr-very-high", "infusion")]  # 15-19 (4 s) both
    assert (hr_old["episodes_now"], hr_old["removed"], hr_old["removed_actionable"], hr_old["added"]) == (1, 1, 1, 0)
    assert (hr_new["episodes_proposed"], hr_new["added"], hr_new["removed"]) == (1, 1, 0)
    assert hr_new["alarm_minutes_proposed"] == pytest.approx(4 / 60) and hr_new["median_s_proposed"] == 4.0
    total = got.total.as_dict()
    assert (total["episodes_now"], total["episodes_proposed"], total["difference"]) == (4, 2, -2)
    assert (total["removed"], total["removed_actionable"], total["added"]) == (3, 2, 1)
    assert total["median_s_now"] == 3.0 and total["median_s_proposed"] == 3.5  # of (2, 8, 2, 4) and (3, 4)
    assert got.changed == ["a"] and got.cases == 2 and got.answers_known
    assert got.removed_actionable == 2


def test_a_rule_set_against_itself_changes_nothing(tmp_path: Path) -> None:
    from simulators.cli import main as simulate

    sim = tmp_path / "sim.csv"
    assert simulate(["mixed", "--to", f"csv:{sim}", "--patients", "6", "--seed", "2"]) == 0
    cases = trace_cases(load_trace(sim))
    got = compare(cases, default_rules(), default_rules())
    assert got.rows and got.total.episodes_now > 0
    for r in [*got.rows, got.total]:
        assert r.difference == 0 and r.removed == 0 and r.added == 0 and r.removed_actionable == 0
        assert r.alarm_minutes_now == r.alarm_minutes_proposed and r.median_s_now == r.median_s_proposed
    assert got.changed == [] and not got.answers_known


def test_cli_prints_writes_csv_and_episode_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    current, proposed = tmp_path / "current.toml", tmp_path / "proposed.toml"
    current.write_text(CURRENT)
    proposed.write_text(PROPOSED)
    out, episodes = tmp_path / "cmp.csv", tmp_path / "eps"
    trace = _trace(tmp_path)
    args = [str(trace), "--rules", str(proposed), "--baseline", str(current)]
    assert main([*args, "--out", str(out), "--episodes", str(episodes)]) == 0
    printed = capsys.readouterr().out
    assert "spo2-low" in printed and "2 case(s) replayed, 1 with changed alarms" in printed
    assert "No nurse answers" in printed  # a trace has none: the actionable column reads n/a
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["rule_id"] for r in rows] == ["hr-high", "hr-very-high", "spo2-low", "spo2-low", "all rules"]
    assert rows[2]["episodes_now"] == "2" and rows[2]["difference"] == "-1"
    now = (episodes / "now.csv").read_text().splitlines()
    assert now[0] == "patient,rule_id,vital,priority,start_s,end_s,worst"
    assert now[1:] == [
        "a,spo2-low,spo2,high,12,14,88",
        "a,hr-high,hr,medium,15,19,135",
        "a,spo2-low,spo2,high,20,28,85",
        "a,spo2-low,spo2,high,33,35,80",
    ]
    assert (episodes / "proposed.csv").read_text().splitlines()[1:] == [
        "a,hr-very-high,hr,low,15,19,135",
        "a,spo2-low,spo2,high,25,28,85",
    ]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nid = "x"\nvital = "hr"\nop = ">"\nlimit = 1\npriority = "urgent"\n')
    assert main([str(trace), "--rules", str(bad)]) == 2
    assert "priority must be high, medium or low" in capsys.readouterr().err


def test_rules_in_force_as_rule_file_text_read_back_the_same() -> None:
    from alerts.rules import rules_to_toml

    odd = loads_rules(
        '[[rule]]\nid = "quote \\" and é"\nvital = "hr"\nop = ">="\nbaseline_ratio = 1.2\npriority = "low"\n'
    )
    for rules in (default_rules(), odd):
        assert loads_rules(rules_to_toml(rules)) == rules


def test_removed_and_added_by_overlap_of_closed_intervals() -> None:
    """Same rule and vital: touching counts as overlapping, an open episode runs on to the end."""
    from alerts.cases import Case, CaseEpisodes
    from alerts.replay import Episode
    from monitor.model import Priority, Vital

    def ep(start: float, end: float | None) -> Episode:
        return Episode("r", Vital.HR, Priority.LOW, start, end, 130.0)

    case = Case("s", [("infusion", 0.0)], 0.0, series={"hr": (np.array([0.0, 100.0]), np.array([70.0, 70.0]))})
    now = [CaseEpisodes(case, [ep(10, 20), ep(30, 35), ep(60, None)])]
    proposed = [CaseEpisodes(case, [ep(20, 25), ep(36, 40), ep(70, 80), ep(90, None)])]
    row = compare_replays(now, proposed).rows[0]
    # 10-20 meets 20-25 (kept); 30-35 meets nothing (removed); 60-open meets 70-80 and 90-open (kept)
    assert (row.removed, row.added) == (1, 1)  # 36-40 is new
    assert row.alarm_minutes_now == pytest.approx((10 + 5 + 40) / 60)  # the open one counted to 100 s
