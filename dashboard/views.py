"""JSON views of the live state, shared by ``GET /api/beds`` and the WebSocket snapshot."""

from __future__ import annotations

from typing import Any

from dashboard.limits import limits_of
from monitor.events import alarm_json, session_json
from monitor.live import FRESHNESS_S
from monitor.model import PRIORITY_RANK
from monitor.service import Service
from monitor.store import sessions as session_store


def beds_view(svc: Service, now: float | None = None, labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every bed with its session, latest vitals and alarms; ``labels`` (bed -> label) saves a query."""
    now = svc.clock.now() if now is None else now
    live = svc.live
    labels = session_store.list_beds(svc.engine) if labels is None else labels
    bed_ids = list(labels)
    for key in live.values:
        if not key.startswith("source:") and key not in labels:
            bed_ids.append(key)
    for bed in svc.sessions.open_by_bed:
        if bed not in bed_ids:
            bed_ids.append(bed)
    alarms_by_bed: dict[str | None, list[dict[str, Any]]] = {}
    for alarm in sorted(live.alarms.values(), key=lambda a: (-PRIORITY_RANK[a.priority], a.started)):
        alarms_by_bed.setdefault(alarm.bed, []).append(alarm_json(alarm))
    sources_of: dict[str | None, list[str]] = {}
    for source, at in live.sources.items():  # once, not once per bed: a snapshot of 1,000 beds stays cheap
        sources_of.setdefault(at, []).append(source)
    out: list[dict[str, Any]] = []
    for bed in sorted(bed_ids):
        session = svc.sessions.open_by_bed.get(bed)
        out.append(
            {
                "id": bed,
                "label": labels.get(bed, bed),
                "session": session_json(session) if session else None,
                # Screens show nothing from before this (the chair's current session, or its last one's end).
                "since": session.started if session else svc.sessions.last_closed.get(bed),
                "limits": limits_of(svc.alarms, session),
                "vitals": live.vitals_of(bed, now),
                "alarms": alarms_by_bed.get(bed, []),
                "sources": sorted(sources_of.get(bed, [])),
            }
        )
    return out


def unassigned_view(svc: Service, now: float | None = None) -> list[dict[str, Any]]:
    now = svc.clock.now() if now is None else now
    live = svc.live
    out: list[dict[str, Any]] = []
    for source, bed in sorted(live.sources.items()):
        if bed is not None:
            continue
        vitals = live.vitals_of(f"source:{source}", now)
        out.append(
            {
                "device": source,
                "vitals": vitals,
                "last_seen": live.last_seen.get(source),
                # Sent as training data (HL7 MSH-11 T/D, a monitor in demo mode): never a patient's values.
                "training": any(v.get("quality") == "training" for v in vitals.values()),
            }
        )
    return out


def snapshot(svc: Service, labels: dict[str, str]) -> dict[str, Any]:
    """The WebSocket's first message. No I/O: it runs on the event loop (the caller reads ``labels`` first)."""
    now = svc.clock.now()
    return {
        "type": "snapshot",
        "seq": svc.bus.last_seq,
        "ts": now,
        "rate": svc.clock.rate,  # clock seconds per real second: the page's ages run at this rate
        "beds": beds_view(svc, now, labels),
        "unassigned": unassigned_view(svc, now),
        "alarms": [alarm_json(a) for a in svc.live.alarms.values()],
        "freshness_s": {v.value: s for v, s in FRESHNESS_S.items()},
        "nibp_cycle_s": nibp_cycle(svc),
    }


def nibp_cycle(svc: Service) -> dict[str, float]:
    """The NIBP interval of each phase (the technical alarm's cycle): the tiles count down to the next cuff."""
    alarms = svc.settings.alarms
    return {"infusion": alarms.nibp_cycle_infusion_s, "recovery": alarms.nibp_cycle_recovery_s}
