"""Live patients: each row handed out once, on time, with the phase changes; pacing on a controllable clock."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest

from monitor.model import Phase, Vital
from simulators.live import LivePatient, LiveRow, run_live
from simulators.physiology import VITAL_COLUMNS


def test_due_hands_out_each_row_once_in_order() -> None:
    patient = LivePatient("sensor-off", 3, 1)
    frame = patient.trace.frame
    rows: list[LiveRow] = []
    changes: list[tuple[int, Phase]] = []
    for elapsed in (-5, 0, 0.5, 0.99, 1, 10.5, 10.2, 700, 700, 3000.7, 1e9):
        due = patient.due(elapsed)
        assert all(r.ts <= elapsed for r in due.rows)
        rows += due.rows
        changes += due.phase_changes
    assert patient.done and patient.next_ts is None
    assert [r.ts for r in rows] == frame["ts"].tolist()
    assert changes == list(patient.trace.phase_changes)
    for row, (_, expected) in zip(rows, frame.iterrows(), strict=True):
        assert row.phase.value == expected["phase"]
        assert row.vitals == {Vital(c): expected[c] for c in VITAL_COLUMNS if not math.isnan(expected[c])}
        assert row.flags == ({"sensor_off"} if expected["sensor_off"] else set())
    assert rows[-1].phase is Phase.DISCHARGED and rows[-1].vitals == {}


def test_due_returns_nothing_before_its_time() -> None:
    patient = LivePatient("routine", 0)
    first = patient.due(0)
    assert [r.ts for r in first.rows] == [0] and first.phase_changes == [(0, Phase.BASELINE)]
    assert patient.due(0.9) == ([], [])
    assert patient.next_ts == 1
    start = patient.trace.plan.infusion_start
    due = patient.due(start)
    assert due.phase_changes == [(start, Phase.INFUSION)] and due.rows[-1].phase is Phase.INFUSION


class FakeClock:
    """Monotonic time that moves only when the pacer sleeps.

    Like a real sleep it first lets the other tasks run (the patients' sends
    of what was just due), then moves time on.
    """

    def __init__(self) -> None:
        self.t = 100.0
        self.slept = 0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept += 1
        await asyncio.sleep(0)
        self.t += seconds


class Recorder:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list[tuple[int, float, str, dict[Vital, float], float]] = []

    async def open(self) -> None: ...

    async def send(self, patient: int, ts: float, phase: str, vitals: dict[Vital, float]) -> None:
        self.sent.append((patient, ts, phase, vitals, self.clock.t))

    async def close(self) -> None: ...


@pytest.mark.parametrize("speed", [1.0, 7.5])
def test_run_live_paces_on_the_clock(speed: float) -> None:
    clock = FakeClock()
    target = Recorder(clock)
    patients = [LivePatient("routine", 5, p) for p in range(3)]
    stagger = 90.0
    sent = asyncio.run(
        run_live(patients, target, speed=speed, stagger_s=stagger, epoch0=1e9, now=clock.now, sleep=clock.sleep)
    )
    assert sent == len(target.sent)
    for i, patient in enumerate(patients):
        frame = patient.trace.frame
        expected = frame.loc[frame[list(VITAL_COLUMNS)].notna().any(axis=1), "ts"].to_numpy()
        got = [s for s in target.sent if s[0] == i]
        sim_ts = i * stagger + expected
        # Timestamps: the instant the reading is due on a clock running at the speed (the session's
        # own seconds, not compressed: a 40-minute infusion is stamped over 40 minutes).
        assert np.allclose([s[1] for s in got], 1e9 + sim_ts)
        # Sent when due: never early, never late (the clock moves only by the pacer's own sleeps).
        real = np.array([s[4] - 100.0 for s in got])
        assert np.allclose(real, sim_ts / speed)
    total = max(i * stagger + p.duration_s for i, p in enumerate(patients))
    assert clock.t - 100.0 <= total / speed + 1e-6
    assert clock.slept >= max(p.duration_s for p in patients)  # it waited second by second


def test_run_live_refuses_a_zero_speed() -> None:
    with pytest.raises(ValueError, match="speed"):
        asyncio.run(run_live([LivePatient("routine", 0)], Recorder(FakeClock()), speed=0))


class StalledPatient(Recorder):
    """Patient 0's first send hangs until released (an ACK that does not come), the others answer at once."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.release = asyncio.Event()

    async def send(self, patient: int, ts: float, phase: str, vitals: dict[Vital, float]) -> None:
        if patient == 0 and not self.release.is_set():
            self.sent.append((patient, ts, phase, vitals, self.clock.t))
            await self.release.wait()
            return
        await super().send(patient, ts, phase, vitals)


def test_a_stalled_patient_delays_nobody_and_sends_its_backlog_in_order() -> None:
    clock = FakeClock()
    target = StalledPatient(clock)
    patients = [LivePatient("routine", 1, p) for p in range(3)]

    async def scenario() -> int:
        run = asyncio.create_task(
            run_live(
                patients, target, speed=1.0, stagger_s=0.5, duration_s=600, epoch0=0.0, now=clock.now, sleep=clock.sleep
            )
        )
        while clock.t < 400.0:  # patient 0 hangs for 300 s of the run
            await asyncio.sleep(0)
        target.release.set()
        return await run

    sent = asyncio.run(scenario())
    assert sent == len(target.sent)
    for i in (1, 2):
        got = [s for s in target.sent if s[0] == i]
        # Sent on time all along, while patient 0 was stuck.
        assert np.allclose([s[4] - 100.0 for s in got], [s[1] for s in got])
        assert len(got) == 600  # one row a second up to the duration (second 0 included, 600 excluded)
    stuck = [s for s in target.sent if s[0] == 0]
    ts = [s[1] for s in stuck]
    assert ts == sorted(ts) and np.allclose(np.diff(ts), 1.0)  # nothing dropped, in order
    assert len(stuck) == 601 and ts[-1] == 600.0  # the rows due by the duration, the last one included
    backlog = [s for s in stuck if s[4] > s[1] + 100.0]
    assert len(backlog) > 200 and all(s[4] >= 400.0 for s in backlog)  # sent late, after the release


def test_run_live_stops_at_the_duration() -> None:
    clock = FakeClock()
    target = Recorder(clock)
    sent = asyncio.run(
        run_live([LivePatient("routine", 0)], target, speed=4.0, duration_s=10.0, now=clock.now, sleep=clock.sleep)
    )
    assert sent == 41  # simulated seconds 0..40 in 10 real seconds
    assert clock.t - 100.0 == pytest.approx(10.0)


def test_run_live_refuses_a_negative_duration() -> None:
    with pytest.raises(ValueError, match="duration"):
        asyncio.run(run_live([LivePatient("routine", 0)], Recorder(FakeClock()), duration_s=-1))
