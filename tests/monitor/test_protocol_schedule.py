"""The protocol schedule: checkpoints due, taken, late and overdue; the next cuff reading; the planned end."""

from __future__ import annotations

from monitor.clock import FakeClock
from monitor.model import Phase, PhaseChange, Session
from monitor.protocols import shipped_protocols
from monitor.protocols.schedule import Status, schedule_of

T0 = 1_700_000_000.0
MIN = 60.0
CYCLES = {Phase.INFUSION: 600.0, Phase.RECOVERY: 900.0}


def _session(protocol: str, *phases: tuple[Phase, float], **fields: object) -> Session:
    changes = [PhaseChange(Phase.BASELINE, T0, "nurse"), *(PhaseChange(p, t, "nurse") for p, t in phases)]
    return Session(1, "chair-1", "PT", changes[-1].phase, T0, phases=changes, protocol=protocol, **fields)  # type: ignore[arg-type]


def test_esketamine_checkpoints_before_dosing_at_40_min_and_before_the_end() -> None:
    protocol = shipped_protocols()["in-esketamine"]
    clock = FakeClock(T0)
    dosing = T0 + 10 * MIN
    s = _session("in-esketamine")
    plan = schedule_of(s, protocol, [T0 + 5 * MIN], clock.now(), default_cycle_s=CYCLES)
    assert [c.status for c in plan.checkpoints if c.checkpoint.kind == "bp"] == [Status.PENDING] * 3
    s = _session("in-esketamine", (Phase.INFUSION, dosing))
    clock.set(dosing + 30 * MIN)
    plan = schedule_of(s, protocol, [T0 + 5 * MIN], clock.now(), default_cycle_s=CYCLES)
    before, at40, end = (c for c in plan.checkpoints if c.checkpoint.kind == "bp")
    assert (before.status, before.taken_at) == (Status.TAKEN, T0 + 5 * MIN)  # 5 min before dosing counts
    assert (at40.status, at40.due) == (Status.UPCOMING, dosing + 40 * MIN)
    assert plan.next_nibp_due == dosing + 40 * MIN and plan.next_nibp_reason == "BP due at 40 min"
    # In its window (35-45 min) it is due; a cuff reading at 38 min takes it on time.
    clock.set(dosing + 36 * MIN)
    assert schedule_of(s, protocol, [T0 + 5 * MIN], clock.now(), default_cycle_s=CYCLES).checkpoints[1].status == (
        Status.DUE
    )
    clock.set(dosing + 39 * MIN)
    taken = schedule_of(s, protocol, [T0 + 5 * MIN, dosing + 38 * MIN], clock.now(), default_cycle_s=CYCLES)
    assert taken.checkpoints[1].status == Status.TAKEN
    # Not taken by 45 min: overdue; taken at 47 min: late.
    clock.set(dosing + 46 * MIN)
    assert schedule_of(s, protocol, [], clock.now(), default_cycle_s=CYCLES).checkpoints[1].status == Status.OVERDUE
    clock.set(dosing + 48 * MIN)
    late = schedule_of(s, protocol, [dosing + 47 * MIN], clock.now(), default_cycle_s=CYCLES).checkpoints[1]
    assert (late.status, late.taken_at) == (Status.LATE, dosing + 47 * MIN)
    assert end.due == dosing + 120 * MIN
    # No pre-dose reading at all: overdue the moment dosing starts (its window closes then).
    assert schedule_of(s, protocol, [], dosing + 1, default_cycle_s=CYCLES).checkpoints[0].status == Status.OVERDUE


def test_assessment_checkpoints_count_recorded_assessments_and_the_next_one_counts_down() -> None:
    protocol = shipped_protocols()["in-esketamine"]
    dosing = T0 + 10 * MIN
    s = _session("in-esketamine", (Phase.INFUSION, dosing))
    plan = schedule_of(s, protocol, [], dosing + 20 * MIN, default_cycle_s=CYCLES)
    assert plan.next_assessment is not None and plan.next_assessment.due == dosing + 40 * MIN
    done = schedule_of(
        s,
        protocol,
        [],
        dosing + 41 * MIN,
        default_cycle_s=CYCLES,
        assessments={"moaas": [dosing + 39 * MIN], "cadss6": [dosing + 41 * MIN]},
    )
    statuses = {c.checkpoint.scale: c.status for c in done.checkpoints if c.checkpoint.kind == "assessment"}
    assert statuses == {"moaas": Status.TAKEN, "cadss6": Status.TAKEN}
    assert done.next_assessment is None


def test_cuff_cycle_planned_end_overrun_and_earliest_discharge() -> None:
    protocol = shipped_protocols()["iv-ketamine-depression"]
    start = T0 + 10 * MIN
    s = _session("iv-ketamine-depression", (Phase.INFUSION, start), dose_mg=35.0, rate_mg_per_h=52.5)
    plan = schedule_of(s, protocol, [start + 12 * MIN], start + 15 * MIN, default_cycle_s=CYCLES)
    assert plan.next_nibp_due == start + 22 * MIN and plan.next_nibp_reason == "cuff every 10 min"
    assert plan.planned_infusion_end == start + 40 * MIN and plan.overrun_s == 0
    assert schedule_of(s, protocol, [], start + 43 * MIN, default_cycle_s=CYCLES).overrun_s == 3 * MIN
    # 35 mg at 35 mg/h: the session's own plan (60 min) wins over the protocol's 40.
    slow = _session("iv-ketamine-depression", (Phase.INFUSION, start), dose_mg=35.0, rate_mg_per_h=35.0)
    assert schedule_of(slow, protocol, [], start, default_cycle_s=CYCLES).planned_infusion_end == start + 60 * MIN
    stopped = _session("iv-ketamine-depression", (Phase.INFUSION, start), (Phase.RECOVERY, start + 41 * MIN))
    after = schedule_of(stopped, protocol, [start + 50 * MIN], start + 52 * MIN, default_cycle_s=CYCLES)
    assert after.overrun_s == 0 and after.earliest_discharge == start + 71 * MIN
    assert after.next_nibp_due == start + 65 * MIN  # recovery: every 15 min
    # Without a protocol: the clinic's cycle, no checkpoints.
    plain = Session(2, "chair-2", "PT", Phase.INFUSION, T0, phases=[PhaseChange(Phase.INFUSION, T0, "nurse")])
    bare = schedule_of(plain, None, [], T0 + 60, default_cycle_s=CYCLES)
    assert (bare.checkpoints, bare.next_nibp_due) == ((), T0 + 600)
