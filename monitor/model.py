"""Plain typed data of the domain: vitals, readings, device events, sessions.

No I/O here. Times are POSIX seconds (UTC) as floats on the hot path; they are
converted to ISO 8601 with an offset only at the edges (API, exports).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Vital(StrEnum):
    HR = "hr"
    PR = "pr"
    SPO2 = "spo2"
    SBP = "sbp"
    DBP = "dbp"
    MAP = "map"
    RR = "rr"
    ETCO2 = "etco2"


#: The unit every stored value of a vital is in (see spec/interfaces.md).
CANONICAL_UNIT: dict[Vital, str] = {
    Vital.HR: "bpm",
    Vital.PR: "bpm",
    Vital.SPO2: "%",
    Vital.SBP: "mmHg",
    Vital.DBP: "mmHg",
    Vital.MAP: "mmHg",
    Vital.RR: "/min",
    Vital.ETCO2: "mmHg",
}

#: Cuff pressures: measured intermittently, all three share one timestamp.
NIBP_VITALS: frozenset[Vital] = frozenset({Vital.SBP, Vital.DBP, Vital.MAP})
#: Vitals a monitor reports about once a second.
CONTINUOUS_VITALS: frozenset[Vital] = frozenset({Vital.HR, Vital.PR, Vital.SPO2, Vital.RR, Vital.ETCO2})


class Quality(StrEnum):
    VALID = "valid"
    QUESTIONABLE = "questionable"  # artefact, or the device says it is searching
    INVALID = "invalid"  # implausible or flagged invalid by the device; stored, never judged
    #: Sent as training or debugging data (HL7 MSH-11 T/D: a central station in demo mode):
    #: stored and shown marked TRAINING DATA, never bound to a chair, never judged.
    TRAINING = "training"
    #: from a device that is not the one bound to the chair it claimed (monitor/binding.py):
    #: stored for the record, never shown as the chair's value, never judged
    QUARANTINED = "quarantined"


class Phase(StrEnum):
    BASELINE = "baseline"
    INFUSION = "infusion"
    RECOVERY = "recovery"
    DISCHARGED = "discharged"
    ABORTED = "aborted"


#: Phases in which a session is open (readings from its bed belong to it).
OPEN_PHASES: frozenset[Phase] = frozenset({Phase.BASELINE, Phase.INFUSION, Phase.RECOVERY})
#: Allowed phase transitions; discharge and abort close the session.
PHASE_TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.BASELINE: frozenset({Phase.INFUSION, Phase.ABORTED}),
    Phase.INFUSION: frozenset({Phase.RECOVERY, Phase.ABORTED}),
    Phase.RECOVERY: frozenset({Phase.DISCHARGED, Phase.ABORTED}),
    Phase.DISCHARGED: frozenset(),
    Phase.ABORTED: frozenset(),
}
#: The pseudo-phase rules use for readings bound to no open session.
UNASSIGNED = "unassigned"


class Role(StrEnum):
    NURSE = "nurse"
    CLINICIAN = "clinician"
    ADMIN = "admin"


@dataclass(slots=True)
class Reading:
    """One value of one vital at one time from one source.

    Mutable on purpose: the pipeline normalises the unit, sets the quality and
    binds bed and session in place instead of copying on the hot path.
    """

    vital: Vital
    value: float
    unit: str
    ts: float
    source: str
    quality: Quality = Quality.VALID
    bed: str | None = None
    session_id: int | None = None


class DeviceState(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    SENSOR_OFF = "sensor_off"
    NO_SENSOR = "no_sensor"
    SEARCHING = "searching"
    LOW_PERFUSION = "low_perfusion"
    INTERFERENCE = "interference"
    LOW_SIGNAL_QUALITY = "low_signal_quality"
    OK = "ok"  # the device cleared an earlier sensor state


@dataclass(slots=True)
class DeviceStatus:
    """A device-status event: connection state or a sensor state the device reports."""

    source: str
    state: DeviceState
    ts: float
    bed: str | None = None
    vital: Vital | None = None
    detail: str = ""
    #: where it is: the sender's network address (HL7) or port (serial); the model where the device says it
    address: str = ""
    model: str = ""


@dataclass(slots=True)
class DeviceAlarm:
    """An alarm raised by the bedside device itself (HL7 ORU^R40, a serial alarm flag)."""

    source: str
    ts: float
    priority: str  # "high" | "medium" | "low"
    message: str
    code: str = ""
    vital: Vital | None = None
    bed: str | None = None
    session_id: int | None = None
    active: bool = True
    #: Raised by ivmon about the device or its sender (not by the device): a technical alarm, ``code`` its rule.
    technical: bool = False


IngestItem = Reading | DeviceStatus | DeviceAlarm


@dataclass(slots=True, frozen=True)
class SubmitResult:
    """What happened to one submitted batch once it is durable."""

    stored: int  # readings stored (valid or not: invalid ones are kept, flagged)
    rejected: int  # readings refused (unknown vital or unit): counted and logged, never guessed
    duplicate: bool = False  # the dedupe key was seen before: nothing was stored again
    errors: tuple[str, ...] = ()  # one reason per rejected reading


class DataRefused(Exception):
    """The database refused a submission's data for good (a submit raises it): nothing of it is stored.

    Only that submission is refused; everything stored with it in the same batch is kept.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # the database error's class and first line: no row values


class StorageUnavailable(Exception):
    """The service stopped before a submission could be stored (a submit raises it); it was not acknowledged."""


@dataclass(slots=True)
class PhaseChange:
    phase: Phase
    ts: float
    user: str


@dataclass(slots=True, frozen=True)
class DischargeRecord:
    """What a discharge recorded besides its time: the escort, and why if the criteria were not met."""

    escort_relation: str | None = None
    escort_name: str | None = None
    #: Why the patient left before the discharge criteria were met, and who decided (else None).
    reason: str | None = None
    decided_by: str | None = None


@dataclass(slots=True)
class Session:
    """An infusion session at one bed (chair)."""

    id: int
    bed: str
    patient_ref: str
    phase: Phase
    started: float
    weight_kg: float | None = None
    dose_mg: float | None = None
    rate_mg_per_h: float | None = None
    phases: list[PhaseChange] = field(default_factory=list)
    #: The protocol template's id (monitor/protocols); None: a session started without one.
    protocol: str | None = None
    dose_mg_per_kg: float | None = None
    #: When the patient was first seen ready to leave (the protocol's discharge criteria met), if ever.
    ready_at: float | None = None
    discharge: DischargeRecord | None = None

    @property
    def is_open(self) -> bool:
        return self.phase in OPEN_PHASES

    def phase_at(self, ts: float) -> Phase | None:
        """The phase in force at `ts`, or None before the session began."""
        current: Phase | None = None
        for change in self.phases:
            if change.ts > ts:
                break
            current = change.phase
        return current

    def phase_started(self, phase: Phase) -> float | None:
        for change in self.phases:
            if change.phase == phase:
                return change.ts
        return None


@dataclass(slots=True, frozen=True)
class Bed:
    id: str
    label: str


class AlarmKind(StrEnum):
    PHYSIOLOGICAL = "physiological"
    TECHNICAL = "technical"
    DEVICE = "device"  # raised by the bedside monitor itself and relayed as such


class Priority(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


#: Sort key: the screen shows the highest priority first.
PRIORITY_RANK: dict[Priority, int] = {Priority.HIGH: 3, Priority.MEDIUM: 2, Priority.LOW: 1}


#: An alarm's session ended (discharge or abort): the alarm is filed with it, never shown to the next patient.
FILED_SESSION_ENDED = "ended with the session"


class AlarmState(StrEnum):
    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"  # condition still present, a user has seen it
    SILENCED = "silenced"  # audio paused until ``silenced_until``
    RESOLVED = "resolved"  # condition over (a latched high alarm stays shown until acknowledged)


@dataclass(slots=True)
class Alarm:
    """One alarm episode and its current state (its history lives in alarm events)."""

    id: str
    rule_id: str
    kind: AlarmKind
    priority: Priority
    message: str
    started: float
    bed: str | None = None
    session_id: int | None = None
    vital: Vital | None = None
    state: AlarmState = AlarmState.ACTIVE
    ended: float | None = None
    value: float | None = None  # latest value that kept the condition
    worst: float | None = None
    limit: float | None = None
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    silenced_until: float | None = None
    escalated: bool = False
    #: the device that raised it when no chair is bound to it, and where that device is (its address)
    source: str | None = None
    source_address: str | None = None
    #: Raised by a reading whose measurement the device marked questionable (artefact, NIBP flagged).
    doubtful: bool = False
    #: Why the alarm left the screens without an acknowledgement (:data:`FILED_SESSION_ENDED`), else None.
    filed: str | None = None
    #: The one-tap answer to "was this alarm actionable?" (None: not answered).
    actionable: bool | None = None
    #: The clinic rule-set version in force when the alarm was raised (None: raised before versions).
    rule_set_version: int | None = None

    @property
    def needs_attention(self) -> bool:
        """Still on screen: active, or resolved but latched and not yet acknowledged (and not filed)."""
        if self.filed is not None:
            return False
        if self.state != AlarmState.RESOLVED:
            return True
        return self.priority == Priority.HIGH and self.acknowledged_at is None


@dataclass(slots=True, frozen=True)
class AlarmChange:
    """A state change of an alarm: what the audit trail and the screens receive."""

    alarm: Alarm
    transition: str  # "started", "acknowledged", "silenced", "resounded", "escalated", "resolved", ...
    ts: float
    user: str | None = None
