"""A web process's copy of the screens' state, kept by the events the ingest process logs.

The ingest's pipeline updates :class:`~monitor.live.LiveState` and the open
sessions as it works; a web process has no pipeline, so it applies the same
events (readings, alarms, sessions, device states) to its own copies, which
the API and the WebSocket snapshot read exactly as in one process.
"""

from __future__ import annotations

import logging

from monitor.bus import Event
from monitor.devices import DeviceManager, apply_association
from monitor.events import alarm_from_json, session_from_json
from monitor.live import LiveState
from monitor.model import (
    OPEN_PHASES,
    Quality,
    Reading,
    Session,
    Vital,
)
from monitor.sessions import SessionManager

log = logging.getLogger(__name__)


def apply_session(sessions: SessionManager, session: Session) -> None:
    if session.phase in OPEN_PHASES:
        sessions.by_id[session.id] = session
        sessions.open_by_bed[session.bed] = session
    else:
        sessions.by_id.pop(session.id, None)
        if (held := sessions.open_by_bed.get(session.bed)) is not None and held.id == session.id:
            sessions.open_by_bed.pop(session.bed, None)


class Mirror:
    """A bus subscriber applying logged events to this process's live state and sessions."""

    def __init__(self, live: LiveState, sessions: SessionManager, devices: DeviceManager | None = None) -> None:
        self.live = live
        self.sessions = sessions
        self.devices = devices
        # Reading events name their source only for unassigned devices: remember each bed's.
        self._bed_source: dict[str, str] = {b: s for s, b in live.sources.items() if b is not None}

    def __call__(self, event: Event) -> None:
        kind = event.get("type")
        if kind == "reading":
            bed = event.get("bed")
            source = event.get("source") or self._bed_source.get(bed or "") or f"bed:{bed}"
            quality = event.get("quality") or {}
            ts = float(event["ts"])
            for name, value in event["vitals"].items():
                self.live.update(
                    Reading(Vital(name), float(value), "", ts, source, Quality(quality.get(name, "valid")), bed)
                )
        elif kind == "alarm":
            self.live.update_alarm(alarm_from_json(event["alarm"]))
        elif kind == "session":
            apply_session(self.sessions, session_from_json(event["session"]))
        elif kind == "device":
            self.live.last_seen[event["source"]] = float(event["ts"])
            if self.devices is not None:
                self.devices.registry.on_event(event)
        elif kind == "association" and self.devices is not None:
            assoc = event["association"]
            apply_association(self.devices.bindings, assoc)
            if assoc.get("end") is None:  # the chair's readings come from this monitor now
                self._bed_source[assoc["bed"]] = assoc["device"]
