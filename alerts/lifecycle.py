"""Alarm lifecycle after IEC 60601-1-8: active, acknowledged, audio paused, resolved; latching; escalation.

:class:`AlarmBook` owns every alarm that is still on screen. The engines open
and close alarms through it; users acknowledge and silence through it; time
passing (``tick``) ends audio pauses and escalates. Every transition returns an
:class:`AlarmChange` holding a *snapshot* of the alarm, so the audit trail and
the screens see the state as it was at that transition.

Choices the spec leaves open, made here:
* silencing does not count as acknowledging: a silenced, unacknowledged alarm
  still escalates (someone paused the sound, nobody confirmed seeing it);
* a resolved alarm does not escalate; a high one stays on screen (latched)
  until acknowledged;
* when an audio pause ends on an acknowledged alarm it returns to
  ``acknowledged`` (transition ``silence-ended``), otherwise to ``active``
  (``resounded``);
* a checkpoint alarm that grows more urgent (``raise_priority``) sounds again at
  its new priority, even if the lower one was acknowledged;
* an alarm belongs to its patient's session: when the session ends
  (discharge, abort), its open physiological and device alarms are ended and
  every alarm of the session still on screen is filed "ended with the session"
  (transition ``ended-with-session``, with the user who ended the session), so
  nothing of that patient stays on the chair for the next one. Technical
  alarms about the equipment that are still open stay (the equipment problem
  outlives the patient); latched ones are filed like the others.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Hashable, Iterable

from monitor.config import AlarmSettings
from monitor.model import FILED_SESSION_ENDED, PRIORITY_RANK, Alarm, AlarmChange, AlarmKind, AlarmState, Priority

AlarmKey = tuple[Hashable, ...]


def new_alarm_id() -> str:
    return uuid.uuid4().hex


def snapshot(alarm: Alarm, transition: str, ts: float, user: str | None = None) -> AlarmChange:
    return AlarmChange(alarm=copy.copy(alarm), transition=transition, ts=ts, user=user)


def alarm_key(alarm: Alarm) -> AlarmKey:
    """The condition an alarm stands for: one open alarm per key."""
    return (alarm.kind.value, alarm.rule_id, alarm.bed, alarm.vital.value if alarm.vital else None)


class AlarmBook:
    """Alarms on screen (open, or resolved and latched) and the open alarm of each condition."""

    def __init__(self, settings: AlarmSettings | None = None) -> None:
        self.settings = settings or AlarmSettings()
        self.shown: dict[str, Alarm] = {}  # id -> alarm still needing attention
        self.open: dict[AlarmKey, Alarm] = {}  # condition -> its alarm while the condition lasts
        #: The clinic rule-set version in force: stamped on every alarm started here (``rule_set_version``).
        self.rule_set_version: int | None = None
        #: alarm id -> when its priority was last raised: its escalation counts from then, not from its start.
        self._raised_at: dict[str, float] = {}
        self._escalate_s = {
            Priority.HIGH: self.settings.escalate_high_s,
            Priority.MEDIUM: self.settings.escalate_medium_s,
        }

    # -- engines -----------------------------------------------------------------------
    def start(self, key: AlarmKey, alarm: Alarm, ts: float) -> AlarmChange:
        if alarm.rule_set_version is None:
            alarm.rule_set_version = self.rule_set_version
        self.shown[alarm.id] = alarm
        self.open[key] = alarm
        return snapshot(alarm, "started", ts)

    def end(self, key: AlarmKey, ts: float, out: list[AlarmChange]) -> Alarm | None:
        """The condition of ``key`` is over at ``ts``; appends the change, returns the alarm (None if none open)."""
        alarm = self.open.pop(key, None)
        if alarm is None:
            return None
        # A reading that arrives late (a monitor's backlog) may end an alarm at an instant before it was
        # raised (signal lost while the reading was on its way): it ends when it was raised, never before.
        ts = max(ts, alarm.started)
        alarm.ended = ts
        alarm.state = AlarmState.RESOLVED
        alarm.silenced_until = None
        if alarm.acknowledged_at is not None or alarm.priority != Priority.HIGH:
            self.shown.pop(alarm.id, None)  # latching: only unacknowledged high alarms stay on screen
            self._raised_at.pop(alarm.id, None)
        out.append(snapshot(alarm, "resolved", ts))
        return alarm

    def raise_priority(self, key: AlarmKey, priority: Priority, ts: float) -> AlarmChange | None:
        """The open alarm of ``key`` grew more urgent (a checkpoint still missed): it sounds again at ``priority``.

        An acknowledgement of the lower priority does not carry over: the condition got worse since
        someone saw it, so it is announced afresh (IEC 60601-1-8 escalation); the earlier
        acknowledgement stays in the alarm's history.
        """
        alarm = self.open.get(key)
        if alarm is None or PRIORITY_RANK[priority] <= PRIORITY_RANK[alarm.priority]:
            return None
        alarm.priority = priority
        alarm.state = AlarmState.ACTIVE
        alarm.acknowledged_at = alarm.acknowledged_by = None
        alarm.silenced_until = None
        alarm.escalated = False
        self.shown[alarm.id] = alarm
        self._raised_at[alarm.id] = ts
        return snapshot(alarm, "priority-raised", ts)

    def end_session(self, session_id: int, user: str | None, ts: float) -> list[AlarmChange]:
        """The session ended at ``ts``: end its patient's open alarms and file what is left on screen.

        The caller (the engine) has already ended the rule episodes it owns at ``ts``; what
        remains open here is a device's own alarm, ended now too.
        """
        out: list[AlarmChange] = []
        for key, alarm in list(self.open.items()):
            if alarm.session_id == session_id and alarm.kind is not AlarmKind.TECHNICAL:
                self.end(key, max(ts, alarm.started), out)
        for alarm in list(self.shown.values()):
            if alarm.session_id != session_id or alarm.ended is None:
                continue
            alarm.filed = FILED_SESSION_ENDED
            alarm.silenced_until = None
            self.shown.pop(alarm.id, None)
            self._raised_at.pop(alarm.id, None)
            out.append(snapshot(alarm, "ended-with-session", ts, user))
        return out

    # -- the service's own technical alarms (storage, EHR unreachable: no bed, no rule of the engine)
    def raise_site_alarm(self, alarm: Alarm, ts: float) -> list[AlarmChange]:
        """A site-wide technical alarm the service raises: on screen, acknowledged, silenced and
        escalated like any other until :meth:`end_site_alarm` (keyed by its id: two EHR destinations
        may be down at once)."""
        return [self.start(("site", alarm.id), alarm, ts)]

    def end_site_alarm(self, alarm_id: str, ts: float) -> list[AlarmChange]:
        out: list[AlarmChange] = []
        self.end(("site", alarm_id), ts, out)
        return out

    # -- users -------------------------------------------------------------------------
    def acknowledge(self, alarm_id: str, user: str, now: float) -> list[AlarmChange]:
        alarm = self._get(alarm_id)
        if alarm.acknowledged_at is not None and alarm.state != AlarmState.SILENCED:
            return []  # already acknowledged: nothing changes, nothing to audit twice
        alarm.acknowledged_by = user
        alarm.acknowledged_at = now
        if alarm.state == AlarmState.RESOLVED:
            self.shown.pop(alarm.id, None)  # the latched alarm leaves the screen
            self._raised_at.pop(alarm.id, None)
        else:
            alarm.state = AlarmState.ACKNOWLEDGED
            alarm.silenced_until = None
        return [snapshot(alarm, "acknowledged", now, user)]

    def silence(self, alarm_id: str, user: str, now: float, seconds: float | None = None) -> list[AlarmChange]:
        alarm = self._get(alarm_id)
        if alarm.state == AlarmState.RESOLVED:
            return []  # nothing is sounding
        pause = self.settings.silence_s if seconds is None else seconds
        if not pause > 0:
            raise ValueError("an audio pause must last a positive number of seconds")
        alarm.state = AlarmState.SILENCED
        alarm.silenced_until = now + pause
        return [snapshot(alarm, "silenced", now, user)]

    def _get(self, alarm_id: str) -> Alarm:
        try:
            return self.shown[alarm_id]
        except KeyError:
            raise KeyError(f"no alarm {alarm_id} needs attention") from None

    # -- time --------------------------------------------------------------------------
    def tick(self, now: float) -> list[AlarmChange]:
        out: list[AlarmChange] = []
        for alarm in list(self.shown.values()):
            if alarm.state == AlarmState.SILENCED and alarm.silenced_until is not None and now >= alarm.silenced_until:
                alarm.silenced_until = None
                if alarm.acknowledged_at is None:
                    alarm.state = AlarmState.ACTIVE
                    out.append(snapshot(alarm, "resounded", now))
                else:
                    alarm.state = AlarmState.ACKNOWLEDGED
                    out.append(snapshot(alarm, "silence-ended", now))
            if (
                not alarm.escalated
                and alarm.acknowledged_at is None
                and alarm.state in (AlarmState.ACTIVE, AlarmState.SILENCED)
            ):
                after = self._escalate_s.get(alarm.priority)
                if after is not None and now - self._raised_at.get(alarm.id, alarm.started) >= after:
                    alarm.escalated = True
                    out.append(snapshot(alarm, "escalated", now))
        return out

    # -- restart -----------------------------------------------------------------------
    def restore(self, alarms: Iterable[Alarm]) -> None:
        """Take back alarms loaded from storage (not ended, or ended but latched)."""
        for alarm in alarms:
            if not alarm.needs_attention:
                continue
            self.shown[alarm.id] = alarm
            if alarm.state != AlarmState.RESOLVED and alarm.ended is None:
                self.open[alarm_key(alarm)] = alarm

    def active(self) -> list[Alarm]:
        """Alarms on screen, highest priority first, then oldest first."""
        rank = {Priority.HIGH: 0, Priority.MEDIUM: 1, Priority.LOW: 2}
        return sorted(self.shown.values(), key=lambda a: (rank[a.priority], a.started, a.id))
