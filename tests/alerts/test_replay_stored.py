"""``ivmon replay --db``: stored sessions replayed give exactly the alarms the live engine raised for them."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import create_engine

import alerts
from alerts.cases import replay_cases, stored_cases
from alerts.cli import main
from alerts.rules import default_rules
from alerts.whatif import answers_of, compare
from alerts.whatif_cli import main as whatif
from monitor.store.replay_source import physiological_alarms
from tests.alerts.stored_sessions import SCENARIOS, START, record_sessions


@pytest.fixture
async def recorded(db_url: str) -> str:
    await record_sessions(db_url)
    return db_url


async def test_replay_of_stored_sessions_is_what_the_live_engine_raised(recorded: str) -> None:
    engine = create_engine(recorded)
    try:
        cases = stored_cases(engine)
        live = physiological_alarms(engine, [int(c.key) for c in cases])
    finally:
        engine.dispose()
    assert len(cases) == len(SCENARIOS)
    replayed = sorted(
        (int(done.case.key), ep.rule_id, ep.vital.value, ep.start, ep.end)
        for done in replay_cases(cases, default_rules())
        for ep in done.episodes
    )
    raised = sorted((a.session_id, a.rule_id, a.vital, a.started, a.ended) for a in live)
    assert len(raised) >= 4  # every alarming scenario raised something
    assert replayed == raised
    # what-if of the clinic rules against themselves over the stored sessions: nothing changes
    same = compare(cases, default_rules(), default_rules(), answers_of(live))
    assert same.total.episodes_now == len(raised) and same.changed == []
    assert all(r.difference == 0 and r.removed == 0 and r.added == 0 for r in [*same.rows, same.total])


async def test_cli_replays_the_database_with_session_column_and_filters(
    recorded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "db.csv"
    assert main(["--db", recorded, "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(rows[0]) == ["session", "rule_id", "vital", "priority", "start_s", "end_s", "worst"]
    engine = create_engine(recorded)
    try:
        cases = {c.key: c for c in stored_cases(engine)}
        live = physiological_alarms(engine, [int(k) for k in cases])
    finally:
        engine.dispose()
    got = sorted((int(r["session"]), r["rule_id"], float(r["start_s"])) for r in rows)
    want = sorted((a.session_id, a.rule_id, round(a.started - cases[str(a.session_id)].t0, 6)) for a in live)
    assert [(s, r, round(t, 6)) for s, r, t in got] == want
    # --bed picks one chair's session; --from/--to bound the start; nothing started after the period
    assert main(["--db", recorded, "--bed", "chair-1", "--out", str(out)]) == 0
    assert {r["session"] for r in csv.DictReader(io.StringIO(out.read_text()))} == {
        k for k, c in cases.items() if c.session is not None and c.session.bed == "chair-1"
    }
    assert main(["--db", recorded, "--from", "2028-01-01T00:00:00+01:00", "--out", str(out)]) == 0
    assert out.read_text().splitlines() == ["session,rule_id,vital,priority,start_s,end_s,worst"]
    assert main(["--db", recorded, "--from", str(START - 1), "--to", str(START + 1), "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) > 1
    capsys.readouterr()
    assert main(["--db", recorded, "--from", "yesterday"]) == 2
    assert "not POSIX seconds or an ISO 8601 time" in capsys.readouterr().err
    assert main(["--db", recorded, "--patient", "1"]) == 2
    assert "apply to a trace FILE" in capsys.readouterr().err
    assert main([]) == 2
    assert "either a trace FILE or --db" in capsys.readouterr().err
    # ivmon whatif --db: a stricter SpO2 limit adds alarms in the desaturating session
    proposed = tmp_path / "proposed.toml"
    proposed.write_text(
        (Path(alerts.__file__).parent / "defaults.toml").read_text()
        + '[[rule]]\nid = "spo2-review"\nvital = "spo2"\nop = "<"\nlimit = 94\npriority = "low"\n'
    )
    table = tmp_path / "cmp.csv"
    assert whatif(["--db", recorded, "--rules", str(proposed), "--out", str(table)]) == 0
    printed = capsys.readouterr().out
    compared = {(r["rule_id"], r["phase"]): r for r in csv.DictReader(io.StringIO(table.read_text()))}
    added = [r for (rule, _), r in compared.items() if rule == "spo2-review"]
    assert added and all(int(r["added"]) == int(r["episodes_proposed"]) > 0 for r in added), printed
    others = [r for (rule, _), r in compared.items() if rule not in ("spo2-review", "all rules")]
    assert others and all(r["difference"] == "0" for r in others)
