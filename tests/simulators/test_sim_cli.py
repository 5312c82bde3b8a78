"""``ivmon simulate`` through the real command function: --list, CSV output, errors, a live target."""

from __future__ import annotations

import argparse
import asyncio
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.model import Vital
from simulators import cli
from simulators.emit.csv import CsvTarget
from simulators.physiology import VITAL_COLUMNS, simulate_session
from simulators.scenarios import SCENARIOS
from simulators.targets import TARGETS

HEADER = "patient,ts,phase,hr,pr,spo2,sbp,dbp,map"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli.add_simulate_arguments(parser)
    return cli.simulate_command(parser.parse_args(argv))


def expected_line(patient: int, row: pd.Series) -> str:
    cells = [str(patient), str(int(row["ts"])), str(row["phase"])]
    cells += ["" if np.isnan(row[c]) else str(int(row[c])) for c in VITAL_COLUMNS]
    return ",".join(cells)


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(SCENARIOS)
    for line, scenario in zip(lines, SCENARIOS.values(), strict=True):
        assert line.endswith(scenario.description)


def test_csv_file_format(tmp_path: Path) -> None:
    out = tmp_path / "sim.csv"
    assert run("sensor-off", "--patients", "2", "--seed", "4", "--to", f"csv:{out}") == 0
    text = out.read_text()
    lines = text.split("\n")
    assert lines[0] == HEADER and lines[-1] == ""  # one header, newline-terminated rows
    traces = [simulate_session("sensor-off", 4, p) for p in (0, 1)]
    assert len(lines) - 2 == sum(len(t.frame) for t in traces)
    assert ".0" not in text and '"' not in text
    rows = iter(lines[1:])
    for trace in traces:
        for _, row in trace.frame.iterrows():
            assert next(rows) == expected_line(trace.patient, row)
    # Spot checks of the empty-cell conventions, independent of the helper above.
    assert (
        lines[1]
        == "0,0,baseline," + ",".join(str(int(traces[0].frame.loc[0, c])) for c in ("hr", "pr", "spo2")) + ",,,"
    )
    t0 = traces[0]
    assert f"0,{t0.duration_s},discharged,,,,,," in lines
    off = int(t0.frame.loc[t0.frame["sensor_off"], "ts"].iloc[0])
    cells = lines[1 + off].split(",")
    assert cells[1] == str(off) and cells[3] != "" and cells[4] == "" and cells[5] == ""


def test_csv_to_standard_output(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert run("routine", "--seed", "2") == 0  # default target: csv:-
    captured = capsysbinary.readouterr()
    frame = pd.read_csv(io.BytesIO(captured.out))
    trace = simulate_session("routine", 2)
    assert list(frame.columns) == HEADER.split(",")
    assert (frame["patient"] == 0).all()
    pd.testing.assert_series_equal(frame["hr"], trace.frame["hr"], check_names=False)
    pd.testing.assert_series_equal(frame["sbp"], trace.frame["sbp"], check_names=False)
    assert b"rows to csv:-" in captured.err and b"synthetic" in captured.err


def test_per_second_target_writes_the_same_bytes(tmp_path: Path) -> None:
    traces = [simulate_session("artefact", 8, 0), simulate_session("sensor-off", 8, 1)]
    fast = tmp_path / "fast.csv"
    slow = tmp_path / "slow.csv"
    CsvTarget(str(fast)).write_sessions(traces)

    async def one_by_one() -> None:
        target = CsvTarget(str(slow))
        await target.open()
        for trace in traces:
            for _, row in trace.frame.iterrows():
                vitals = {Vital(c): float(row[c]) for c in VITAL_COLUMNS if not np.isnan(row[c])}
                await target.send(trace.patient, 1_700_000_000.0 + row["ts"], str(row["phase"]), vitals)
        await target.close()

    asyncio.run(one_by_one())
    assert fast.read_bytes() == slow.read_bytes()


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        ((), 2, "a scenario is required"),
        (("nonsense",), 2, "unknown scenario 'nonsense'"),
        (("routine", "--to", "ftp://x"), 2, "unknown target"),
        (("routine", "--to", "csv:"), 2, "csv target needs a file"),
        (("routine", "--to", "serial:/dev/ttyS0"), 2, "needs --protocol"),
        (("routine", "--to", "csv:/nonexistent-dir/x.csv"), 1, "No such file"),
    ],
)
def test_errors(argv: tuple[str, ...], status: int, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(*argv) == status
    assert message in capsys.readouterr().err


def test_missing_target_module_is_reported(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(cli.TARGET_MODULES, "ghost", "simulators.emit.no_such_target")
    assert run("routine", "--to", "ghost://127.0.0.1:1") == 1
    assert "target not available: ghost" in capsys.readouterr().err


class Recorder:
    """A live target that keeps what it is sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, float, str, dict[Vital, float]]] = []
        self.opened = self.closed = False

    async def open(self) -> None:
        self.opened = True

    async def send(self, patient: int, ts: float, phase: str, vitals: dict[Vital, float]) -> None:
        self.sent.append((patient, ts, phase, vitals))

    async def close(self) -> None:
        self.closed = True


def test_live_target_gets_every_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    monkeypatch.setitem(cli.TARGET_MODULES, "rec", "simulators.targets")
    monkeypatch.setitem(TARGETS, "rec", lambda to, args: recorder)
    # 2 sessions of about 100 simulated minutes in well under a second of real time.
    assert run("desaturation", "--to", "rec://", "--patients", "2", "--speed", "200000", "--stagger", "600") == 0
    assert recorder.opened and recorder.closed
    for patient in (0, 1):
        frame = simulate_session("desaturation", 0, patient).frame
        with_readings = frame[frame[list(VITAL_COLUMNS)].notna().any(axis=1)]
        got = [s for s in recorder.sent if s[0] == patient]
        assert len(got) == len(with_readings)
        ts = np.array([s[1] for s in got])
        assert np.all(np.diff(ts) > 0)
        # Stamped on a clock running at --speed: one simulated second is one second of the stamps (sent
        # 1/speed real seconds apart); patient 1 starts 600 s later.
        assert np.allclose(np.diff(ts), np.diff(with_readings["ts"].to_numpy()), rtol=0, atol=1e-6)
        assert [s[2] for s in got] == with_readings["phase"].astype(str).tolist()
        assert min(s[3][Vital.SPO2] for s in got if Vital.SPO2 in s[3]) < 90
    first = {p: min(s[1] for s in recorder.sent if s[0] == p) for p in (0, 1)}
    assert first[1] - first[0] == pytest.approx(600, abs=1e-6)
