"""Session lifecycle (start, phase changes, end) and binding readings to beds and sessions.

Every change is written to the audit log here, whoever asks for it (a nurse through
the API, the demo's simulated nurse), so no path can skip it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy import Engine

from monitor.binding import Bindings, Verdict
from monitor.clock import REAL_CLOCK, Clock
from monitor.model import (
    OPEN_PHASES,
    PHASE_TRANSITIONS,
    DischargeRecord,
    Phase,
    PhaseChange,
    Quality,
    Reading,
    Session,
)
from monitor.store import audit as audit_store
from monitor.store import sessions as session_store

SessionListener = Callable[[Session, PhaseChange], Awaitable[None]]


class SessionError(ValueError):
    """A session request that cannot be done (bed busy, illegal transition, unknown session)."""


class SessionManager:
    def __init__(
        self, engine: Engine, bindings: Bindings | dict[str, str] | None = None, *, clock: Clock = REAL_CLOCK
    ) -> None:
        self.engine = engine
        self.clock = clock
        #: How a reading finds its chair (fixed and on-screen associations; a dict: fixed device -> bed).
        self.bindings = bindings if isinstance(bindings, Bindings) else Bindings(bindings or {})
        self.open_by_bed: dict[str, Session] = {}
        #: bed -> when its last session ended (this run): a screen shows nothing from before it.
        self.last_closed: dict[str, float] = {}
        self.by_id: dict[int, Session] = {}
        self._listeners: list[SessionListener] = []
        self._lock = asyncio.Lock()

    def add_listener(self, listener: SessionListener) -> None:
        self._listeners.append(listener)

    def load(self) -> None:
        """Reopen the sessions that were open when the service stopped."""
        for s in session_store.open_sessions(self.engine):
            self.open_by_bed[s.bed] = s
            self.by_id[s.id] = s

    # -- the hot path ------------------------------------------------------------------
    def bind(self, reading: Reading) -> str | None:
        """Set the reading's bed and open session, in place (monitor/binding.py decides the bed).

        A reading claiming a chair bound to another device is quarantined: no bed, no
        session, quality ``quarantined``; the chair it claimed is returned (else None).
        """
        bed, verdict = self.bindings.judge(reading.source, reading.bed, reading.ts)
        if verdict is Verdict.QUARANTINED:
            reading.bed = None
            reading.quality = Quality.QUARANTINED
            return bed
        reading.bed = bed
        if bed is not None:
            session = self.open_by_bed.get(bed)
            # A reading stamped before the session began is not the session's (a monitor's backlog).
            if session is not None and reading.ts >= session.started:
                reading.session_id = session.id
        return None

    def bed_of_event(self, source: str, claimed: str | None, ts: float) -> str | None:
        """The chair a device status or device alarm belongs to; a foreign claim of a bound chair: none."""
        bed, verdict = self.bindings.judge(source, claimed, ts)
        return None if verdict is Verdict.QUARANTINED else bed

    def session_for_bed(self, bed: str | None) -> Session | None:
        return self.open_by_bed.get(bed) if bed is not None else None

    # -- changes -------------------------------------------------------------------------
    async def start(
        self,
        bed: str,
        patient_ref: str,
        user: str,
        *,
        weight_kg: float | None = None,
        dose_mg: float | None = None,
        rate_mg_per_h: float | None = None,
        protocol: str | None = None,
        dose_mg_per_kg: float | None = None,
        ts: float | None = None,
    ) -> Session:
        ts = self.clock.now() if ts is None else ts
        if not patient_ref.strip():
            raise SessionError("a patient reference is required")
        async with self._lock:
            if bed in self.open_by_bed:
                raise SessionError(f"bed {bed} already has an open session ({self.open_by_bed[bed].id})")
            change = PhaseChange(Phase.BASELINE, ts, user)
            session = Session(
                id=0,
                bed=bed,
                patient_ref=patient_ref.strip(),
                phase=Phase.BASELINE,
                started=ts,
                weight_kg=weight_kg,
                dose_mg=dose_mg,
                rate_mg_per_h=rate_mg_per_h,
                phases=[change],
                protocol=protocol,
                dose_mg_per_kg=dose_mg_per_kg,
            )
            session.id = await asyncio.to_thread(session_store.insert_session, self.engine, session, user)
            detail = {"bed": bed, "protocol": protocol, "dose_mg_per_kg": dose_mg_per_kg, "dose_mg": dose_mg}
            await asyncio.to_thread(
                audit_store.write_audit, self.engine, user, "session_start", f"session:{session.id}", detail
            )
            self.open_by_bed[bed] = session
            self.by_id[session.id] = session
        await self._notify(session, change)
        return session

    async def change_phase(
        self,
        session_id: int,
        phase: Phase,
        user: str,
        *,
        ts: float | None = None,
        reason: str | None = None,
        discharge: DischargeRecord | None = None,
    ) -> Session:
        """Move a session on; a discharge carries its record (escort, and why if the criteria were not met)."""
        ts = self.clock.now() if ts is None else ts
        async with self._lock:
            session = self.by_id.get(session_id)
            if session is None or not session.is_open:
                raise SessionError(f"session {session_id} is not open")
            if phase not in PHASE_TRANSITIONS[session.phase]:
                allowed = ", ".join(sorted(p.value for p in PHASE_TRANSITIONS[session.phase])) or "none"
                raise SessionError(f"cannot go from {session.phase.value} to {phase.value} (allowed: {allowed})")
            if phase == Phase.ABORTED and not (reason and reason.strip()):
                raise SessionError("aborting a session needs a reason")
            if discharge is not None and phase != Phase.DISCHARGED:
                raise SessionError("a discharge record goes with a discharge only")
            change = PhaseChange(phase, max(ts, session.phases[-1].ts), user)
            await asyncio.to_thread(session_store.record_phase, self.engine, session.id, change, reason, discharge)
            detail: dict[str, object] = {"phase": phase.value, "reason": reason}
            if discharge is not None:  # the escort's name stays out of the audit trail: the record has it
                detail.update(
                    escort_relation=discharge.escort_relation,
                    criteria_not_met_reason=discharge.reason,
                    decided_by=discharge.decided_by,
                )
            await asyncio.to_thread(
                audit_store.write_audit, self.engine, user, "session_phase", f"session:{session.id}", detail
            )
            session.phase = phase
            session.discharge = discharge
            session.phases.append(change)
            if phase not in OPEN_PHASES:
                self.last_closed[session.bed] = change.ts
                self.open_by_bed.pop(session.bed, None)
                self.by_id.pop(session.id, None)
        await self._notify(session, change)
        return session

    async def _notify(self, session: Session, change: PhaseChange) -> None:
        for listener in self._listeners:
            await listener(session, change)
