"""What a session's protocol makes due, and when: checkpoints, the next cuff reading, the planned end.

Pure arithmetic on the session's phase changes, its cuff readings and the clock's ``now`` (given by
the caller, read from ``monitor.clock``): the alarm engine (``alerts/checkpoints.py``) raises the
missed-checkpoint alarms from it, the API (``GET /api/sessions/{id}/schedule``) shows it on the tile.

A BP checkpoint is due at its anchor + ``at_min``; the first valid cuff reading from ``early_min``
before the due time takes it: on time up to ``late_min`` after, late beyond. Not taken ``late_min``
after the due time, it is overdue.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from monitor.model import Phase, Session
from monitor.protocols.model import Anchor, Checkpoint, Protocol

MINUTE = 60.0


class Status(StrEnum):
    PENDING = "pending"  # its anchor has not happened (the infusion has not started)
    UPCOMING = "upcoming"  # before its window
    DUE = "due"  # in its window, not taken yet
    OVERDUE = "overdue"  # past its window, not taken
    TAKEN = "taken"
    LATE = "late"  # taken after its window


#: Checkpoints still to be met.
_OPEN = frozenset({Status.UPCOMING, Status.DUE, Status.OVERDUE})


@dataclass(frozen=True, slots=True)
class CheckpointState:
    index: int
    checkpoint: Checkpoint
    due: float | None  # None while pending
    status: Status
    taken_at: float | None = None

    @property
    def window_end(self) -> float | None:
        return None if self.due is None else self.due + self.checkpoint.late_min * MINUTE


@dataclass(frozen=True, slots=True)
class Schedule:
    checkpoints: tuple[CheckpointState, ...]
    #: When the next cuff reading is due (the phase's cycle or a BP checkpoint, the sooner) and why.
    next_nibp_due: float | None
    next_nibp_reason: str
    #: The next assessment checkpoint not yet past (None: none left).
    next_assessment: CheckpointState | None
    #: Planned end of the infusion (its start + the planned minutes); how far past it the infusion runs.
    planned_infusion_end: float | None
    overrun_s: float
    #: The earliest discharge by the protocol's minimum recovery (None before the infusion stopped).
    earliest_discharge: float | None


def anchor_time(session: Session, anchor: Anchor) -> float | None:
    if anchor == "session_start":
        return session.started
    return session.phase_started(Phase.INFUSION if anchor == "infusion_start" else Phase.RECOVERY)


def planned_infusion_min(session: Session, protocol: Protocol | None) -> float | None:
    """The session's own plan (dose / rate) when it has one, else the protocol's infusion time."""
    if session.dose_mg and session.rate_mg_per_h:
        return session.dose_mg / session.rate_mg_per_h * 60.0
    plan = protocol.phase(Phase.INFUSION) if protocol is not None else None
    return plan.planned_min if plan is not None else None


def checkpoint_state(
    index: int, checkpoint: Checkpoint, session: Session, taken: Sequence[float], now: float
) -> CheckpointState:
    """One checkpoint's state at ``now``; ``taken``: sorted times of what takes it (cuff readings, assessments)."""
    start = anchor_time(session, checkpoint.anchor)
    if start is None:
        return CheckpointState(index, checkpoint, None, Status.PENDING)
    due = start + checkpoint.at_min * MINUTE
    opens = due - checkpoint.early_min * MINUTE
    closes = due + checkpoint.late_min * MINUTE
    first = bisect.bisect_left(taken, opens)
    if first < len(taken) and taken[first] <= now:
        at = taken[first]
        return CheckpointState(index, checkpoint, due, Status.TAKEN if at <= closes else Status.LATE, at)
    if now < opens:
        return CheckpointState(index, checkpoint, due, Status.UPCOMING)
    return CheckpointState(index, checkpoint, due, Status.DUE if now <= closes else Status.OVERDUE)


def schedule_of(
    session: Session,
    protocol: Protocol | None,
    cuff: Sequence[float],
    now: float,
    *,
    default_cycle_s: Mapping[Phase, float],
    assessments: Mapping[str, Sequence[float]] | None = None,
) -> Schedule:
    """The session's schedule at ``now``; ``cuff``: sorted times of its valid cuff readings.

    ``default_cycle_s``: the clinic's cuff cycle per phase for a session without a protocol;
    ``assessments``: sorted times of the session's assessments per scale (none: not recorded here).
    """
    states: list[CheckpointState] = []
    for index, checkpoint in enumerate(protocol.checkpoints if protocol is not None else ()):
        taken = cuff if checkpoint.kind == "bp" else (assessments or {}).get(checkpoint.scale or "", ())
        states.append(checkpoint_state(index, checkpoint, session, taken, now))
    next_due, reason = _next_cuff(session, protocol, cuff, states, default_cycle_s)
    upcoming = [s for s in states if s.checkpoint.kind == "assessment" and s.status in (Status.UPCOMING, Status.DUE)]
    upcoming.sort(key=lambda s: s.due if s.due is not None else float("inf"))
    infusion = session.phase_started(Phase.INFUSION)
    minutes = planned_infusion_min(session, protocol)
    planned_end = infusion + minutes * MINUTE if infusion is not None and minutes is not None else None
    overrun = now - planned_end if planned_end is not None and session.phase == Phase.INFUSION else 0.0
    stopped = session.phase_started(Phase.RECOVERY)
    recovery = protocol.discharge.min_recovery_min if protocol is not None else 30.0
    return Schedule(
        checkpoints=tuple(states),
        next_nibp_due=next_due,
        next_nibp_reason=reason,
        next_assessment=upcoming[0] if upcoming else None,
        planned_infusion_end=planned_end,
        overrun_s=max(0.0, overrun),
        earliest_discharge=stopped + recovery * MINUTE if stopped is not None else None,
    )


def cuff_cycle_s(protocol: Protocol | None, phase: Phase, default_cycle_s: Mapping[Phase, float]) -> float | None:
    """The cuff's cycle in ``phase``: the protocol's (None: no cycle there), else the clinic's setting."""
    if protocol is None:
        return default_cycle_s.get(phase)
    return protocol.nibp_cycle_s(phase)


def _next_cuff(
    session: Session,
    protocol: Protocol | None,
    cuff: Sequence[float],
    states: Sequence[CheckpointState],
    default_cycle_s: Mapping[Phase, float],
) -> tuple[float | None, str]:
    candidates: list[tuple[float, str]] = []
    cycle = cuff_cycle_s(protocol, session.phase, default_cycle_s)
    if cycle is not None and session.phase in (Phase.INFUSION, Phase.RECOVERY):
        started = session.phase_started(Phase.INFUSION)
        since = max(cuff[-1] if cuff else float("-inf"), started if started is not None else session.started)
        candidates.append((since + cycle, f"cuff every {cycle / MINUTE:g} min"))
    for state in states:
        if state.checkpoint.kind == "bp" and state.due is not None and state.status in _OPEN:
            candidates.append((state.due, state.checkpoint.label))
    if not candidates:
        return None, ""
    return min(candidates)
