"""The facts of the esketamine REMS patient monitoring form, pre-filled from the session.

The form (../shared/research/protocols.md, spravatohcp.com) asks for the blood pressure before dosing,
at about 40 minutes and before the end of observation; the total observation minutes; when the patient
would have been ready to leave; and yes/no for sedation, dissociation and respiratory depression. This
prints those facts for the prescriber to transcribe and confirm; it is not the programme's own form.

How each fact is found:
- BP before dosing: the last valid cuff reading before the dose (the infusion phase's start).
- BP at 40 min: the cuff reading nearest dose + 40 min within +/- 10 min (``FORTY_MIN_WINDOW_S``).
- BP before the end: the last cuff reading before observation ended (discharge or abort; now if open).
- Sedation: any MOAA/S below 5 (awake), or an adverse event with "sedation" in its text.
- Dissociation: any CADSS-6 total above 0, or an emergence reaction recorded.
- Respiratory depression: an adverse event "desaturation needing intervention", or SpO2 below 90 %
  in the readings (the summary's time below 90 %). Each answer names what it rests on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

import numpy as np

from dashboard.records.data import RecordData
from dashboard.records.flow import NOT_RECORDED, Flow, clock, zone_name
from dashboard.records.infusion import clinic_line, patient_line
from monitor.config import ClinicSettings
from monitor.model import Phase
from monitor.scales import SEDATED_BELOW

FORTY_MIN_S = 40 * 60.0
FORTY_MIN_WINDOW_S = 10 * 60.0
DATE_TIME = "%Y-%m-%d %H:%M"


@dataclass(frozen=True, slots=True)
class CuffReading:
    ts: float
    sbp: float
    dbp: float | None


@dataclass(frozen=True, slots=True)
class Answer:
    yes: bool
    because: str


@dataclass(frozen=True, slots=True)
class RemsFacts:
    dosed_at: float | None
    bp_before: CuffReading | None
    bp_40: CuffReading | None
    bp_end: CuffReading | None
    observation_min: float | None
    ready_at: float | None
    sedation: Answer
    dissociation: Answer
    respiratory_depression: Answer


def cuff_readings(data: RecordData) -> list[CuffReading]:
    """Valid systolic readings with their diastolic of the same measurement, in time order."""
    r = data.record.readings
    valid = r[r["quality"] == "valid"]
    sbp = valid[valid["vital"] == "sbp"].sort_values("ts")
    dbp = valid[valid["vital"] == "dbp"]
    dia = dict(zip(dbp["ts"].to_numpy(), dbp["value"].to_numpy(), strict=True))
    return [
        CuffReading(float(t), float(v), None if t not in dia else float(dia[t]))
        for t, v in zip(sbp["ts"].to_numpy(), sbp["value"].to_numpy(), strict=True)
    ]


def rems_facts(data: RecordData) -> RemsFacts:
    s = data.record.session
    dosed = s.phase_started(Phase.INFUSION)
    end = data.closed_at if data.closed_at is not None else data.now
    cuffs = cuff_readings(data)
    before = [c for c in cuffs if dosed is not None and c.ts <= dosed]
    until_end = [c for c in cuffs if c.ts <= end and (dosed is None or c.ts > dosed)]
    forty: CuffReading | None = None
    if dosed is not None and cuffs:
        times = np.array([c.ts for c in cuffs])
        i = int(np.argmin(np.abs(times - (dosed + FORTY_MIN_S))))
        if abs(cuffs[i].ts - (dosed + FORTY_MIN_S)) <= FORTY_MIN_WINDOW_S:
            forty = cuffs[i]
    return RemsFacts(
        dosed_at=dosed,
        bp_before=before[-1] if before else None,
        bp_40=forty,
        bp_end=until_end[-1] if until_end else None,
        observation_min=None if dosed is None else (end - dosed) / 60.0,
        ready_at=data.ready_at,
        sedation=_sedation(data),
        dissociation=_dissociation(data),
        respiratory_depression=_respiratory(data),
    )


def _sedation(data: RecordData) -> Answer:
    moaas = [a for a in data.assessments if a["scale"] == "moaas"]
    low = [a for a in moaas if a["score"] < SEDATED_BELOW]
    if low:
        return Answer(True, f"MOAA/S {min(a['score'] for a in low):g} recorded")
    if any("sedat" in n["text"].lower() for n in data.adverse):
        return Answer(True, "adverse event mentions sedation")
    return Answer(False, f"{len(moaas)} MOAA/S assessment(s), all 5 (awake)" if moaas else "no MOAA/S recorded")


def _dissociation(data: RecordData) -> Answer:
    cadss = [a for a in data.assessments if a["scale"] == "cadss6"]
    high = [a for a in cadss if a["score"] > 0]
    if high:
        return Answer(True, f"CADSS-6 up to {max(a['score'] for a in high):g}")
    if any(n.get("category") == "emergence-reaction" for n in data.adverse):
        return Answer(True, "emergence reaction recorded")
    return Answer(False, f"{len(cadss)} CADSS-6 assessment(s), all 0" if cadss else "no CADSS-6 recorded")


def _respiratory(data: RecordData) -> Answer:
    if any(n.get("category") == "desaturation-intervention" for n in data.adverse):
        return Answer(True, "desaturation needing intervention recorded")
    below = data.summary.spo2_below_s.get("90") or 0.0
    if below > 0:
        return Answer(True, f"SpO2 below 90 % for {below:.0f} s in the readings")
    low = data.summary.lows.get("spo2")
    return Answer(False, "no desaturation recorded" + ("" if low is None else f"; lowest SpO2 {low.value:g} %"))


def _bp(c: CuffReading | None, zone: tzinfo | None) -> str:
    if c is None:
        return NOT_RECORDED
    dia = "-" if c.dbp is None else f"{c.dbp:g}"
    return f"{c.sbp:g}/{dia} mmHg at {clock(c.ts, zone, '%H:%M')}"


def render_rems(data: RecordData, clinic: ClinicSettings) -> bytes:
    zone = clinic.zone()
    s = data.record.session
    facts = rems_facts(data)
    flow = Flow("Esketamine REMS monitoring: facts for the form", clinic_line(clinic), patient_line(data))
    flow.text(
        "Pre-filled from the session's readings and entries for the prescriber to confirm and transcribe "
        "onto the REMS patient monitoring form. Check every value against the chart.",
        colour="#444444",
    )
    flow.heading("Session")
    flow.pairs(
        [
            ("Patient reference", s.patient_ref),
            ("Protocol", data.protocol_text),
            ("Dose", "-" if data.dose.planned_mg is None else f"{data.dose.planned_mg:g} mg"),
            ("Dosed at", clock(facts.dosed_at, zone, DATE_TIME)),
            ("Times in", zone_name(zone, s.started)),
        ]
    )
    flow.heading("Blood pressure")
    flow.pairs(
        [
            ("BP before dosing", _bp(facts.bp_before, zone)),
            ("BP at about 40 min", _bp(facts.bp_40, zone)),
            ("BP before the end", _bp(facts.bp_end, zone)),
        ]
    )
    flow.heading("Observation")
    flow.pairs(
        [
            (
                "Total observation",
                NOT_RECORDED if facts.observation_min is None else f"{facts.observation_min:.0f} min",
            ),
            ("Ready to leave at", clock(facts.ready_at, zone, DATE_TIME) if facts.ready_at else "criteria not met"),
        ]
    )
    flow.heading("During the session")
    for label, answer in (
        ("Sedation", facts.sedation),
        ("Dissociation", facts.dissociation),
        ("Respiratory depression", facts.respiratory_depression),
    ):
        flow.pairs([(label, f"{'YES' if answer.yes else 'NO'} ({answer.because})")])
    flow.heading("Signatures")
    prescribers = [u for u, (r, _) in data.staff.items() if r == "clinician"] or ["prescriber"]
    for user in prescribers:
        flow.signature("prescriber", user)
    printed = clock(data.now, zone, DATE_TIME)
    footer = f"ivmon REMS facts, session {s.id}, printed {printed}. Times: {zone_name(zone, s.started)}."
    return flow.pdf(footer)
