"""Technical alarms (spec/alarms.md table): problems with the data rather than with the patient.

Definitions this module makes precise:

* **signal lost** (per ``hr``, ``pr``, ``spo2``; medium): the vital is *watched*
  at a bed when its session is open and the vital is ``hr`` or ``spo2`` (the
  clinic's minimum monitoring; for an ``hr`` never seen, valid ``pr`` readings
  count, as in the rules), or when the vital has been seen at the bed and
  either the session is open or a source there is connected. A source is
  connected when the last status from it was not ``disconnected`` and, absent
  any status, when the bed sent any reading in the last 30 s. The alarm starts
  30 s after the last valid reading (or after the vital was first seen, or the
  session opened) and ends with the next valid reading.
* **NIBP overdue** (medium): in infusion and recovery (at the session protocol's
  cuff cycle for the phase, else the clinic's; none in a phase without one), no valid cuff reading
  for the phase's cycle + 120 s, counted from the last cuff reading or the
  infusion start, whichever is later.
* **monitor disconnected** (medium, one per bed): a source reported
  ``disconnected`` 15 s ago and has neither reconnected nor sent anything since.
* **sensor off** (medium, immediately) for ``sensor_off``/``no_sensor``;
  **searching** (low) after 10 s of ``searching``; both end on ``ok``/
  ``connected`` from that source or a valid reading of that vital from it.
* **implausible** (low, per vital): 3 ``invalid`` readings within 5 min; ends
  when fewer than 3 remain in the last 5 min.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from alerts.lifecycle import AlarmBook, AlarmKey, new_alarm_id
from monitor.config import AlarmSettings
from monitor.model import (
    NIBP_VITALS,
    Alarm,
    AlarmChange,
    AlarmKind,
    DeviceState,
    DeviceStatus,
    Phase,
    Priority,
    Quality,
    Reading,
    Session,
    Vital,
)
from monitor.protocols import Protocol
from monitor.protocols.schedule import cuff_cycle_s

SIGNAL_LOST_S = 30.0
SOURCE_ALIVE_S = 30.0
NIBP_GRACE_S = 120.0
DISCONNECTED_S = 15.0
SEARCHING_S = 10.0
IMPLAUSIBLE_COUNT = 3
IMPLAUSIBLE_WINDOW_S = 300.0

#: Stands for "whichever source" in watch state restored after a restart.
ANY_SOURCE = "*"
SIGNAL_VITALS: tuple[Vital, ...] = (Vital.HR, Vital.PR, Vital.SPO2)
_MUST_WATCH = frozenset({Vital.HR, Vital.SPO2})
_SENSOR_OFF = frozenset({DeviceState.SENSOR_OFF, DeviceState.NO_SENSOR})
_SENSOR_CLEAR = frozenset({DeviceState.OK, DeviceState.CONNECTED})
_NAMES = {
    Vital.HR: "HR",
    Vital.PR: "Pulse",
    Vital.SPO2: "SpO2",
    Vital.SBP: "Systolic",
    Vital.DBP: "Diastolic",
    Vital.MAP: "Mean BP",
    Vital.RR: "Resp. rate",
    Vital.ETCO2: "EtCO2",
}


def tech_key(rule_id: str, bed: str | None, vital: Vital | None) -> AlarmKey:
    return (AlarmKind.TECHNICAL.value, rule_id, bed, vital.value if vital else None)


@dataclass(slots=True)
class _BedTech:
    last_valid: dict[Vital, float] = field(default_factory=dict)
    first_seen: dict[Vital, float] = field(default_factory=dict)
    last_any: float = float("-inf")
    last_nibp: float = float("-inf")
    status: dict[str, DeviceState] = field(default_factory=dict)  # source -> last connection status
    disconnected: dict[str, float] = field(default_factory=dict)  # source -> since
    searching: dict[tuple[str, Vital | None], float] = field(default_factory=dict)
    sensor_off: set[tuple[str, Vital | None]] = field(default_factory=set)
    invalid: dict[Vital, deque[float]] = field(default_factory=dict)


class TechnicalAlarms:
    """Watches the data stream; opens and ends technical alarms in the shared :class:`AlarmBook`."""

    def __init__(
        self,
        book: AlarmBook,
        settings: AlarmSettings,
        open_sessions: Mapping[str, Session],
        protocols: Mapping[str, Protocol] | None = None,
    ) -> None:
        self.book = book
        self.settings = settings
        #: A session's protocol sets its cuff cycle per phase (none in a phase: no NIBP-overdue there).
        self.protocols: Mapping[str, Protocol] = protocols or {}
        self._default_cycle = {
            Phase.INFUSION: settings.nibp_cycle_infusion_s,
            Phase.RECOVERY: settings.nibp_cycle_recovery_s,
        }
        self._open = open_sessions  # bed -> open session, kept up to date by the engine
        self._open_session = open_sessions.get
        self.beds: dict[str, _BedTech] = {}

    def _bed(self, bed: str) -> _BedTech:
        state = self.beds.get(bed)
        if state is None:
            state = self.beds[bed] = _BedTech()
        return state

    def _start(
        self,
        rule_id: str,
        bed: str,
        vital: Vital | None,
        priority: Priority,
        message: str,
        ts: float,
        session_id: int | None,
        out: list[AlarmChange],
    ) -> None:
        key = tech_key(rule_id, bed, vital)
        if key in self.book.open:
            return
        unbound = bed.startswith("?")  # a source bound to no bed: keyed by "?source", shown with its device id
        alarm = Alarm(
            id=new_alarm_id(),
            rule_id=rule_id,
            kind=AlarmKind.TECHNICAL,
            priority=priority,
            message=message,  # an unbound source's alarm is told where it is by the pipeline (monitor/devices.py)
            started=ts,
            bed=None if unbound else bed,
            session_id=session_id,
            vital=vital,
            source=bed[1:] if unbound else None,
        )
        out.append(self.book.start(key, alarm, ts))

    def _end(self, rule_id: str, bed: str, vital: Vital | None, ts: float, out: list[AlarmChange]) -> None:
        self.book.end(tech_key(rule_id, bed, vital), ts, out)

    # -- the stream ----------------------------------------------------------------------
    def on_reading(self, r: Reading, bed: str, out: list[AlarmChange]) -> None:
        """Called for every reading, valid or not (cheap: dict updates, alarm work only when one is open)."""
        st = self.beds.get(bed)
        if st is None:
            st = self._bed(bed)
        t, vital = r.ts, r.vital
        if t > st.last_any:
            st.last_any = t
        if vital not in st.first_seen:
            st.first_seen[vital] = t
        if st.disconnected and (r.source in st.disconnected or ANY_SOURCE in st.disconnected):
            st.disconnected.pop(r.source, None)
            st.disconnected.pop(ANY_SOURCE, None)
            st.status[r.source] = DeviceState.CONNECTED
            if not st.disconnected:
                self._end("monitor-disconnected", bed, None, t, out)
        quality = r.quality
        if quality == Quality.VALID:
            if t > st.last_valid.get(vital, float("-inf")):
                st.last_valid[vital] = t
            if vital in NIBP_VITALS and t > st.last_nibp:
                st.last_nibp = t
                self._end("nibp-overdue", bed, None, t, out)
            if self.book.open:
                self._end("signal-lost", bed, vital, t, out)
                if st.sensor_off or st.searching:
                    self._clear_sensor(st, bed, r.source, vital, t, out)
        elif quality == Quality.INVALID:
            window = st.invalid.get(vital)
            if window is None:
                window = st.invalid[vital] = deque()
            window.append(t)
            while window and window[0] < t - IMPLAUSIBLE_WINDOW_S:
                window.popleft()
            if len(window) >= IMPLAUSIBLE_COUNT:
                self._start(
                    "implausible",
                    bed,
                    vital,
                    Priority.LOW,
                    f"{_NAMES[vital]}: implausible values",
                    t,
                    r.session_id,
                    out,
                )

    def on_status(self, status: DeviceStatus, bed: str, out: list[AlarmChange]) -> None:
        st = self._bed(bed)
        src, t, state = status.source, status.ts, status.state
        if state == DeviceState.DISCONNECTED:
            st.status[src] = state
            st.disconnected.setdefault(src, t)
            return
        if state == DeviceState.CONNECTED:
            st.status[src] = state
            gone = st.disconnected.pop(src, None) is not None
            gone = st.disconnected.pop(ANY_SOURCE, None) is not None or gone
            if gone and not st.disconnected:
                self._end("monitor-disconnected", bed, None, t, out)
        session = self._open_session(bed)
        sid = session.id if session else None
        key = (src, status.vital)
        if state in _SENSOR_OFF:
            st.sensor_off.add(key)
            name = _NAMES[status.vital] if status.vital else "Monitor"
            self._start("sensor-off", bed, status.vital, Priority.MEDIUM, f"{name}: sensor off", t, sid, out)
        elif state == DeviceState.SEARCHING:
            st.searching.setdefault(key, t)
        elif state in _SENSOR_CLEAR:
            self._clear_sensor(st, bed, src, status.vital, t, out, any_vital=True)

    def _clear_sensor(
        self,
        st: _BedTech,
        bed: str,
        src: str,
        vital: Vital | None,
        t: float,
        out: list[AlarmChange],
        any_vital: bool = False,
    ) -> None:
        for key in [k for k in st.sensor_off if k[0] in (src, ANY_SOURCE) and (any_vital or k[1] in (vital, None))]:
            st.sensor_off.discard(key)
            if not any(k[1] == key[1] for k in st.sensor_off):
                self._end("sensor-off", bed, key[1], t, out)
        for key in [k for k in st.searching if k[0] in (src, ANY_SOURCE) and (any_vital or k[1] in (vital, None))]:
            del st.searching[key]
            if not any(k[1] == key[1] for k in st.searching):
                self._end("sensor-searching", bed, key[1], t, out)

    def restore(self, alarms: Iterable[Alarm]) -> None:
        """After a restart: seed the watch state from open technical alarms so their conditions can end.

        The source that caused them is not stored, so any source of the bed may clear them.
        """
        for a in alarms:
            if a.kind != AlarmKind.TECHNICAL or a.bed is None or a.ended is not None:
                continue
            st = self._bed(a.bed)
            if a.rule_id == "monitor-disconnected":
                st.disconnected.setdefault(ANY_SOURCE, a.started - DISCONNECTED_S)
            elif a.rule_id == "sensor-off":
                st.sensor_off.add((ANY_SOURCE, a.vital))
            elif a.rule_id == "sensor-searching":
                st.searching.setdefault((ANY_SOURCE, a.vital), a.started - SEARCHING_S)

    # -- time ----------------------------------------------------------------------------
    def _connected(self, st: _BedTech, now: float) -> bool:
        if any(state == DeviceState.CONNECTED for state in st.status.values()):
            return True
        return not st.disconnected and now - st.last_any <= SOURCE_ALIVE_S

    def tick(self, now: float, out: list[AlarmChange]) -> None:
        for bed in self._open:
            if bed not in self.beds:
                self.beds[bed] = _BedTech()  # an open session with no reading yet is watched too
        for bed, st in self.beds.items():
            session = self._open_session(bed)
            sid = session.id if session else None
            alive = self._connected(st, now)
            for vital in SIGNAL_VITALS:
                if vital in st.first_seen:
                    watched = session is not None or alive
                    since = st.last_valid.get(vital, st.first_seen[vital])
                elif session is not None and vital in _MUST_WATCH:
                    # never seen in an open session; a pulse rate from the oximeter stands in for hr
                    watched = True
                    since = session.started
                    if vital == Vital.HR:
                        since = max(since, st.last_valid.get(Vital.PR, since))
                else:
                    watched, since = False, now
                lost = watched and now - since >= SIGNAL_LOST_S
                if lost:
                    self._start(
                        "signal-lost",
                        bed,
                        vital,
                        Priority.MEDIUM,
                        f"{_NAMES[vital]}: no valid reading for {SIGNAL_LOST_S:.0f} s",
                        min(now, since + SIGNAL_LOST_S),
                        sid,
                        out,
                    )
                elif not watched:
                    self._end("signal-lost", bed, vital, now, out)
            self._nibp(bed, st, session, now, out)
            if st.disconnected:
                since = min(st.disconnected.values())
                if now - since >= DISCONNECTED_S:
                    self._start(
                        "monitor-disconnected",
                        bed,
                        None,
                        Priority.MEDIUM,
                        "Monitor disconnected",
                        since + DISCONNECTED_S,
                        sid,
                        out,
                    )
            for (_, searched), since in st.searching.items():
                if now - since >= SEARCHING_S:
                    name = _NAMES[searched] if searched else "Monitor"
                    self._start(
                        "sensor-searching",
                        bed,
                        searched,
                        Priority.LOW,
                        f"{name}: searching",
                        since + SEARCHING_S,
                        sid,
                        out,
                    )
            for bad_vital, window in st.invalid.items():
                while window and window[0] < now - IMPLAUSIBLE_WINDOW_S:
                    window.popleft()
                if len(window) < IMPLAUSIBLE_COUNT:
                    self._end("implausible", bed, bad_vital, now, out)

    def _nibp(self, bed: str, st: _BedTech, session: Session | None, now: float, out: list[AlarmChange]) -> None:
        phase = session.phase if session else None
        if session is None or phase not in (Phase.INFUSION, Phase.RECOVERY):
            self._end("nibp-overdue", bed, None, now, out)
            return
        protocol = self.protocols.get(session.protocol) if session.protocol else None
        cycle = cuff_cycle_s(protocol, phase, self._default_cycle)
        if cycle is None:  # the protocol measures BP only at its checkpoints in this phase
            self._end("nibp-overdue", bed, None, now, out)
            return
        started = session.phase_started(Phase.INFUSION)
        since = max(st.last_nibp, started if started is not None else session.started)
        if now - since >= cycle + NIBP_GRACE_S:
            self._start(
                "nibp-overdue",
                bed,
                None,
                Priority.MEDIUM,
                f"NIBP overdue (cycle {cycle / 60:.0f} min)",
                since + cycle + NIBP_GRACE_S,
                session.id,
                out,
            )
