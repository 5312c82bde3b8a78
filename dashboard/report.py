"""The printable session report: a two-page PDF rendered server-side with matplotlib (Agg).

Page 1: session details, the three stacked charts (HR/PR, BP, SpO2) with the
phases shaded, infusion start/stop and alarm episodes, and the summary table.
Page 2: the alarm log and the event log (longest first cut to fit, saying so).
The data lines are rasterised (small files, fast to print); text stays text so
it can be searched and extracted.
"""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on a server

import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from alerts.rules import Rule
from dashboard.records.flow import inert_pdf_text
from dashboard.review.data import SessionRecord, phases_json, summary_of
from dashboard.review.exports import UNITS, events_table
from monitor.model import Alarm

# Text in the report is data (notes, patient references, device ids): never parsed as mathtext, where
# "$...$" would be typeset or fail the whole report. Set once for the process: rc_context is not thread-safe.
matplotlib.rcParams["text.parse_math"] = False

# Font subsetting at save time logs every glyph at INFO: noise in the service log and on the CLI.
logging.getLogger("fontTools").setLevel(logging.WARNING)

A4 = (8.27, 11.69)
PHASE_COLOURS = {"baseline": "#dbe9f6", "infusion": "#fde2c8", "recovery": "#dff3df"}
PRIORITY_COLOURS = {"high": "#d7263d", "medium": "#e0a800", "low": "#2ec4d6"}
PANELS: list[tuple[str, list[tuple[str, str, str]]]] = [
    ("HR / PR (bpm)", [("hr", "HR", "#c0392b"), ("pr", "PR", "#8e44ad")]),
    ("BP (mmHg)", [("sbp", "Systolic", "#1f4e79"), ("dbp", "Diastolic", "#2e86c1"), ("map", "Mean", "#7f8c8d")]),
    ("SpO2 (%)", [("spo2", "SpO2", "#117a65")]),
]
MAX_LOG_ROWS = 50


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _x(ts: Any) -> Any:
    """POSIX seconds -> matplotlib date numbers (days since 1970, UTC); vectorised for arrays."""
    return ts / 86400.0


def _fmt_time(ts: float | None) -> str:
    return "-" if ts is None else _dt(ts).strftime("%Y-%m-%d %H:%M:%S UTC")


def _hms(ts: float | None) -> str:
    return "-" if ts is None else _dt(ts).strftime("%H:%M:%S")


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(round(seconds), 60)
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m{s:02d}s"


def _num(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _charts(fig: Figure, record: SessionRecord, summary: Any, top: float, bottom: float) -> None:
    readings = record.readings
    valid = readings[readings["quality"] == "valid"]
    phases = phases_json(record, summary.ended)
    height = (top - bottom) / len(PANELS)
    axes: list[Axes] = []
    for i, (label, lines) in enumerate(PANELS):
        ax = fig.add_axes(
            (0.09, top - (i + 1) * height + 0.012, 0.86, height - 0.018), sharex=axes[0] if axes else None
        )
        axes.append(ax)
        for p in phases:
            ax.axvspan(_x(p["start"]), _x(p["end"]), color=PHASE_COLOURS.get(p["phase"], "#eeeeee"), lw=0)
        for vital, name, colour in lines:
            part = valid[valid["vital"] == vital]
            if part.empty:
                continue
            times = _x(part["ts"].to_numpy())
            nibp = vital in ("sbp", "dbp", "map")
            ax.plot(
                times,
                part["value"].to_numpy(),
                color=colour,
                lw=0.9,
                label=name,
                rasterized=True,
                marker="o" if nibp else None,
                ms=2.5,
            )
            base = summary.baselines.get(vital)
            if base is not None and vital != "map":
                ax.axhline(base, color=colour, lw=0.7, ls=":", alpha=0.8)
        vitals = {v for v, _, _ in lines}
        for a in record.alarms:
            if a.vital is None or a.vital.value not in vitals:
                continue
            end = a.ended if a.ended is not None else summary.ended
            ax.axvspan(
                _x(a.started),
                _x(max(end, a.started + 1)),
                ymin=0.92,
                ymax=1.0,
                color=PRIORITY_COLOURS.get(a.priority.value, "#999"),
                lw=0,
            )
        for ts in (summary.infusion_start, summary.infusion_stop):
            if ts is not None:
                ax.axvline(_x(ts), color="#333", lw=0.8, ls="--")
        ax.set_ylabel(label, fontsize=7)
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3, lw=0.4)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="upper right", ncol=3, framealpha=0.7)
        if i < len(PANELS) - 1:
            ax.tick_params(labelbottom=False)
    axes[-1].xaxis.set_major_locator(mdates.AutoDateLocator(tz=UTC))  # type: ignore[no-untyped-call]
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=UTC))  # type: ignore[no-untyped-call]
    axes[-1].set_xlabel("time (UTC)", fontsize=6)
    fig.text(
        0.09,
        bottom - 0.035,
        "Shaded: baseline blue, infusion orange, recovery green. Bars at the top: alarm "
        "episodes (red high, yellow medium, cyan low).\nDashed: infusion start/stop. Dotted: baseline.",
        fontsize=6,
        color="#444",
        va="top",
    )


def _table(fig: Figure, rows: list[list[str]], top: float, col_x: list[float], size: float = 6.5) -> float:
    y = top
    for r, row in enumerate(rows):
        for x, cell in zip(col_x, row, strict=False):
            text = inert_pdf_text(cell)
            fig.text(x, y, text, fontsize=size, weight="bold" if r == 0 else "normal", va="top", family="DejaVu Sans")
        y -= 0.0155 * size / 6.5
    return y


def render_report(record: SessionRecord, rules: list[Rule], now: float) -> bytes:
    """``now`` (the service's clock) ends a session still open."""
    """The report as PDF bytes."""
    s = record.session
    out = io.BytesIO()
    meta = {
        "Title": f"ivmon session {s.id} report",
        "Subject": f"Session {s.id}, {s.bed}, patient {s.patient_ref}",
        "Creator": "ivmon",
    }
    with PdfPages(out, metadata=meta) as pdf:
        for fig in report_pages(record, rules, now):
            pdf.savefig(fig)
    return out.getvalue()


def report_pages(record: SessionRecord, rules: list[Rule], now: float) -> list[Figure]:
    """The report's pages as matplotlib figures (A4 portrait)."""
    summary = summary_of(record, rules, now)
    s = record.session
    pages: list[Figure] = []
    fig = Figure(figsize=A4)
    fig.text(0.06, 0.965, f"ivmon · infusion session {s.id} review", fontsize=13, weight="bold")
    details = [
        f"Chair: {s.bed}    Patient reference: {s.patient_ref}    Phase: {s.phase.value}",
        f"Started: {_fmt_time(s.started)}    Ended: {_fmt_time(record.closed_at)}    "
        f"Duration: {_dur(summary.duration_s)}",
        f"Dose: {_num(s.dose_mg, 1)} mg    Rate: {_num(s.rate_mg_per_h, 1)} mg/h    "
        f"Weight: {_num(s.weight_kg, 1)} kg    Infusion: {_hms(summary.infusion_start)} - "
        f"{_hms(summary.infusion_stop)} UTC",
    ]
    for i, line in enumerate(details):
        fig.text(0.06, 0.94 - i * 0.016, inert_pdf_text(line), fontsize=7.5)
    _charts(fig, record, summary, top=0.88, bottom=0.43)
    b = summary.baselines
    peak = summary.peaks
    rows = [
        ["Figure", "Value", "Figure", "Value"],
        ["Baseline HR", f"{_num(b.get('hr'))} bpm", "Peak HR", _peak(peak, "hr", "bpm")],
        ["Baseline BP", f"{_num(b.get('sbp'))}/{_num(b.get('dbp'))} mmHg", "Peak systolic", _peak(peak, "sbp", "mmHg")],
        [
            "Peak systolic rise",
            f"{_num(summary.peak_sbp_rise)} mmHg at {_hms(summary.peak_sbp_rise_ts)}",
            "Peak diastolic rise",
            f"{_num(summary.peak_dbp_rise)} mmHg at {_hms(summary.peak_dbp_rise_ts)}",
        ],
        ["Baseline SpO2", f"{_num(b.get('spo2'))} %", "Lowest SpO2", _peak(summary.lows, "spo2", "%")],
        [
            "Time SpO2 < 94 %",
            _dur(summary.spo2_below_s.get("94")),
            "Time SpO2 < 90 %",
            _dur(summary.spo2_below_s.get("90")),
        ],
        [
            "Alarms high/medium/low",
            "{high}/{medium}/{low}".format(**summary.alarm_counts),
            "Technical alarms",
            str(summary.alarm_counts["technical"]),
        ],
        ["Discharge-ready at", _hms(summary.discharge_ready_ts), "Time to readiness", _dur(summary.time_to_ready_s)],
    ]
    for lt in summary.bp_limits:
        if lt.seconds > 0:
            rows.append([f"Time {lt.vital} {lt.op} {lt.limit:g} ({lt.rule_id})", _dur(lt.seconds), "", ""])
    fig.text(
        0.06,
        0.355,
        "Summary (sample-and-hold of valid readings; see the review page for definitions)",
        fontsize=8,
        weight="bold",
    )
    y = _table(fig, rows[:18], 0.335, [0.06, 0.30, 0.52, 0.76])
    if summary.adverse_notes:
        fig.text(
            0.06,
            y - 0.01,
            inert_pdf_text(
                "Adverse events: " + "; ".join(f"{_hms(n['ts'])} {n['text']}" for n in summary.adverse_notes)[:160]
            ),
            fontsize=7,
            color="#a00",
        )
    pages.append(fig)

    fig = Figure(figsize=A4)
    fig.text(0.06, 0.965, f"Session {s.id} · alarm and event log", fontsize=12, weight="bold")
    alarm_rows = [["Start", "End", "Rule", "Priority", "Worst", "Acknowledged", "After"]]
    for a in record.alarms:
        wait = None if a.acknowledged_at is None else a.acknowledged_at - a.started
        alarm_rows.append(
            [
                _hms(a.started),
                _hms(a.ended),
                a.rule_id[:22],
                a.priority.value,
                _worst(a),
                f"{_hms(a.acknowledged_at)} {a.acknowledged_by or ''}".strip() or (a.filed or ""),
                _dur(wait),
            ]
        )
    shown = alarm_rows[: MAX_LOG_ROWS // 2]
    y = _table(fig, shown, 0.93, [0.06, 0.16, 0.26, 0.47, 0.57, 0.66, 0.86])
    if len(alarm_rows) > len(shown):
        fig.text(0.06, y, f"... {len(alarm_rows) - len(shown)} more alarms in the alarm export", fontsize=6.5)
        y -= 0.016
    events = events_table(s, record.notes, record.devices, [], [])
    event_rows = [["Time", "Kind", "What", "User", "Detail"]]
    for e in events.itertuples():
        event_rows.append([_hms(e.epoch_s), str(e.kind), str(e.what), str(e.user or ""), str(e.detail)[:60]])
    fig.text(0.06, y - 0.02, "Events (phases, notes, device states)", fontsize=8, weight="bold")
    room = max(3, int((y - 0.06) / 0.0155))
    shown = event_rows[:room]
    y = _table(fig, shown, y - 0.04, [0.06, 0.16, 0.26, 0.40, 0.52])
    if len(event_rows) > len(shown):
        fig.text(0.06, y, f"... {len(event_rows) - len(shown)} more events in the event export", fontsize=6.5)
    fig.text(
        0.06,
        0.02,
        f"Generated {_fmt_time(float(np.floor(datetime.now(UTC).timestamp())))} by ivmon. Times in UTC.",
        fontsize=6,
        color="#555",
    )
    pages.append(fig)
    return pages


def _peak(extremes: dict[str, Any], vital: str, unit: str) -> str:
    e = extremes.get(vital)
    return "-" if e is None else f"{e.value:g} {unit} at {_hms(e.ts)}"


def _worst(alarm: Alarm) -> str:
    """The worst value with its unit ("82 %", "178 mmHg"), marked when the reading was doubtful."""
    if alarm.worst is None:
        return "-"
    unit = UNITS.get(alarm.vital.value, "") if alarm.vital else ""
    return f"{_num(alarm.worst, 0)} {unit}".strip() + (" ?" if alarm.doubtful else "")
