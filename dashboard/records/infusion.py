"""The infusion record: the legal record of one session, as many A4 pages as it needs.

What a clinic keeps on paper (issue 15): the clinic, the patient's identifiers on every page, protocol,
planned and given dose (mg, mg/kg), rate and times; the vitals at the charting interval with units;
assessments, drugs given, adverse events and notes in full; alarms with their acknowledgement; discharge
readiness, discharge, escort, abort reason; who acted, and a signature line for each of them. Times are
in the clinic's zone, which is printed.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from dashboard.records.data import RecordData
from dashboard.records.flow import NOT_RECORDED, Flow, clock, zone_name
from dashboard.review.exports import UNITS
from monitor.config import ClinicSettings
from monitor.model import Phase
from monitor.scales import ADVERSE_CATEGORIES, SESSION_SCALES

TIME = "%H:%M"
DATE_TIME = "%Y-%m-%d %H:%M"


def _num(x: float | None, unit: str, digits: int = 1) -> str:
    return NOT_RECORDED if x is None else f"{x:.{digits}f} {unit}"


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return NOT_RECORDED
    m = round(seconds / 60)
    return f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min"


def patient_line(data: RecordData) -> str:
    """The patient identifier printed on every page: the reference, and name, birth date, MRN if entered."""
    s = data.record.session
    ident = data.identity or {}
    parts = [f"Patient {s.patient_ref}"]
    if ident.get("name"):
        parts.append(str(ident["name"]))
    if ident.get("birth_date"):
        parts.append(f"born {ident['birth_date']}")
    if ident.get("mrn"):
        parts.append(f"MRN {ident['mrn']}")
    parts.append(f"session {s.id}")
    return " · ".join(parts)


def clinic_line(clinic: ClinicSettings) -> str:
    name = clinic.name or "clinic name not configured ([clinic] name)"
    return f"{name} · {clinic.address}" if clinic.address else name


def render_record(data: RecordData, clinic: ClinicSettings) -> bytes:
    zone = clinic.zone()
    s = data.record.session
    flow = Flow("Ketamine infusion record", clinic_line(clinic), patient_line(data))
    _identity(flow, data, zone)
    _dose(flow, data, zone)
    _phases(flow, data, zone)
    _vitals(flow, data, zone)
    _assessments(flow, data, zone)
    _medications(flow, data, zone)
    _adverse(flow, data, zone)
    _notes(flow, data, zone)
    _alarms(flow, data, zone)
    _discharge(flow, data, zone)
    _staff(flow, data)
    zone_text = zone_name(zone, s.started)
    footer = f"ivmon infusion record, session {s.id}, printed {clock(data.now, zone, DATE_TIME)}. Times: {zone_text}."
    return flow.pdf(footer)


def _identity(flow: Flow, data: RecordData, zone: tzinfo | None) -> None:
    s = data.record.session
    ident = data.identity or {}
    flow.heading("Patient and session")
    flow.pairs(
        [
            ("Patient reference", s.patient_ref),
            ("Name", ident.get("name")),
            ("Date of birth", ident.get("birth_date")),
            ("MRN", ident.get("mrn")),
            ("Chair", s.bed),
            ("Protocol", data.protocol_text),
            ("Weight", _num(s.weight_kg, "kg")),
            ("Session started", clock(s.started, zone, DATE_TIME)),
            ("Session ended", clock(data.closed_at, zone, DATE_TIME) if data.closed_at else "open (still running)"),
            ("Outcome", s.phase.value),
            ("Times in", zone_name(zone, s.started)),
        ]
    )


def _dose(flow: Flow, data: RecordData, zone: tzinfo | None) -> None:
    s = data.record.session
    d = data.dose
    start = s.phase_started(Phase.INFUSION)
    stop = None if start is None or d.infusion_s is None else start + d.infusion_s
    planned_per_kg = data.row.get("dose_mg_per_kg") or d.planned_mg_per_kg
    flow.heading("Dose")
    pairs: list[tuple[str, object]] = [
        ("Planned dose", _num(d.planned_mg, "mg")),
        ("Planned dose per kg", _num(planned_per_kg, "mg/kg", 2)),
        ("Rate", _num(s.rate_mg_per_h, "mg/h")),
        ("Infusion started", clock(start, zone, DATE_TIME)),
        (
            "Infusion stopped",
            clock(stop, zone, DATE_TIME) if data.closed_at or s.phase != Phase.INFUSION else "running",
        ),
        ("Infusion time", _dur(d.infusion_s)),
        ("Dose given", _num(d.given_mg, "mg", 2)),
        ("Dose given per kg", _num(d.given_mg_per_kg, "mg/kg", 3)),
        ("Computed from", f"{d.computed_from}: {_num(d.computed_mg, 'mg', 2)}"),
    ]
    if d.entered_by is not None:
        pairs.append(("Dose given entered by", f"{d.entered_by} at {clock(d.entered_at, zone, DATE_TIME)}"))
        pairs.append(("Reason", d.reason))
    flow.pairs(pairs)


def _phases(flow: Flow, data: RecordData, zone: tzinfo | None) -> None:
    flow.heading("Phases")
    rows = [[clock(c.ts, zone, DATE_TIME), c.phase.value, c.user] for c in data.record.session.phases]
    flow.table(["Time", "Phase", "By"], rows, [18, 14, 30])


def _value(values: dict[str, Any], vital: str) -> str:
    v = values.get(vital)
    if not v:
        return "-"
    x = float(v["value"])
    return f"{x:.0f}" if x == int(x) else f"{x:.1f}"


def _vitals(flow: Flow, data: RecordData, zone: tzinfo | None) -> None:
    flow.heading("Vital signs (charting interval and every NIBP)")
    rows = []
    for r in data.vitals:
        v = r["values"]
        bp = f"{_value(v, 'sbp')}/{_value(v, 'dbp')}" if v.get("sbp") else "-"
        status = r["status"] if r["status"] != "draft" else "not validated"
        if r.get("reason"):
            status += f": {r['reason']}"
        rows.append(
            [clock(r["ts"], zone, TIME), r["phase"], _value(v, "hr"), _value(v, "spo2"), bp, _value(v, "map"), status]
        )
    flow.table(
        ["Time", "Phase", "HR bpm", "SpO2 %", "BP mmHg", "MAP mmHg", "Chart status"],
        rows,
        [7, 10, 8, 8, 10, 10, 40],
    )


def _assessments(flow: Flow, data: RecordData, zone: tzinfo | None) -> None:
    flow.heading("Assessments")
    rows = []
    for a in data.assessments:
        scale = SESSION_SCALES.get(a["scale"])
        title = scale.title if scale else a["scale"]
        items = "" if a["items"] is None else " ".join(f"{float(i):g}" for i in a["items"])
        top = f"/{scale.high}" if scale else ""
        rows.append([clock(a["ts"], zone, TIME), title, f"{a['score']:g}{top}", items, a["user"]])
    flow.table(["Time", "Scale", "Score", "Items", "By"], rows, [7, 30, 8, 20, 30])


def _medications(flow: Flow, data: RecordData, zone: tzinfo | None) -> None:
    flow.heading("Medication given (besides the infusion)")
    rows = [
        [clock(m["ts"], zone, TIME), m["drug"], f"{m['dose']:g} {m['unit']}", m["route"], m["user"]]
        for m in data.medications
    ]
    flow.table(["Time", "Drug", "Dose", "Route", "By"], rows, [7, 40, 14, 8, 30])


def _adverse(flow: Flow, data: RecordData, zone: tzinfo | None) -> None:
    flow.heading("Adverse events")
    rows = [
        [
            clock(n["ts"], zone, TIME),
            ADVERSE_CATEGORIES.get(n.get("category") or "other", "Other"),
            n["text"],
            n["user"],
        ]
        for n in data.adverse
    ]
    flow.table(["Time", "Category", "What happened, what was done", "By"], rows, [7, 24, 70, 20])


def _notes(flow: Flow, data: RecordData, zone: tzinfo | None) -> None:
    flow.heading("Notes")
    rows = [[clock(n["ts"], zone, TIME), n["text"], n["user"]] for n in data.notes]
    flow.table(["Time", "Note", "By"], rows, [7, 94, 20])


def _alarms(flow: Flow, data: RecordData, zone: tzinfo | None) -> None:
    flow.heading("Alarms")
    rows = []
    for a in data.record.alarms:
        if a.acknowledged_at is not None:
            ack = f"{a.acknowledged_by or ''} {clock(a.acknowledged_at, zone, TIME)}".strip()
        elif a.filed:
            ack = f"not acknowledged: {a.filed}"
        else:
            ack = "not acknowledged"
        unit = UNITS.get(a.vital.value, "") if a.vital else ""
        worst = "-" if a.worst is None else f"{a.worst:g} {unit}".strip() + (" (doubtful)" if a.doubtful else "")
        end = clock(a.ended, zone, TIME) if a.ended is not None else "-"
        rows.append([clock(a.started, zone, TIME), end, a.priority.value, a.message, worst, ack])
    flow.table(["Start", "End", "Priority", "Alarm", "Worst", "Acknowledged"], rows, [7, 7, 9, 50, 14, 34])


def _discharge(flow: Flow, data: RecordData, zone: tzinfo | None) -> None:
    s = data.record.session
    row = data.row
    flow.heading("Discharge")
    discharged = s.phase_started(Phase.DISCHARGED)
    aborted = s.phase_started(Phase.ABORTED)
    recorded_ready = row.get("ready_at") is not None
    ready = clock(data.ready_at, zone, DATE_TIME) if data.ready_at is not None else "criteria not met while monitored"
    relation = row.get("escort_relation")
    escort = row.get("escort_name")
    pairs: list[tuple[str, object]] = [
        ("Ready to leave", ready + ("" if recorded_ready or data.ready_at is None else " (from the readings)")),
        ("Discharged", clock(discharged, zone, DATE_TIME) if discharged else ("no" if aborted else "not yet")),
        ("Escort", f"{escort or NOT_RECORDED} ({relation or 'relation not recorded'})" if discharged else None),
        (
            "Discharged before criteria met",
            row.get("discharge_reason") or ("no" if discharged and data.ready_at else None),
        ),
        ("Decided by", row.get("discharge_decided_by")),
    ]
    if aborted is not None:
        pairs.append(("Aborted", clock(aborted, zone, DATE_TIME)))
        pairs.append(("Abort reason", row.get("end_reason")))
    flow.pairs(pairs)


def _staff(flow: Flow, data: RecordData) -> None:
    flow.heading("Staff who acted")
    flow.table(
        ["Name", "Role", "Did"],
        [[user, role, ", ".join(what)] for user, (role, what) in data.staff.items()],
        [24, 12, 85],
    )
    flow.heading("Signatures")
    # Everyone who acted signs for what they did (an admin account acts only on the system, not the patient).
    responsible = [(u, r) for u, (r, _) in data.staff.items() if r != "admin"] or [("responsible clinician", "")]
    for user, role in responsible:
        flow.signature(role or "role not recorded", user)
