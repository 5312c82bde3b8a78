"""Missed checkpoints as technical alarms: "BP due at 40 min not taken".

A session's protocol (``monitor/protocols``) names BP checkpoints; ``monitor.protocols.schedule``
says when each is due and whether a cuff reading took it. Not taken ``late_min`` after its due time,
a checkpoint raises a low-priority technical alarm; still not taken :data:`RAISE_AFTER_S` later it
becomes medium (``AlarmBook.raise_priority``). A cuff reading that takes it late ends the alarm. The
alarms belong to the session: its end ends them (then the lifecycle files them with the session).

Assessment checkpoints are shown on the tile (``GET /api/sessions/{id}/schedule``) but raise no alarm
here: the engine sees no assessments.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping

from alerts.lifecycle import AlarmBook, new_alarm_id
from alerts.technical import tech_key
from monitor.model import Alarm, AlarmChange, AlarmKind, Priority, Session
from monitor.protocols import Protocol
from monitor.protocols.schedule import Status, checkpoint_state

#: A missed checkpoint still not taken this long after its alarm started becomes medium.
RAISE_AFTER_S = 300.0


def checkpoint_rule_id(index: int) -> str:
    return f"checkpoint-bp-{index + 1}"


class CheckpointAlarms:
    """Watches the open sessions' BP checkpoints; opens, raises and ends their alarms in the shared book."""

    def __init__(
        self, book: AlarmBook, protocols: Mapping[str, Protocol], open_sessions: Mapping[str, Session]
    ) -> None:
        self.book = book
        self.protocols = protocols
        self._open = open_sessions  # bed -> open session, kept up to date by the engine
        self.cuff: dict[int, list[float]] = {}  # session id -> sorted times of its valid cuff readings

    def on_cuff(self, session_id: int, ts: float) -> None:
        """A valid cuff reading of a session (sbp, dbp and map share one time: kept once)."""
        times = self.cuff.setdefault(session_id, [])
        i = bisect.bisect_left(times, ts)
        if i == len(times) or times[i] != ts:
            times.insert(i, ts)

    def load(self, session_id: int, times: Iterable[float]) -> None:
        """After a restart: the session's stored cuff times, so a checkpoint taken before it stays taken."""
        for ts in times:
            self.on_cuff(session_id, ts)

    def tick(self, now: float, out: list[AlarmChange]) -> None:
        for bed, session in self._open.items():
            protocol = self.protocols.get(session.protocol) if session.protocol else None
            if protocol is None:
                continue
            cuff = self.cuff.get(session.id, [])
            for index, checkpoint in enumerate(protocol.checkpoints):
                if checkpoint.kind != "bp":
                    continue
                state = checkpoint_state(index, checkpoint, session, cuff, now)
                key = tech_key(checkpoint_rule_id(index), bed, None)
                if state.status == Status.OVERDUE:
                    since = state.window_end
                    assert since is not None
                    if key not in self.book.open:
                        alarm = Alarm(
                            id=new_alarm_id(),
                            rule_id=checkpoint_rule_id(index),
                            kind=AlarmKind.TECHNICAL,
                            priority=Priority.LOW,
                            message=f"{checkpoint.label} not taken",
                            started=since,
                            bed=bed,
                            session_id=session.id,
                        )
                        out.append(self.book.start(key, alarm, since))
                    if now - since >= RAISE_AFTER_S:
                        raised = self.book.raise_priority(key, Priority.MEDIUM, max(now, since + RAISE_AFTER_S))
                        if raised is not None:
                            out.append(raised)
                elif key in self.book.open and state.taken_at is not None:
                    self.book.end(key, state.taken_at, out)

    def end_session(self, session: Session, ts: float, out: list[AlarmChange]) -> None:
        """The session ended: its checkpoint alarms end with it (the book then files them)."""
        self.cuff.pop(session.id, None)
        protocol = self.protocols.get(session.protocol) if session.protocol else None
        for index in range(len(protocol.checkpoints) if protocol is not None else 0):
            self.book.end(tech_key(checkpoint_rule_id(index), session.bed, None), ts, out)
