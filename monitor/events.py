"""Screen events: their types, declared once, and the one codec every part uses.

Every event the pipeline publishes (and the bus numbers with ``seq``, the event
log stores, a web process mirrors and the WebSocket hub sends) is one of the
types below. They are ``TypedDict``\\ s, not classes: an event is the JSON object
the screens receive (``spec/interfaces.md``), built once per reading group on
the hot path and coalesced by the hub, so a plain dict is the cheapest form and
the type checker still sees every field.

The codec is orjson, once per event: :func:`encode` keeps the bytes with the
event, so the event log (``monitor.bus_pg``) and every screen's lane share one
encoding, and an event read back from the log (:func:`decode`) is sent as the
text that was stored. Nothing outside this module knows where the bytes are kept.

:class:`~monitor.model.Alarm` and :class:`~monitor.model.Session` have one
mapping each to and from their JSON form here; the store's rows are that form
with a few columns renamed (:data:`ALARM_COLUMNS`).
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict, cast

import orjson

from monitor.model import (
    Alarm,
    AlarmChange,
    AlarmKind,
    AlarmState,
    DischargeRecord,
    Phase,
    PhaseChange,
    Priority,
    Session,
    Vital,
)

#: An event as the bus carries it (one of the TypedDicts below, plus its ``seq``).
Event = dict[str, Any]

# Where an event's encoding is kept: a key the encoder strips, never sent.
_CACHE = "_json"


class ReadingEvent(TypedDict):
    """All vitals of one bed (or unassigned source) at one instant."""

    type: Literal["reading"]
    bed: str | None
    session: int | None
    ts: float
    vitals: dict[str, float]
    quality: dict[str, str]  # only the vitals whose quality is not "valid"
    source: NotRequired[str]  # unassigned sources only
    seq: NotRequired[int]


class AlarmEvent(TypedDict):
    type: Literal["alarm"]
    transition: str
    alarm: dict[str, Any]  # alarm_json
    seq: NotRequired[int]


class SessionEvent(TypedDict):
    type: Literal["session"]
    session: dict[str, Any]  # session_json
    phase: str
    ts: float
    user: str
    seq: NotRequired[int]


class DeviceEvent(TypedDict):
    type: Literal["device"]
    bed: str | None
    source: str
    state: str
    vital: str | None
    ts: float
    detail: str
    address: NotRequired[str]  # where the monitor is (HL7 sender, serial port)
    model: NotRequired[str]
    seq: NotRequired[int]


class NoteEvent(TypedDict):
    type: Literal["note"]
    session: int
    bed: str
    ts: float
    user: str
    text: str
    kind: str
    #: An adverse event's category (``monitor.scales.ADVERSE_CATEGORIES``).
    category: NotRequired[str | None]
    seq: NotRequired[int]


class RuleSetEvent(TypedDict):
    """A clinic rule set was put in force (``alerts/rule_sets.py``): every process judges new alarms by it."""

    type: Literal["rules"]
    version: int
    rules_toml: str
    origin: str  # "adopted" | "configured"
    author: str
    ts: float
    note: str
    seq: NotRequired[int]


class HeartbeatEvent(TypedDict):
    """Proof of contact every 5 s, with the clinical clock's time and rate (pages count ages on it)."""

    type: Literal["heartbeat"]
    ts: float
    rate: NotRequired[float]
    restart: NotRequired[bool]
    seq: NotRequired[int]


class SnapshotEvent(TypedDict):
    """A screen's first message: the whole live state (``dashboard.views.snapshot``)."""

    type: Literal["snapshot"]
    seq: int
    ts: float
    rate: float
    beds: list[dict[str, Any]]
    unassigned: list[dict[str, Any]]
    alarms: list[dict[str, Any]]
    freshness_s: dict[str, float]


#: Events kept in the log for good (the rest only for the resume window).
DURABLE_TYPES = frozenset({"alarm", "session", "note", "association", "claim", "rules"})
TRANSIENT_TYPES = ("reading", "heartbeat", "device")


# -- the codec ---------------------------------------------------------------------------
def encode(event: Event) -> bytes:
    """The event as JSON, encoded once however many screens and logs take it."""
    cached: bytes | None = event.get(_CACHE)
    if cached is None:
        cached = orjson.dumps({k: v for k, v in event.items() if k != _CACHE})
        event[_CACHE] = cached
    return cached


def decode(payload: str | bytes, seq: int) -> Event:
    """An event read back from the log, numbered ``seq``; it is sent on as the stored text."""
    event: Event = orjson.loads(payload)
    event["seq"] = seq
    event[_CACHE] = payload.encode() if isinstance(payload, str) else payload
    return event


def unencoded(event: Event) -> Event:
    """A copy to change (the hub merging readings): without the encoding of the original."""
    return {k: v for k, v in event.items() if k != _CACHE}


# -- alarms ------------------------------------------------------------------------------
def alarm_json(alarm: Alarm) -> dict[str, Any]:
    return {
        "id": alarm.id,
        "rule": alarm.rule_id,
        "bed": alarm.bed,
        "session": alarm.session_id,
        "kind": alarm.kind.value,
        "vital": alarm.vital.value if alarm.vital else None,
        "priority": alarm.priority.value,
        "state": alarm.state.value,
        "message": alarm.message,
        "started": alarm.started,
        "ended": alarm.ended,
        "value": alarm.value,
        "worst": alarm.worst,
        "limit": alarm.limit,
        "acknowledged_by": alarm.acknowledged_by,
        "acknowledged_at": alarm.acknowledged_at,
        "silenced_until": alarm.silenced_until,
        "escalated": alarm.escalated,
        "source": {"device": alarm.source, "address": alarm.source_address or None}
        if alarm.source is not None
        else None,
        "doubtful": alarm.doubtful,
        "filed": alarm.filed,
        "actionable": alarm.actionable,
        "rule_set_version": alarm.rule_set_version,
    }


def alarm_from_json(data: Any) -> Alarm:
    """The inverse of :func:`alarm_json` (``data``: its dict, or any mapping with its keys)."""
    vital = data.get("vital")
    return Alarm(
        id=data["id"],
        rule_id=data["rule"],
        kind=AlarmKind(data["kind"]),
        priority=Priority(data["priority"]),
        message=data["message"],
        started=data["started"],
        bed=data.get("bed"),
        session_id=data.get("session"),
        vital=Vital(vital) if vital else None,
        state=AlarmState(data["state"]),
        ended=data.get("ended"),
        value=data.get("value"),
        worst=data.get("worst"),
        limit=data.get("limit"),
        acknowledged_by=data.get("acknowledged_by"),
        acknowledged_at=data.get("acknowledged_at"),
        silenced_until=data.get("silenced_until"),
        escalated=bool(data.get("escalated", False)),
        doubtful=bool(data.get("doubtful", False)),
        filed=data.get("filed"),
        actionable=data.get("actionable"),
        rule_set_version=data.get("rule_set_version"),
        source=(data.get("source") or {}).get("device"),
        source_address=(data.get("source") or {}).get("address") or "" if data.get("source") else None,
    )


#: JSON key -> column of ``alarms`` where the two differ (the table predates the wire names).
ALARM_COLUMNS: dict[str, str] = {"rule": "rule_id", "bed": "bed_id", "session": "session_id", "limit": "limit_value"}
_ALARM_KEYS = {column: key for key, column in ALARM_COLUMNS.items()}


def alarm_row(alarm: Alarm) -> dict[str, Any]:
    """The alarm as a row of ``alarms`` (the device it names is not a column: it is in the alarm's events)."""
    return {ALARM_COLUMNS.get(k, k): v for k, v in alarm_json(alarm).items() if k != "source"}


def alarm_from_row(row: Any) -> Alarm:
    """An alarm from a row of ``alarms`` (a SQLAlchemy row or mapping)."""
    return alarm_from_json({_ALARM_KEYS.get(k, k): v for k, v in row._mapping.items()})


def change_json(change: AlarmChange) -> dict[str, Any]:
    return {"alarm": alarm_json(change.alarm), "transition": change.transition, "ts": change.ts, "user": change.user}


def change_from_json(data: dict[str, Any]) -> AlarmChange:
    return AlarmChange(alarm_from_json(data["alarm"]), data["transition"], data["ts"], data.get("user"))


# -- sessions ----------------------------------------------------------------------------
def session_json(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "bed": session.bed,
        "patient_ref": session.patient_ref,
        "phase": session.phase.value,
        "started": session.started,
        "infusion_started": session.phase_started(Phase.INFUSION),
        "weight_kg": session.weight_kg,
        "dose_mg": session.dose_mg,
        "rate_mg_per_h": session.rate_mg_per_h,
        "phases": [{"phase": c.phase.value, "ts": c.ts, "user": c.user} for c in session.phases],
        "protocol": session.protocol,
        "dose_mg_per_kg": session.dose_mg_per_kg,
        "ready_at": session.ready_at,
        "discharge": _discharge_json(session.discharge),
    }


def _discharge_json(record: DischargeRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "escort_relation": record.escort_relation,
        "escort_name": record.escort_name,
        "reason": record.reason,
        "decided_by": record.decided_by,
    }


def session_from_json(data: Any) -> Session:
    """The inverse of :func:`session_json` (``infusion_started`` is derived, not read)."""
    return Session(
        id=data["id"],
        bed=data["bed"],
        patient_ref=data["patient_ref"],
        phase=Phase(data["phase"]),
        started=data["started"],
        weight_kg=data.get("weight_kg"),
        dose_mg=data.get("dose_mg"),
        rate_mg_per_h=data.get("rate_mg_per_h"),
        phases=[PhaseChange(Phase(p["phase"]), p["ts"], p["user"]) for p in data.get("phases", [])],
        protocol=data.get("protocol"),
        dose_mg_per_kg=data.get("dose_mg_per_kg"),
        ready_at=data.get("ready_at"),
        discharge=DischargeRecord(**discharge) if (discharge := data.get("discharge")) else None,
    )


# -- event constructors (the pipeline's, the service's) ------------------------------------
# Each builds its declared type (checked) and hands it on as the plain dict the bus carries.
def alarm_event(change: AlarmChange) -> Event:
    event: AlarmEvent = {"type": "alarm", "transition": change.transition, "alarm": alarm_json(change.alarm)}
    return cast(Event, event)


def session_event(session: Session, change: PhaseChange) -> Event:
    event: SessionEvent = {
        "type": "session",
        "session": session_json(session),
        "phase": change.phase.value,
        "ts": change.ts,
        "user": change.user,
    }
    return cast(Event, event)


def rule_set_event(version: int, rules_toml: str, origin: str, author: str, ts: float, note: str = "") -> Event:
    event: RuleSetEvent = {
        "type": "rules",
        "version": version,
        "rules_toml": rules_toml,
        "origin": origin,
        "author": author,
        "ts": ts,
        "note": note,
    }
    return cast(Event, event)


def heartbeat_event(ts: float, rate: float) -> Event:
    event: HeartbeatEvent = {"type": "heartbeat", "ts": ts, "rate": rate}
    return cast(Event, event)
