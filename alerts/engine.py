"""The live alarm engine: the spec's exact semantics, one reading at a time.

:class:`AlarmEngine` implements ``monitor.pipeline.AlarmStage``. For every bed
and session it precompiles, per vital, the rule states that apply (limits
resolved against the session's baseline), so judging a reading is a dict
lookup and a few float comparisons per rule.

Rule state per (bed, rule, judged vital): idle, pending (a run has started,
the condition delay is running) or active (an alarm is open). States are kept
per bed, not per session, so an always-on rule (``unassigned`` in its phases)
runs on across a session's start and end as the replay does.

``pr`` stands in for ``hr``: a ``pr`` reading is judged by the ``hr`` rules
when the bed had no valid ``hr`` reading in the last 30 s
(:data:`alerts.replay.HR_CONNECTED_S`); the first ``pr`` reading that finds
``hr`` connected again ends those runs and episodes at its timestamp.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from alerts.baseline import baseline_of
from alerts.checkpoints import CheckpointAlarms
from alerts.lifecycle import AlarmBook, AlarmKey, alarm_key, new_alarm_id, snapshot
from alerts.replay import HR_CONNECTED_S, scope_name
from alerts.rules import Rule, check_unique, default_rules, merge_rules, protocol_rule_tables
from alerts.technical import TechnicalAlarms
from monitor.config import AlarmSettings
from monitor.model import (
    NIBP_VITALS,
    UNASSIGNED,
    Alarm,
    AlarmChange,
    AlarmKind,
    AlarmState,
    DeviceAlarm,
    DeviceStatus,
    Phase,
    PhaseChange,
    Priority,
    Quality,
    Reading,
    Session,
    Vital,
)
from monitor.protocols import Protocol

_IDLE, _PENDING, _ACTIVE = 0, 1, 2


class _RuleState:
    """One rule judging one vital at one bed; compiled fields are refreshed when the context changes."""

    __slots__ = (
        "alarm",
        "bed",
        "clear",
        "delay",
        "hyst",
        "key",
        "limit",
        "phases",
        "rule",
        "run_start",
        "state",
        "strict",
        "upper",
        "vital",
        "withdrawn",
    )

    def __init__(self, key: AlarmKey, bed: str, vital: Vital) -> None:
        self.key = key
        self.bed = bed
        self.vital = vital
        self.state = _IDLE
        self.run_start = 0.0
        self.alarm: Alarm | None = None
        self.limit: float | None = None
        self.clear = 0.0
        #: Its rule is no longer in force here: judged only until its open episode ends.
        self.withdrawn = False

    def compile(self, rule: Rule, limit: float | None) -> None:
        self.rule = rule
        self.limit = limit
        self.phases = rule.phases
        self.upper = rule.upper
        self.strict = len(rule.op) == 1
        self.delay = rule.delay_s
        self.hyst = rule.hysteresis > 0
        self.clear = rule.clear_threshold(limit) if limit is not None else 0.0


@dataclass(slots=True)
class _Compiled:
    """What applies at one bed in one context (session or none)."""

    by_vital: dict[Vital, list[_RuleState]]
    pr_as_hr: list[_RuleState]


@dataclass(slots=True)
class _Bed:
    last_hr: float = -math.inf
    context: int | str | None = "none"  # the session id the compiled rules are for ("none": not compiled)
    compiled: _Compiled | None = None
    states: dict[AlarmKey, _RuleState] = field(default_factory=dict)


class AlarmEngine:
    """Live judge of readings, device events and phase changes; owner of the alarms on screen."""

    def __init__(
        self,
        rules: Iterable[Rule] | None = None,
        settings: AlarmSettings | None = None,
        *,
        protocols: Mapping[str, Protocol] | None = None,
    ) -> None:
        self.settings = settings or AlarmSettings()
        self.rules = check_unique(default_rules() if rules is None else rules)
        #: Session protocols by id (monitor/protocols): their cuff cycles, checkpoints and alarm rules.
        self.protocols: dict[str, Protocol] = dict(protocols or {})
        self._protocol_rules = protocol_rule_tables(self.protocols)  # validated now: a broken one stops the start
        self._protocol_merged: dict[str, list[Rule]] = {}
        self.book = AlarmBook(self.settings)
        self.sessions: dict[int, Session] = {}
        self._open_by_bed: dict[str, Session] = {}
        self._session_rules: dict[int, list[Rule]] = {}
        self._baselines: dict[int, dict[Vital, float | None]] = {}
        self._samples: dict[int, dict[Vital, tuple[list[float], list[float]]]] = {}
        self._beds: dict[str, _Bed] = {}
        #: (source, ts) of measurements in the batch being judged that the device marked questionable.
        self._doubtful: set[tuple[str, float]] = set()
        self.technical = TechnicalAlarms(self.book, self.settings, self._open_by_bed, self.protocols)
        self.checkpoints = CheckpointAlarms(self.book, self.protocols, self._open_by_bed)

    # -- rules -------------------------------------------------------------------------
    def set_rules(self, rules: Iterable[Rule], *, version: int | None = None) -> None:
        """Replace the clinic rules (a rule set adopted, ``alerts/rule_sets.py``): new alarms carry ``version``.

        An episode a withdrawn rule opened goes on under that rule until its readings clear it (see
        :meth:`_compile`); one whose rule id stays is judged by the new thresholds from now on.
        """
        self.rules = check_unique(rules)
        self._protocol_merged.clear()
        self.book.rule_set_version = version
        self._invalidate()

    @property
    def rule_set_version(self) -> int | None:
        """The clinic rule-set version in force (None: rules not from a stored version, e.g. in tests)."""
        return self.book.rule_set_version

    def set_session_rules(self, session_id: int, rules: Iterable[Rule]) -> None:
        """Per-session override: these rules replace the clinic rules for this session (role checked by the caller)."""
        self._session_rules[session_id] = check_unique(rules, f"session {session_id} rules")
        self._invalidate()

    def clear_session_rules(self, session_id: int) -> None:
        self._session_rules.pop(session_id, None)
        self._invalidate()

    def session_rules(self, session_id: int | None) -> list[Rule]:
        """A session's rules: its own override, else its protocol's (the clinic's with the protocol's changes)."""
        if session_id is None:
            return list(self.rules)
        own = self._session_rules.get(session_id)
        if own is not None:
            return list(own)
        session = self.sessions.get(session_id)
        protocol = session.protocol if session is not None else None
        if protocol is None or protocol not in self._protocol_rules:
            return list(self.rules)
        merged = self._protocol_merged.get(protocol)
        if merged is None:
            merged = self._protocol_merged[protocol] = merge_rules(self.rules, self._protocol_rules[protocol])
        return list(merged)

    def load_cuff_times(self, session_id: int, times: Iterable[float]) -> None:
        """After a restart: an open session's stored cuff times (its checkpoints already taken stay taken)."""
        self.checkpoints.load(session_id, times)

    def inactive_rules(self, session_id: int) -> list[tuple[str, str]]:
        """Relative rules without a baseline, with the reason (for the screen: "the screen says so")."""
        out = []
        for rule in self.session_rules(session_id):
            if rule.relative and self.baseline(session_id, rule.vital) is None:
                out.append((rule.id, f"no {rule.vital.value} baseline yet"))
        return out

    def _invalidate(self) -> None:
        for bed in self._beds.values():
            bed.context = "none"

    # -- sessions and baselines ----------------------------------------------------------
    def register_session(self, session: Session) -> None:
        """A session that already exists (at start-up, or created elsewhere)."""
        self.sessions[session.id] = session
        if session.is_open:
            self._open_by_bed[session.bed] = session
        elif self._open_by_bed.get(session.bed) is session:
            del self._open_by_bed[session.bed]
        self._invalidate_bed(session.bed)

    def baseline(self, session_id: int, vital: Vital) -> float | None:
        """The session's baseline of ``vital`` (None until the baseline phase ended with enough readings)."""
        return self._baselines.get(session_id, {}).get(vital)

    def set_baseline(self, session_id: int, vital: Vital, value: float | None) -> None:
        """Set a baseline directly (e.g. restored from storage after a restart)."""
        self._baselines.setdefault(session_id, {})[vital] = value
        self._invalidate()

    def load_baseline(self, session_id: int, readings: Iterable[Reading]) -> None:
        """Compute the baselines from stored readings of the baseline phase (after a restart)."""
        samples: dict[Vital, tuple[list[float], list[float]]] = {}
        for r in readings:
            if r.quality == Quality.VALID:
                ts, vs = samples.setdefault(r.vital, ([], []))
                ts.append(r.ts)
                vs.append(r.value)
        self._baselines[session_id] = {v: baseline_of(v, ts, vs) for v, (ts, vs) in samples.items()}
        self._invalidate()

    def _fix_baseline(self, session_id: int) -> None:
        samples = self._samples.pop(session_id, {})
        self._baselines[session_id] = {v: baseline_of(v, ts, vs) for v, (ts, vs) in samples.items()}

    def _invalidate_bed(self, bed: str) -> None:
        state = self._beds.get(bed)
        if state is not None:
            state.context = "none"

    # -- compiling ------------------------------------------------------------------------
    def _bed(self, bed: str) -> _Bed:
        state = self._beds.get(bed)
        if state is None:
            state = self._beds[bed] = _Bed()
        return state

    def _state(self, bs: _Bed, bed: str, alarm_bed: str | None, rule: Rule, vital: Vital) -> _RuleState:
        key: AlarmKey = (
            AlarmKind.PHYSIOLOGICAL.value,
            rule.id,
            bed if alarm_bed is not None else f"?{bed}",
            vital.value,
        )
        st = bs.states.get(key)
        if st is None:
            st = bs.states[key] = _RuleState(key, bed, vital)
            restored = self.book.open.get(key)
            if restored is not None:  # restart: the episode goes on
                st.state, st.alarm, st.run_start = _ACTIVE, restored, restored.started
        return st

    def _compile(self, bs: _Bed, bed: str, alarm_bed: str | None, session_id: int | None) -> _Compiled:
        by_vital: dict[Vital, list[_RuleState]] = {}
        pr_as_hr: list[_RuleState] = []
        for rule in self.session_rules(session_id):
            base = self.baseline(session_id, rule.vital) if session_id is not None else None
            limit = rule.limit_for(base)
            st = self._state(bs, bed, alarm_bed, rule, rule.vital)
            st.compile(rule, limit)
            by_vital.setdefault(rule.vital, []).append(st)
            if rule.vital == Vital.HR:
                st = self._state(bs, bed, alarm_bed, rule, Vital.PR)
                st.compile(rule, limit)
                pr_as_hr.append(st)
        _keep_withdrawn(bs, by_vital, pr_as_hr)
        compiled = _Compiled(by_vital, pr_as_hr)
        bs.compiled, bs.context = compiled, session_id
        return compiled

    # -- judging ------------------------------------------------------------------------
    def judge(self, readings: Sequence[Reading]) -> list[AlarmChange]:
        out: list[AlarmChange] = []
        beds = self._beds
        doubtful: set[tuple[str, float]] = set()
        # hr first: a pr reading in the same batch sees the hr source as connected.
        for r in readings:
            if r.quality is Quality.QUESTIONABLE:
                doubtful.add((r.source, r.ts))  # the whole measurement (source, instant) is in doubt
            if r.vital == Vital.HR and r.quality == Quality.VALID:
                bs = beds.get(r.bed if r.bed is not None else f"?{r.source}")
                if bs is None:
                    bs = self._bed(r.bed if r.bed is not None else f"?{r.source}")
                if r.ts > bs.last_hr:
                    bs.last_hr = r.ts
        self._doubtful = doubtful
        tech = self.technical
        for r in readings:
            alarm_bed = r.bed
            bed = alarm_bed if alarm_bed is not None else f"?{r.source}"
            tech.on_reading(r, bed, out)
            if r.quality != Quality.VALID:
                continue  # clause 1: only valid readings count
            sid = r.session_id
            if sid is not None and r.vital in NIBP_VITALS:
                self.checkpoints.on_cuff(sid, r.ts)
            bs = beds.get(bed)
            if bs is None:
                bs = self._bed(bed)
            t = r.ts
            if sid is None:
                scope, session = UNASSIGNED, None
            else:
                session = self.sessions.get(sid)
                scope = scope_name(session.phase_at(t)) if session is not None else UNASSIGNED
                if scope == Phase.BASELINE and sid not in self._baselines:
                    ts_list, vs_list = self._samples.setdefault(sid, {}).setdefault(r.vital, ([], []))
                    ts_list.append(t)
                    vs_list.append(r.value)
            compiled = bs.compiled if bs.context == sid else self._compile(bs, bed, alarm_bed, sid)
            assert compiled is not None
            vital = r.vital
            states = compiled.by_vital.get(vital)
            if states:
                for st in states:
                    self._step(st, r, t, scope, session, out)
            if vital == Vital.PR and compiled.pr_as_hr:
                if t - bs.last_hr <= HR_CONNECTED_S:
                    for st in compiled.pr_as_hr:
                        if st.state:
                            self._stop(st, t, out)
                else:
                    for st in compiled.pr_as_hr:
                        self._step(st, r, t, scope, session, out)
        return out

    def _step(
        self, st: _RuleState, r: Reading, t: float, scope: str, session: Session | None, out: list[AlarmChange]
    ) -> None:
        limit = st.limit
        if st.withdrawn and not st.state:
            return  # its episode ended: a withdrawn rule raises nothing new
        if limit is None or scope not in st.phases:
            if st.state:  # normally on_phase already ended it at the change's timestamp
                self._stop(st, _phase_start(session, t), out)
            return
        v = r.value
        met = (v > limit if st.strict else v >= limit) if st.upper else v < limit if st.strict else v <= limit
        state = st.state
        if state == _ACTIVE:
            alarm = st.alarm
            assert alarm is not None
            cleared = (v <= st.clear if st.upper else v >= st.clear) if st.hyst else not met
            if cleared:
                self._stop(st, t, out)
            else:
                alarm.value = v
                worst = alarm.worst
                if worst is None or (v > worst if st.upper else v < worst):
                    alarm.worst = v
        elif met:
            if state == _IDLE:
                st.state, st.run_start = _PENDING, t
            if t - st.run_start >= st.delay:
                self._open(st, r, t, limit, out)
        elif state == _PENDING:
            st.state = _IDLE  # clause 5: the run ends, no alarm

    def _open(self, st: _RuleState, r: Reading, t: float, limit: float, out: list[AlarmChange]) -> None:
        rule = st.rule
        alarm = Alarm(
            id=new_alarm_id(),
            rule_id=rule.id,
            kind=AlarmKind.PHYSIOLOGICAL,
            priority=rule.priority,
            message=rule.message,
            started=t,
            bed=r.bed,
            session_id=r.session_id,
            vital=st.vital,
            value=r.value,
            worst=r.value,
            limit=limit,
            source=r.source if r.bed is None else None,
            doubtful=(r.source, r.ts) in self._doubtful,
        )
        st.state, st.alarm = _ACTIVE, alarm
        out.append(self.book.start(st.key, alarm, t))

    def _stop(self, st: _RuleState, t: float, out: list[AlarmChange]) -> None:
        if st.state == _ACTIVE:
            self.book.end(st.key, t, out)
        st.state, st.alarm = _IDLE, None

    # -- device events ---------------------------------------------------------------------
    def on_status(self, status: DeviceStatus) -> list[AlarmChange]:
        out: list[AlarmChange] = []
        self.technical.on_status(status, status.bed if status.bed is not None else f"?{status.source}", out)
        return out

    def on_device_alarm(self, alarm: DeviceAlarm) -> list[AlarmChange]:
        """A monitor's own alarm, relayed as such (kind ``device``), opened and ended by the device."""
        out: list[AlarmChange] = []
        rule_id = alarm.code[:RULE_ID_WIDTH] if alarm.technical else device_rule_id(alarm.code or alarm.message)
        kind = AlarmKind.TECHNICAL if alarm.technical else AlarmKind.DEVICE
        bed = alarm.bed if alarm.bed is not None else f"?{alarm.source}"
        key: AlarmKey = (kind.value, rule_id, bed, alarm.vital.value if alarm.vital else None)
        if not alarm.active:
            self.book.end(key, alarm.ts, out)
            return out
        if key in self.book.open:
            return out
        try:
            priority = Priority(alarm.priority)
        except ValueError:
            priority = Priority.MEDIUM  # an unknown device priority is shown, never dropped
        new = Alarm(
            id=new_alarm_id(),
            rule_id=rule_id,
            kind=kind,
            priority=priority,
            message=alarm.message,
            started=alarm.ts,
            bed=alarm.bed,
            session_id=alarm.session_id,
            vital=alarm.vital,
            # A monitor bound to no chair is named with where it is; a listener's own technical
            # alarm (about a sender, e.g. too many devices) already says which sender.
            source=alarm.source if alarm.bed is None and not alarm.technical else None,
        )
        out.append(self.book.start(key, new, alarm.ts))
        return out

    def on_foreign_source(
        self, bed: str, source: str, message: str, ts: float, session_id: int | None, *, active: bool = True
    ) -> list[AlarmChange]:
        """Strict binding: a device not bound to ``bed`` claims it; one technical alarm per such device."""
        out: list[AlarmChange] = []
        rule_id = f"unexpected-source:{source}"[:64]
        key: AlarmKey = (AlarmKind.TECHNICAL.value, rule_id, bed, None)
        if not active:
            self.book.end(key, ts, out)
        elif key not in self.book.open:
            alarm = Alarm(
                id=new_alarm_id(),
                rule_id=rule_id,
                kind=AlarmKind.TECHNICAL,
                priority=Priority.MEDIUM,
                message=message,
                started=ts,
                bed=bed,
                session_id=session_id,
            )
            out.append(self.book.start(key, alarm, ts))
        return out

    def rebase(self, session: Session, readings: list[Reading]) -> None:
        """Claimed readings joined ``session``: its baselines again from ``readings`` (its stored ones).

        Still in its baseline phase: they become the samples the baseline will be fixed from;
        later: the fixed baselines are computed again and the limits that depend on them follow.
        """
        self.sessions[session.id] = session
        infusion = session.phase_started(Phase.INFUSION)
        if infusion is None and session.phase == Phase.BASELINE:
            samples: dict[Vital, tuple[list[float], list[float]]] = {}
            for r in readings:
                if r.quality == Quality.VALID:
                    ts, vs = samples.setdefault(r.vital, ([], []))
                    ts.append(r.ts)
                    vs.append(r.value)
            self._samples[session.id] = samples
            self._baselines.pop(session.id, None)
        else:
            end = infusion if infusion is not None else math.inf
            self.load_baseline(session.id, [r for r in readings if r.ts < end])
        self._invalidate_bed(session.bed)

    def on_phase(self, session: Session, change: PhaseChange) -> list[AlarmChange]:
        """A phase change: fixes the baseline on leaving ``baseline``; ends runs that leave their rule's phases."""
        out: list[AlarmChange] = []
        self.sessions[session.id] = session
        before = _phase_before(session, change)
        if before == Phase.BASELINE and change.phase != Phase.BASELINE and session.id not in self._baselines:
            self._fix_baseline(session.id)
        if session.is_open:
            self._open_by_bed[session.bed] = session
        elif self._open_by_bed.get(session.bed) is session:
            del self._open_by_bed[session.bed]
        scope = scope_name(change.phase)
        closing = not session.is_open
        bs = self._beds.get(session.bed)
        if bs is not None:
            for st in bs.states.values():
                # The session's end ends every run and episode at the chair, an always-on rule's too:
                # the alarms belong to the patient who left; what goes on is judged afresh, without a session.
                if st.state and (closing or scope not in st.phases):
                    self._stop(st, change.ts, out)
            bs.context = "none"
        if closing:
            self.checkpoints.end_session(session, change.ts, out)
            out.extend(self.book.end_session(session.id, change.user, change.ts))
        return out

    # -- time and users --------------------------------------------------------------------
    def tick(self, now: float) -> list[AlarmChange]:
        out: list[AlarmChange] = []
        self.technical.tick(now, out)
        self.checkpoints.tick(now, out)
        out.extend(self.book.tick(now))
        return out

    def acknowledge(self, alarm_id: str, user: str, now: float) -> list[AlarmChange]:
        return self.book.acknowledge(alarm_id, user, now)

    def raise_site_alarm(self, alarm: Alarm, ts: float) -> list[AlarmChange]:
        return self.book.raise_site_alarm(alarm, ts)

    def end_site_alarm(self, alarm_id: str, ts: float) -> list[AlarmChange]:
        return self.book.end_site_alarm(alarm_id, ts)

    def silence(self, alarm_id: str, user: str, now: float, seconds: float | None = None) -> list[AlarmChange]:
        return self.book.silence(alarm_id, user, now, seconds)

    def active_alarms(self) -> list[Alarm]:
        """Alarms needing attention (open, or resolved high alarms not yet acknowledged), most urgent first."""
        return self.book.active()

    def restore(self, alarms: Iterable[Alarm], now: float) -> list[AlarmChange]:
        """Restart with state intact: take back stored alarms that are open or latched.

        An open physiological alarm resumes its rule's episode (it ends when the
        readings clear it); open technical and device alarms end when their
        condition is seen to be over. Alarms from unbound devices (no bed)
        cannot be tied back to a source: they are ended at ``now`` (default:
        the wall clock) and those changes are returned for storing.
        """
        alarms = list(alarms)
        self.book.restore(alarms)
        self.technical.restore(alarms)
        out: list[AlarmChange] = []
        for alarm in alarms:
            if alarm.bed is None and alarm.state != AlarmState.RESOLVED and alarm.ended is None:
                self.book.end(alarm_key(alarm), max(now, alarm.started), out)
        for bs in self._beds.values():
            for key, st in bs.states.items():
                restored = self.book.open.get(key)
                if restored is not None and st.alarm is not restored:
                    st.state, st.alarm, st.run_start = _ACTIVE, restored, restored.started
        return out

    def snapshot_of(self, alarm: Alarm, transition: str, ts: float) -> AlarmChange:
        return snapshot(alarm, transition, ts)


def _keep_withdrawn(bs: _Bed, by_vital: dict[Vital, list[_RuleState]], pr_as_hr: list[_RuleState]) -> None:
    """Rules no longer in force at this bed (a new rule set, a session override): an open episode goes
    on under the rule that raised it until its readings clear it, then the rule is gone; a run still
    within its condition delay ends without an alarm."""
    compiled = {id(st) for states in by_vital.values() for st in states} | {id(st) for st in pr_as_hr}
    for st in bs.states.values():
        if id(st) in compiled:
            st.withdrawn = False
        elif st.state == _ACTIVE:
            st.withdrawn = True
            if st.vital is not st.rule.vital:  # pr judged by an hr rule
                pr_as_hr.append(st)
            else:
                by_vital.setdefault(st.vital, []).append(st)
        else:
            st.state = _IDLE


def _phase_before(session: Session, change: PhaseChange) -> Phase | None:
    phases = session.phases
    for i in range(len(phases) - 1, -1, -1):
        if phases[i] is change or (phases[i].ts == change.ts and phases[i].phase == change.phase):
            return phases[i - 1].phase if i > 0 else None
    return phases[-1].phase if phases and phases[-1].phase != change.phase else None


def _phase_start(session: Session | None, t: float) -> float:
    """When the phase in force at ``t`` began (where a run cut by a phase change ends)."""
    if session is None:
        return t
    start = t
    for change in session.phases:
        if change.ts > t:
            break
        start = change.ts
    return start


#: Width of ``alarms.rule_id`` (monitor/store/schema.py).
RULE_ID_WIDTH = 64


def device_rule_id(name: str) -> str:
    """``device:<code>``; a name too long for the column is replaced by its digest (same name, same id).

    The adapters bound what they take, but a rule id longer than its column stalled every write on
    PostgreSQL once (issue 13): the engine never builds one.
    """
    rule_id = f"device:{name}"
    if len(rule_id) <= RULE_ID_WIDTH:
        return rule_id
    return "device:sha1:" + hashlib.sha1(name.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()
