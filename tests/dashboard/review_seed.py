"""Seeding review tests through the real storage code: store.sessions for sessions and notes, the writer else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine

from monitor.model import (
    Alarm,
    AlarmChange,
    AlarmKind,
    AlarmState,
    Phase,
    PhaseChange,
    Priority,
    Quality,
    Reading,
    Session,
    Vital,
)
from monitor.store import sessions as session_store
from monitor.store.writer import BatchWriter

T0 = 1_763_000_000.0  # 2025-11-13T02:13:20+00:00
BED = "chair-2"
PATIENT = "P-0042"
UNITS = {"hr": "bpm", "pr": "bpm", "spo2": "%", "sbp": "mmHg", "dbp": "mmHg", "map": "mmHg"}


@dataclass
class Known:
    """The test session's readings and alarms, as plain tuples the tests compute from."""

    phases: list[tuple[str, float]]
    readings: list[tuple[float, str, float, str]] = field(default_factory=list)  # ts, vital, value, quality
    alarms: list[Alarm] = field(default_factory=list)
    notes: list[tuple[float, str, str]] = field(default_factory=list)  # ts, kind, text

    def add(self, ts: float, vital: str, value: float, quality: str = "valid") -> None:
        self.readings.append((ts, vital, value, quality))


def known_session() -> Known:
    """Two hours of made-up but plausible readings with edge cases the definitions must handle."""
    k = Known(phases=[("baseline", T0), ("infusion", T0 + 600), ("recovery", T0 + 3000), ("discharged", T0 + 6000)])
    for i, s in enumerate(range(0, 6000, 10)):
        hr = 70.0 + i % 5 if s < 600 else 80.0 if s < 3000 else 75.0
        k.add(T0 + s, "hr", hr)
    k.add(T0 + 2000 + 5, "hr", 118.0)  # the peak
    k.add(T0 + 2500 + 5, "hr", 300.0, "invalid")  # stored, never counted
    for s in range(0, 6000, 5):
        if 2000 < s < 2100:
            continue  # lost signal: the last value may hold 30 s only
        if 1200 <= s < 1230:
            v = 92.0
        elif 1230 <= s < 1250:
            v = 89.0
        elif s == 1250:
            k.add(T0 + s, "spo2", 50.0, "questionable")  # cuts the hold of 89
            continue
        elif 1250 < s < 1300 or s == 1995:
            v = 93.0
        else:
            v = 98.0 if s < 3000 else 97.0
        k.add(T0 + s, "spo2", v)
    nibp = [  # ts offset, sbp, dbp
        (100, 120, 80),
        (400, 124, 84),
        (600, 130, 85),
        (900, 150, 95),
        (1200, 165, 100),
        (1500, 171, 104),
        (2700, 140, 88),
        (3000, 160, 85),
        (3300, 155, 85),
        (3600, 150, 85),
        (3900, 150, 85),
        (4200, 148, 85),
        (4500, 150, 85),
        (4800, 147, 85),
        (5100, 140, 85),
        (5400, 130, 85),
        (5700, 128, 85),
    ]
    for s, sbp, dbp in nibp:
        k.add(T0 + s, "sbp", float(sbp))
        k.add(T0 + s, "dbp", float(dbp))
        k.add(T0 + s, "map", round((sbp + 2 * dbp) / 3, 1))

    def alarm(
        rule: str,
        kind: AlarmKind,
        prio: Priority,
        vital: Vital | None,
        start: float,
        end: float | None,
        ack: float | None,
        worst: float | None = None,
        limit: float | None = None,
    ) -> Alarm:
        return Alarm(
            id=f"{rule}-{int(start)}",
            rule_id=rule,
            kind=kind,
            priority=prio,
            message=rule,
            started=T0 + start,
            bed=BED,
            session_id=None,
            vital=vital,
            state=AlarmState.RESOLVED if end is not None else AlarmState.ACTIVE,
            ended=None if end is None else T0 + end,
            worst=worst,
            limit=limit,
            acknowledged_by="clinician" if ack is not None else None,
            acknowledged_at=None if ack is None else T0 + ack,
        )

    k.alarms = [
        alarm("bp-rise", AlarmKind.PHYSIOLOGICAL, Priority.MEDIUM, Vital.SBP, 1200, 2700, 1320, 171, 162),
        alarm("spo2-low", AlarmKind.PHYSIOLOGICAL, Priority.HIGH, Vital.SPO2, 1245, 1255, 1275, 89, 90),
        alarm("spo2-borderline", AlarmKind.PHYSIOLOGICAL, Priority.MEDIUM, Vital.SPO2, 1230, 1300, 1290, 89, 94),
        alarm("signal-lost", AlarmKind.TECHNICAL, Priority.MEDIUM, Vital.SPO2, 2025, 2100, None),
        alarm("nibp-overdue", AlarmKind.TECHNICAL, Priority.MEDIUM, None, 5300, 5450, 5330),
    ]
    k.notes = [(T0 + 1250, "adverse", "Transient desaturation, chin lift"), (T0 + 700, "note", "Calm")]
    return k


async def seed(
    engine: Engine, k: Known, *, bed: str = BED, patient: str = PATIENT, dose: float = 35.0, protocol: str | None = None
) -> int:
    """Store ``k`` as one session; returns its id."""
    phases = [PhaseChange(Phase(p), ts, "nurse") for p, ts in k.phases]
    session = Session(
        id=0,
        bed=bed,
        patient_ref=patient,
        phase=Phase.BASELINE,
        started=phases[0].ts,
        weight_kg=70.0,
        dose_mg=dose,
        rate_mg_per_h=dose,
        phases=phases[:1],
        protocol=protocol,
    )
    sid = session_store.insert_session(engine, session, "nurse")
    for ch in phases[1:]:
        session_store.record_phase(engine, sid, ch)
    writer = BatchWriter(engine, max_delay_s=0.005)
    writer.start()
    writer.add_readings(
        [Reading(Vital(v), value, UNITS[v], ts, "monitor-2", Quality(q), bed, sid) for ts, v, value, q in k.readings]
    )
    changes: list[AlarmChange] = []
    for a in k.alarms:
        a.session_id = sid
        a.bed = bed
        changes.append(AlarmChange(a, "started", a.started))
    writer.add_alarm_changes(changes)
    await writer.durable()
    await writer.close()
    for ts, kind, text in k.notes:
        session_store.add_note(engine, sid, ts, "nurse", text, kind)
    return sid


def readings_of(k: Known, vital: str) -> Sequence[tuple[float, float, str]]:
    return sorted(((ts, v, q) for ts, vv, v, q in k.readings if vv == vital), key=lambda r: r[0])
