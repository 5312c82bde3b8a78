"""The monthly alarm report as PDF and CSV (``GET /api/alarms/report.pdf|csv``, ``ivmon export alarms``).

The figures come from :mod:`alerts.committee`; this module gathers their inputs from the store and
lays them out along the elements of an alarm-safety policy (NPSG.06.01.01): 1 settings, 2 who may
change them, 3 response expected, 4 checks. The PDF uses the records' flowing layout
(``dashboard/records/flow.py``: every text made inert, nothing cut); the CSV is the long table
(``section, group, priority, metric, value``) with text cells made inert (``monitor/inert.py``).
"""

from __future__ import annotations

import math
from datetime import tzinfo
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from alerts.committee import AlarmReport, RuleSetChange, build_report, long_table
from dashboard.records.flow import Flow, clock, zone_name
from dashboard.review.exports import inert_text_columns
from monitor.config import Settings
from monitor.inert import inert_cell
from monitor.instants import parse_instant
from monitor.store import alarms as alarm_store
from monitor.store import rule_sets as rule_set_store
from monitor.store import sessions as session_store
from monitor.store.rule_sets import RuleSetRow

#: The longest period one report covers (a year: the committee's annual review).
MAX_DAYS = 366
#: Without a start: this many days up to the end.
DEFAULT_DAYS = 30


def report_period(from_text: str | None, to_text: str | None, now: float) -> tuple[float, float]:
    """[start, end) as a person typed them (POSIX seconds or ISO 8601); ValueError says what is wrong."""
    end = now if to_text is None else parse_instant(to_text)
    start = end - DEFAULT_DAYS * 86_400 if from_text is None else parse_instant(from_text)
    if not 0 < end - start <= MAX_DAYS * 86_400:
        raise ValueError(f"from before to, at most {MAX_DAYS} days apart")
    return start, end


def _change(row: RuleSetRow) -> RuleSetChange:
    return RuleSetChange(row.version, row.created, row.origin, row.author, row.note)


def gather(engine: Engine, settings: Settings, start: float, end: float, now: float) -> AlarmReport:
    """The report of [start, end) from what is stored (run in a worker thread)."""
    before = rule_set_store.versions(engine, None, start)
    return build_report(
        alarm_store.alarm_table(engine, start, end),
        session_store.session_chairs(engine, start, end),
        start=start,
        end=end,
        now=now,
        zone=settings.clinic.zone(),
        in_force_at_start=_change(before[-1]) if before else None,
        rule_set_changes=[_change(r) for r in rule_set_store.versions(engine, start, end)],
        override_changes=alarm_store.rule_override_changes(engine, start, end),
        escalate_after_s={"high": settings.alarms.escalate_high_s, "medium": settings.alarms.escalate_medium_s},
    )


def report_csv(report: AlarmReport) -> bytes:
    """Every figure as ``section, group, priority, metric, value`` rows (CRLF, RFC 4180), inert text."""
    frame = long_table(report)
    # Written as text here, numbers by str() (the shortest repr of a float): a mixed column handed back
    # to pandas would turn a count of 3 into 3.0. Only cells that were text are made inert.
    values = ["" if v is None else inert_cell(v) if isinstance(v, str) else str(v) for v in frame["value"]]
    frame = inert_text_columns(frame.drop(columns="value")).assign(value=pd.Series(values, dtype=object))
    return str(frame.to_csv(index=False, lineterminator="\r\n")).encode()


def _n(value: Any, digits: int = 1) -> str:
    """A figure as printed: "-" for none (no alarm, nothing answered), integers without decimals."""
    if value is None:
        return "-"
    number = float(value)
    if math.isnan(number):
        return "-"
    return f"{number:.0f}" if digits == 0 else f"{number:.{digits}f}"


def _pct(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * float(value):.0f} %"


def _dur(seconds: Any) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    m, s = divmod(round(float(seconds)), 60)
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m{s:02d}s"


def render_report_pdf(report: AlarmReport, settings: Settings) -> bytes:
    zone = settings.clinic.zone()
    period = f"{clock(report.start, zone)} to {clock(report.end, zone)}"
    flow = Flow(
        title="Alarm report for the alarm committee",
        header_left=f"{settings.clinic.name or 'ivmon'} · {period} ({zone_name(zone, report.start)})",
        header_right="NPSG.06.01.01",
    )
    t = report.totals
    flow.heading("Summary")
    flow.pairs(
        [
            ("Sessions", report.sessions),
            ("Chair-days", report.chair_days),
            (
                "Alarms (physiological / device / technical)",
                f"{t['alarms']} ({t['physiological']} / {t['device']} / {t['technical']})",
            ),
            ("Alarms per chair-day", _n(t["per_chair_day"])),
            ("Alarm-minutes", _n(t["alarm_minutes"])),
            ("Acknowledged", f"{t['acknowledged']} of {t['alarms']}"),
            ("Time to acknowledge, median / 90th pct", f"{_dur(t['median_ack_s'])} / {_dur(t['p90_ack_s'])}"),
            ("Escalated (unacknowledged in time)", t["escalated"]),
            ("Answered actionable or not", f"{t['answered']} of {t['alarms']}"),
            ("Actionable share (of answered)", _pct(t["actionable_share"])),
        ],
        key_width=44,
    )
    _settings_section(flow, report, zone)
    flow.heading("2. Who may change the settings")
    for line in report.policy:
        flow.text("- " + line, indent=0)
    flow.text("Session rule changes in the period, by user:")
    flow.table(["User", "Changes"], [[u, n] for u, n in report.override_changes], [40, 10])
    _response_section(flow, report)
    _checks_section(flow, report, zone)
    generated = clock(report.generated, zone)
    return flow.pdf(
        f"ivmon alarm report · {period} · as stored at {generated} · times in {zone_name(zone, report.end)}"
    )


def _settings_section(flow: Flow, report: AlarmReport, zone: tzinfo | None) -> None:
    flow.heading("1. Alarm settings: the clinic rule set and its changes")
    start = report.in_force_at_start
    if start is None:
        flow.text("In force when the period began: no stored version (alarms before versions were kept).")
    else:
        flow.text(
            f"In force when the period began: version {start.version}, {start.origin} by {start.author} "
            f"on {clock(start.created, zone)}."
        )
    rows = [[c.version, clock(c.created, zone), c.origin, c.author, c.note] for c in report.rule_set_changes]
    flow.text("Rule-set changes in the period:")
    flow.table(["Version", "When", "How", "Who", "Why"], rows, [8, 18, 12, 16, 50])
    if report.totals["unversioned"]:
        flow.text(f"{report.totals['unversioned']} alarm(s) raised before rule-set versions were recorded.")


def _response_section(flow: Flow, report: AlarmReport) -> None:
    flow.heading("3. Response expected and response given")
    limits = ", ".join(f"{p} after {_dur(s)}" for p, s in report.escalate_after_s.items())
    flow.text(f"An unacknowledged alarm escalates: {limits}. Low-priority alarms do not escalate.")
    rows = [
        [
            r.priority,
            _n(r.count, 0),
            _n(r.per_chair_day, 2),
            _pct(r.acknowledged_share),
            _dur(r.median_ack_s),
            _dur(r.p90_ack_s),
            _n(r.escalated, 0),
        ]
        for r in report.by_priority.itertuples(index=False)
    ]
    flow.table(
        ["Priority", "Alarms", "/chair-day", "Acked", "Median ack", "90th pct", "Escalated"],
        rows,
        [10, 9, 12, 9, 12, 12, 10],
    )


def _checks_section(flow: Flow, report: AlarmReport, zone: tzinfo | None) -> None:
    flow.heading("4. Checks: alarm load, actionability, causes")
    flow.text("Alarms per chair-day by rule and priority (physiological and device alarms):")
    rows = [
        [
            r.rule_id if r.kind == "physiological" else f"{r.kind}: {r.rule_id}",
            r.priority,
            _n(r.count, 0),
            _n(r.per_chair_day, 2),
            _n(r.alarm_minutes),
            f"{_n(r.answered, 0)} / {_pct(r.actionable_share)}",
            _dur(r.median_ack_s),
            _dur(r.p90_ack_s),
            _n(r.escalated, 0),
        ]
        for r in report.by_rule.itertuples(index=False)
    ]
    flow.table(
        ["Rule", "Priority", "Alarms", "/chair-day", "Minutes", "Answered/actionable", "Med. ack", "p90 ack", "Esc."],
        rows,
        [25, 9, 7, 11, 9, 20, 9, 9, 5],
    )
    flow.text("Top rules by alarm-minutes:")
    top = [
        [i, r.rule_id, r.priority, _n(r.count, 0), _n(r.alarm_minutes)]
        for i, r in enumerate(report.top_rules.itertuples(index=False), start=1)
    ]
    flow.table(["#", "Rule", "Priority", "Alarms", "Alarm-minutes"], top, [4, 40, 10, 10, 14])
    flow.text("Technical alarms by cause:")
    tech = [
        [r.cause, _n(r.count, 0), _n(r.alarm_minutes), _pct(r.acknowledged_share)]
        for r in report.technical.itertuples(index=False)
    ]
    flow.table(["Cause", "Alarms", "Alarm-minutes", "Acked"], tech, [40, 10, 16, 10])
