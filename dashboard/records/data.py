"""Everything the printed records say about one session, read once from storage.

The review's record (readings, alarms and their history, notes) and summary (baselines, peaks, the
computed discharge readiness) plus what the care team entered (assessments, drugs, the dose given,
identifiers) and the session's own columns, h15a's protocol, discharge and escort columns included when
the schema has them (read by name from the row: a column absent prints "not recorded").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from alerts.rules import Rule
from alerts.summary import SessionSummary
from dashboard.review.data import SessionRecord, load_record, summary_of
from monitor.charting.chart import ChartContext, chart
from monitor.charting.draft import ChartingPlan
from monitor.given_dose import GivenDose, given_dose
from monitor.model import Phase
from monitor.protocols import Protocol
from monitor.store import assessments as store


@dataclass(slots=True)
class RecordData:
    record: SessionRecord
    summary: SessionSummary
    row: dict[str, Any]
    identity: dict[str, Any] | None
    dose: GivenDose
    #: The charted rows (the flowsheet's: draft values, or the nurse's decision where there is one).
    vitals: list[dict[str, Any]]
    assessments: list[dict[str, Any]]
    medications: list[dict[str, Any]]
    #: Who acted, in order of first action: username -> (role or "unknown", what they did).
    staff: dict[str, tuple[str, list[str]]]
    now: float
    #: The session's protocol template (None: started without one, or a template no longer configured).
    protocol: Protocol | None = None

    @property
    def protocol_text(self) -> str | None:
        key = self.row.get("protocol")
        if key is None:
            return None
        return f"{self.protocol.name} ({key})" if self.protocol is not None else f"{key} (template not configured)"

    def has_form(self, form: str) -> bool:
        """The protocol produces this record form ("record", "rems")."""
        return self.protocol is not None and form in self.protocol.records

    @property
    def closed_at(self) -> float | None:
        return self.record.closed_at

    @property
    def ready_at(self) -> float | None:
        """When the patient was ready to leave: as recorded at the chair, else as the summary computes it."""
        recorded = self.row.get("ready_at")
        return float(recorded) if recorded is not None else self.summary.discharge_ready_ts

    @property
    def adverse(self) -> list[dict[str, Any]]:
        return [n for n in self.record.notes if n.get("kind") == "adverse"]

    @property
    def notes(self) -> list[dict[str, Any]]:
        return [n for n in self.record.notes if n.get("kind") != "adverse"]


def gather(
    engine: Engine,
    session_id: int,
    rules: list[Rule],
    plan: ChartingPlan,
    now: float,
    protocols: dict[str, Protocol],
) -> RecordData | None:
    """The record's data (blocking: run it in a thread). ``now`` ends an open session's figures."""
    record = load_record(engine, session_id, cached=False)
    row = store.session_row(engine, session_id)
    if record is None or row is None:
        return None
    protocol = protocols.get(str(row.get("protocol")))
    plan = protocol_plan(plan, protocol)
    session = record.session
    until = record.closed_at if record.closed_at is not None else now
    entered = store.given_dose_entry(engine, session_id)
    assessments = store.session_assessments(engine, session_id)
    medications = store.session_medications(engine, session_id)
    data = RecordData(
        record=record,
        summary=summary_of(record, rules, now),
        row=row,
        identity=store.identity(engine, session_id),
        dose=given_dose(session, until, entered),
        vitals=chart(engine, session, ChartContext(plan, ()), until),
        assessments=assessments,
        medications=medications,
        staff={},
        now=now,
        protocol=protocol,
    )
    data.staff = _staff(engine, data, entered)
    return data


def protocol_plan(plan: ChartingPlan, protocol: Protocol | None) -> ChartingPlan:
    """The record's charting interval: the protocol's per phase where its template sets one, else the clinic's."""
    if protocol is None:
        return plan
    interval = dict(plan.interval_s)
    for p in protocol.phases:
        if p.chart_every_min is not None:
            interval[Phase(p.phase)] = p.chart_every_min * 60.0
    return ChartingPlan(interval_s=interval, window_s=plan.window_s)


def _staff(engine: Engine, data: RecordData, entered: dict[str, Any] | None) -> dict[str, tuple[str, list[str]]]:
    acts: list[tuple[float, str | None, str]] = [(data.record.session.started, data.row.get("created_by"), "started")]
    acts += [(c.ts, c.user, f"{c.phase.value}") for c in data.record.session.phases[1:]]
    acts += [(a["ts"], a["user"], "assessment") for a in data.assessments]
    acts += [(m["ts"], m["user"], "medication") for m in data.medications]
    acts += [(n["ts"], n["user"], "adverse event" if n.get("kind") == "adverse" else "note") for n in data.record.notes]
    acts += [(a.acknowledged_at or a.started, a.acknowledged_by, "alarm acknowledged") for a in data.record.alarms]
    acts += [(r["ts"], r.get("user"), "flowsheet") for r in data.vitals if r.get("user")]
    if entered is not None:
        acts.append((entered["ts"], entered["user"], "dose given"))
    if data.row.get("discharge_decided_by"):
        acts.append((data.closed_at or data.now, data.row["discharge_decided_by"], "discharge decision"))
    order: dict[str, list[str]] = {}
    for _, user, what in sorted(acts, key=lambda a: a[0]):
        if user and what not in order.setdefault(user, []):
            order[user].append(what)
    roles = store.user_roles(engine, list(order))
    return {user: (roles.get(user, "unknown"), what) for user, what in order.items()}
