"""A patient's course of treatment: every session (protocol, dose per kg, baseline and peak BP, alarms,
side effects, scale extremes) and the follow-up outcome scores over time, as JSON for the course page,
CSV (inert) and PDF (a chart of both over time, then the tables).

Session figures are the review's stored summaries (``session_summaries``; missing ones are computed
first, as the session list does); the dose given is :mod:`monitor.given_dose`'s.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from sqlalchemy import Engine

from dashboard.records.flow import NOT_RECORDED, Flow, clock, zone_name
from dashboard.records.infusion import clinic_line
from dashboard.review.data import fill_missing
from dashboard.review.exports import inert_text_columns
from monitor.config import ClinicSettings
from monitor.given_dose import given_dose
from monitor.pipeline import AlarmStage
from monitor.scales import ADVERSE_CATEGORIES, OUTCOME_SCALES
from monitor.store import outcomes as store
from monitor.store import sessions as session_store

#: Sessions of one patient in a course: more than a clinic gives in years (the query's bound).
MAX_SESSIONS = 500


def course(engine: Engine, alarm_stage: AlarmStage | None, patient_ref: str, now: float) -> dict[str, Any]:
    """The course as the API returns it (blocking: run in a thread)."""
    sessions = list(reversed(session_store.find_sessions(engine, patient_ref=patient_ref, limit=MAX_SESSIONS)))
    ids = [s.id for s in sessions]
    fill_missing(engine, alarm_stage, ids, now)
    figures = store.summaries_of(engine, ids)
    effects = store.side_effects(engine, ids)
    scales = store.assessment_extremes(engine, ids)
    entries = store.given_dose_entries(engine, ids)
    rows = []
    for s in sessions:
        f = figures.get(s.id, {})
        closed = next((c.ts for c in s.phases if not s.is_open and c.phase == s.phase), None)
        dose = given_dose(s, closed if closed is not None else now, entries.get(s.id))
        rows.append(
            {
                "id": s.id,
                "started": s.started,
                "ended": closed,
                "phase": s.phase.value,
                "bed": s.bed,
                "protocol": s.protocol,
                "weight_kg": s.weight_kg,
                "dose_mg": s.dose_mg,
                "dose_mg_per_kg": s.dose_mg_per_kg if s.dose_mg_per_kg is not None else dose.planned_mg_per_kg,
                "given_mg": dose.given_mg,
                "given_mg_per_kg": dose.given_mg_per_kg,
                "baseline_sbp": f.get("baseline_sbp"),
                "baseline_dbp": f.get("baseline_dbp"),
                "peak_sbp": f.get("peak_sbp"),
                "peak_sbp_rise": f.get("peak_sbp_rise"),
                "peak_dbp_rise": f.get("peak_dbp_rise"),
                "min_spo2": f.get("min_spo2"),
                "alarms": {k: f.get(f"alarms_{k}") for k in ("high", "medium", "low", "technical")},
                "side_effects": effects.get(s.id, {}),
                "assessments": scales.get(s.id, {}),
            }
        )
    outcomes = [
        {"id": o["id"], "scale": o["scale"], "score": o["score"], "date": o["date"], "user": o["user"]}
        for o in store.patient_outcomes(engine, patient_ref)
    ]
    return {
        "patient_ref": patient_ref,
        "sessions": rows,
        "outcomes": outcomes,
        "outcome_scales": [s.as_json() for s in OUTCOME_SCALES.values()],
        "adverse_categories": ADVERSE_CATEGORIES,
    }


def _effects_text(effects: dict[str, int]) -> str:
    return ", ".join(f"{ADVERSE_CATEGORIES.get(k, k)} x{n}" for k, n in sorted(effects.items())) or "none"


def _day(ts: float, zone: tzinfo | None) -> str:
    """The session's date in the clinic's zone (a session at 00:30 local time is on that local day)."""
    return datetime.fromtimestamp(ts, tz=UTC).astimezone(zone).date().isoformat()


def course_frame(c: dict[str, Any], zone: tzinfo | None) -> pd.DataFrame:
    """One row per session and per outcome score, by date: what the CSV holds."""
    rows: list[dict[str, Any]] = []
    for s in c["sessions"]:
        rows.append(
            {
                "date": _day(s["started"], zone),
                "kind": "session",
                "session": s["id"],
                "protocol": s["protocol"],
                "dose_mg_per_kg": s["dose_mg_per_kg"],
                "given_mg": s["given_mg"],
                "given_mg_per_kg": s["given_mg_per_kg"],
                "baseline_sbp_mmHg": s["baseline_sbp"],
                "baseline_dbp_mmHg": s["baseline_dbp"],
                "peak_sbp_mmHg": s["peak_sbp"],
                "peak_sbp_rise_mmHg": s["peak_sbp_rise"],
                "min_spo2_pct": s["min_spo2"],
                "alarms_high": s["alarms"]["high"],
                "alarms_medium": s["alarms"]["medium"],
                "alarms_low": s["alarms"]["low"],
                "side_effects": _effects_text(s["side_effects"]),
                "scale": None,
                "score": None,
            }
        )
    for o in c["outcomes"]:
        rows.append({"date": o["date"], "kind": "outcome", "scale": o["scale"], "score": o["score"]})
    frame = pd.DataFrame(rows, columns=list(rows[0]) if rows else ["date", "kind"])
    return frame.sort_values(["date", "kind"], kind="stable").reset_index(drop=True)


def course_csv(c: dict[str, Any], zone: tzinfo | None) -> bytes:
    """The course as CSV (text cells inert: a patient reference or protocol cannot run as a formula)."""
    frame = course_frame(c, zone)
    frame.insert(0, "patient_ref", c["patient_ref"])
    return str(inert_text_columns(frame).to_csv(index=False, lineterminator="\r\n")).encode()


def _days(days: list[date]) -> np.ndarray:
    """Dates as matplotlib's day numbers."""
    return np.array([mdates.date2num(d) for d in days], dtype=float)  # type: ignore[no-untyped-call]


def _chart(ax: Axes, c: dict[str, Any], zone: tzinfo | None) -> None:
    """Outcome scores (left axis) and each session's peak systolic rise (bars, right axis) over time."""
    for scale in OUTCOME_SCALES.values():
        points = [(date.fromisoformat(o["date"]), o["score"]) for o in c["outcomes"] if o["scale"] == scale.key]
        if points:
            ax.plot(_days([p[0] for p in points]), [p[1] for p in points], marker="o", lw=1.2, label=scale.title)
    ax.set_ylabel("outcome score", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.grid(alpha=0.3, lw=0.4)
    bars = [(date.fromisoformat(_day(s["started"], zone)), s["peak_sbp_rise"]) for s in c["sessions"]]
    bars = [(d, v) for d, v in bars if v is not None]
    twin = ax.twinx()
    if bars:
        twin.bar(
            _days([b[0] for b in bars]),
            [b[1] for b in bars],
            width=0.8,
            color="#e0a800",
            alpha=0.5,
            label="peak SBP rise",
        )
    twin.set_ylabel("peak systolic rise (mmHg)", fontsize=7)
    twin.tick_params(labelsize=6)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    if handles:
        ax.legend(handles=handles, fontsize=6, loc="upper right")


def render_course(c: dict[str, Any], clinic: ClinicSettings, now: float) -> bytes:
    zone = clinic.zone()
    flow = Flow("Course of treatment", clinic_line(clinic), f"Patient {c['patient_ref']}")
    flow.heading("Outcome scores and blood pressure response over time")
    flow.chart(lambda ax: _chart(ax, c, zone), 250.0)
    flow.heading("Sessions")
    rows = []
    for s in c["sessions"]:
        bp = "-" if s["baseline_sbp"] is None else f"{s['baseline_sbp']:.0f}/{(s['baseline_dbp'] or 0):.0f}"
        peak = "-" if s["peak_sbp"] is None else f"{s['peak_sbp']:.0f} (+{(s['peak_sbp_rise'] or 0):.0f})"
        per_kg = "-" if s["given_mg_per_kg"] is None else f"{s['given_mg_per_kg']:.2f}"
        planned = "-" if s["dose_mg_per_kg"] is None else f"{s['dose_mg_per_kg']:.2f}"
        alarms = "/".join(str(s["alarms"][k] if s["alarms"][k] is not None else "-") for k in ("high", "medium", "low"))
        rows.append(
            [
                clock(s["started"], zone, "%Y-%m-%d"),
                s["id"],
                s["protocol"] or "-",
                f"{planned}/{per_kg}",
                bp,
                peak,
                alarms,
                _effects_text(s["side_effects"]),
            ]
        )
    flow.table(
        ["Date", "Session", "Protocol", "mg/kg plan/given", "Base BP", "Peak SBP", "Alarms H/M/L", "Side effects"],
        rows,
        [11, 8, 24, 17, 9, 10, 13, 30],
    )
    flow.heading("Outcome scores")
    titles = {s.key: f"{s.title} (0-{s.high})" for s in OUTCOME_SCALES.values()}
    flow.table(
        ["Date", "Scale", "Score", "By"],
        [[o["date"], titles.get(o["scale"], o["scale"]), f"{o['score']:g}", o["user"]] for o in c["outcomes"]],
        [12, 30, 8, 30],
    )
    first = c["sessions"][0]["started"] if c["sessions"] else now
    footer = (
        f"ivmon course of treatment, printed {clock(now, zone, '%Y-%m-%d %H:%M')}. Times: {zone_name(zone, first)}."
    )
    if not c["sessions"] and not c["outcomes"]:
        flow.text(f"No sessions or outcome scores: {NOT_RECORDED}.")
    return flow.pdf(footer)
