"""Simulated patients on a scaled clock play truthfully: clock-time stamps, alarms as at speed 1.

The demo's ``--speed 30`` used to compress timestamps (a 40-minute infusion stamped as 80 s), so
baselines never formed and alarm delays were never met. Now the clock itself runs faster and the
simulator stamps readings with clock time: the recorded session is the one a patient would have at
speed 1, instant for instant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from adapters.sim import SimAdapter
from alerts.replay import replay
from alerts.rules import default_rules
from monitor.clock import FakeClock
from monitor.model import IngestItem, Phase, Reading, SubmitResult
from simulators.live import LivePatient
from simulators.scenarios import SCENARIOS


class Recorder:
    """An ingest sink that keeps what it is given (the thing under test is the simulator's timing)."""

    def __init__(self) -> None:
        self.items: list[IngestItem] = []

    async def submit(self, items: Sequence[IngestItem], *, dedupe_key: str | None = None) -> SubmitResult:
        self.items.extend(items)
        return SubmitResult(len(items), 0)


async def play_one_session(scenario: str, rate: float) -> tuple[float, list[Reading], list[tuple[Phase, float]]]:
    clock = FakeClock(start=1_800_000_000.0, rate=rate)
    phases: list[tuple[Phase, float]] = []

    async def hook(bed: str, phase: Phase, ts: float, patient_ref: str) -> None:
        phases.append((phase, ts))

    sink = Recorder()
    adapter = SimAdapter(["chair-1"], scenario=scenario, clock=clock, session_hook=hook, gap_s=10_000.0)
    task = asyncio.create_task(adapter.run(sink))
    await asyncio.sleep(0)
    while adapter.sessions_played == 0:
        await clock.advance(60.0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    epoch = phases[0][1]  # the session's start on the clock
    return epoch, [i for i in sink.items if isinstance(i, Reading)], phases


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
async def test_a_session_at_speed_30_is_the_session_at_speed_1(scenario: str) -> None:
    epoch, readings, phases = await play_one_session(scenario, rate=30.0)
    trace = LivePatient(scenario, 0, 0).trace
    # Phases at their true instants: the infusion lasts its minutes of clock time (40 for depression).
    assert phases == [(phase, epoch + offset) for offset, phase in trace.phase_changes]
    start = dict((p, t) for p, t in phases)
    assert start[Phase.RECOVERY] - start[Phase.INFUSION] == trace.plan.infusion_s
    if trace.plan.protocol == "iv-ketamine-depression" and scenario != "mixed":
        assert trace.plan.infusion_s == 40 * 60
    # Every reading stamped with its true instant on the clock (not compressed by the speed).
    frame = trace.frame
    for vital in {r.vital for r in readings}:
        got = sorted((r.ts - epoch, r.value) for r in readings if r.vital is vital)
        column = frame[vital.value].to_numpy()
        expected = [(float(t), float(v)) for t, v in zip(frame["ts"], column, strict=True) if not np.isnan(v)]
        assert got == expected
    # Hence the clinic's rules raise what they raise at speed 1, baselines included.
    played = pd.DataFrame({"ts": [r.ts - epoch for r in readings], "vital": [r.vital.value for r in readings]})
    played["value"] = [r.value for r in readings]
    wide = played.pivot_table(index="ts", columns="vital", values="value").reset_index()
    at_speed_1 = replay(frame, default_rules(), [(p.value, float(t)) for t, p in trace.phase_changes])
    at_speed_30 = replay(wide, default_rules(), [(p.value, t - epoch) for p, t in phases])
    assert [(e.rule_id, e.start, e.end) for e in at_speed_30] == [(e.rule_id, e.start, e.end) for e in at_speed_1]
    if scenario in ("tachycardia", "bradycardia", "desaturation", "hypertensive"):
        assert at_speed_30, f"{scenario}: its alarm must fire"


async def test_a_speed_beyond_the_clock_compresses_only_that_difference() -> None:
    """``sim://?speed=20`` on a real-time server (test feeds): 20 simulated seconds per clock second."""
    clock = FakeClock(start=0.0)
    sink = Recorder()
    adapter = SimAdapter(["chair-1"], scenario="routine", clock=clock, speed=20.0)
    task = asyncio.create_task(adapter.run(sink))
    for _ in range(30):
        await clock.advance(1.0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    stamps = sorted({i.ts for i in sink.items})
    assert stamps[-1] <= 30.0 and len(stamps) >= 500  # ~600 simulated seconds in 30 clock seconds
    assert np.allclose(np.diff(stamps), 1 / 20)
