"""The monthly alarm report's figures, for the clinic's alarm committee (vectorised with pandas).

Organised as the Joint Commission's NPSG.06.01.01 asks an alarm-safety policy to be: the settings
(the rule sets in force and their changes, session overrides), who may change them, the response
expected (time to acknowledge, escalations) and the checks (alarm load per chair-day by rule and
priority, the share the staff answered as actionable, technical alarms by cause, the rules that
sounded longest). Rendering is elsewhere (``dashboard/alarm_report.py``: PDF and CSV).

Definitions:
* a **chair-day** is one chair on one calendar day (clinic time zone) with at least one session that
  started then; alarms per chair-day divide by their count (none: "-", never a division by zero);
* **alarm-minutes**: from start to end, cut at the period's end (an alarm still open counts to ``now``);
* **time to acknowledge**: from start to acknowledgement, over the acknowledged alarms; the 90th
  percentile is numpy's linear one;
* the **actionable share** is over the answered alarms only (unanswered ones are counted apart).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

import numpy as np
import pandas as pd

from monitor.model import AlarmKind, Priority

#: The top of the "longest sounding" list.
TOP_RULES = 10
#: Who may change what, as the product enforces it (dashboard/api/rule_sets.py, dashboard/api/rules.py).
CHANGE_POLICY: tuple[str, ...] = (
    "Clinic rule set: admins only, by adopting a version (POST /api/rules/adopt); audited with who and when; "
    "every version kept with its text; in force at once for new alarms in every process.",
    "A session's rules (override for one patient): clinicians and admins; audited. The always-on clinic rules "
    "(those that also apply without a session) cannot be removed or loosened by an override.",
    "The configured rule file: whoever administers the server; an edited file is recorded as a new version "
    "at the next start.",
    "Acknowledge and audio pause: nurses, clinicians and admins; audited. The actionable answer is optional.",
)

_PRIORITIES = [p.value for p in Priority]


@dataclass(frozen=True, slots=True)
class RuleSetChange:
    version: int
    created: float
    origin: str
    author: str
    note: str


@dataclass(slots=True)
class AlarmReport:
    start: float
    end: float
    zone_name: str
    sessions: int
    chair_days: int
    #: the whole period (all kinds): alarms, per_chair_day, alarm_minutes, answered, actionable_share, ...
    totals: dict[str, Any]
    #: per kind, rule and priority (physiological and device alarms; technical ones are by cause)
    by_rule: pd.DataFrame
    #: per priority (all kinds): count, per chair-day, acknowledged share, median and p90 to acknowledge, escalated
    by_priority: pd.DataFrame
    #: technical alarms by cause (the rule id up to its first ':', e.g. ``unexpected-source``)
    technical: pd.DataFrame
    #: the TOP_RULES rules with the most alarm-minutes
    top_rules: pd.DataFrame
    #: the version in force when the period began (None: before versions), then each change in it
    in_force_at_start: RuleSetChange | None
    rule_set_changes: list[RuleSetChange]
    #: session rule changes in the period: (user, count)
    override_changes: list[tuple[str, int]]
    #: seconds after which an unacknowledged alarm escalates, per priority (the response expected)
    escalate_after_s: dict[str, float]
    #: when the figures were read (the clinical clock)
    generated: float
    policy: tuple[str, ...] = field(default=CHANGE_POLICY)


def chair_day_count(chairs: list[tuple[str, float]], zone: tzinfo | None) -> tuple[int, int]:
    """``(sessions, chair-days)`` of ``(bed, started)`` pairs."""
    if not chairs:
        return 0, 0
    frame = pd.DataFrame(chairs, columns=["bed", "started"])
    days = _local_days(frame["started"], zone)
    return len(frame), int(pd.MultiIndex.from_arrays([frame["bed"], days]).nunique())


def _local_days(epoch: pd.Series, zone: tzinfo | None) -> pd.Series:
    stamps = pd.to_datetime(epoch, unit="s", utc=True)
    if zone is not None:
        stamps = stamps.dt.tz_convert(zone)
    return stamps.dt.strftime("%Y-%m-%d")


def _prepared(alarms: pd.DataFrame, end: float, now: float) -> pd.DataFrame:
    """One row per alarm with its minutes, time to acknowledge and answer as plain columns."""
    until = alarms["ended"].fillna(min(now, end)).clip(upper=end)
    answered = alarms["actionable"].notna()
    return alarms.assign(
        alarm_min=((until - alarms["started"]).clip(lower=0.0) / 60.0).astype(float),
        ack_s=(alarms["acknowledged_at"] - alarms["started"]).astype(float),
        acked=alarms["acknowledged_at"].notna(),
        answered=answered,
        said_actionable=alarms["actionable"].fillna(False).astype(bool),
    )


def _summaries(grouped: Any, chair_days: int) -> pd.DataFrame:
    """The figures every table shares, one row per group."""
    out = pd.DataFrame(
        {
            "count": grouped.size(),
            "alarm_minutes": grouped["alarm_min"].sum(),
            "acknowledged": grouped["acked"].sum(),
            "median_ack_s": grouped["ack_s"].median(),
            "p90_ack_s": grouped["ack_s"].quantile(0.9),  # linear interpolation, as numpy's
            "escalated": grouped["escalated"].sum(),
            "answered": grouped["answered"].sum(),
            "actionable": grouped["said_actionable"].sum(),
        }
    )
    out["per_chair_day"] = out["count"] / chair_days if chair_days else np.nan
    out["acknowledged_share"] = out["acknowledged"] / out["count"]
    out["actionable_share"] = (out["actionable"] / out["answered"]).where(out["answered"] > 0)
    return out


def build_report(
    alarms: pd.DataFrame,
    chairs: list[tuple[str, float]],
    *,
    start: float,
    end: float,
    now: float,
    zone: tzinfo | None,
    in_force_at_start: RuleSetChange | None,
    rule_set_changes: list[RuleSetChange],
    override_changes: list[tuple[int, str, float, bool]],
    escalate_after_s: dict[str, float],
) -> AlarmReport:
    """The report of [start, end) from the alarms that started in it (``monitor.store.alarms.alarm_table``)."""
    sessions, chair_days = chair_day_count(chairs, zone)
    frame = _prepared(alarms, end, now)
    technical_kind = frame["kind"] == AlarmKind.TECHNICAL.value

    by_rule = _summaries(frame[~technical_kind].groupby(["kind", "rule_id", "priority"], sort=True), chair_days)
    by_rule = by_rule.reset_index().sort_values(["count", "rule_id"], ascending=[False, True], kind="stable")

    by_priority = _summaries(frame.groupby("priority"), chair_days).reindex(_PRIORITIES)
    by_priority["count"] = by_priority["count"].fillna(0).astype(int)
    by_priority = by_priority.reset_index()

    tech_rows = frame[technical_kind]
    causes = tech_rows.assign(cause=tech_rows["rule_id"].str.split(":", n=1).str[0])
    technical = _summaries(causes.groupby("cause", sort=True), chair_days).reset_index()
    technical = technical.sort_values(["count", "cause"], ascending=[False, True], kind="stable")

    minutes = (
        frame[~technical_kind]
        .groupby(["kind", "rule_id"], sort=True)
        .agg(count=("id", "size"), alarm_minutes=("alarm_min", "sum"), priority=("priority", "first"))
    )
    top = minutes.reset_index().sort_values(["alarm_minutes", "rule_id"], ascending=[False, True], kind="stable")

    answered = int(frame["answered"].sum())
    totals = {
        "alarms": len(frame),
        "physiological": int((frame["kind"] == AlarmKind.PHYSIOLOGICAL.value).sum()),
        "device": int((frame["kind"] == AlarmKind.DEVICE.value).sum()),
        "technical": int(technical_kind.sum()),
        "per_chair_day": len(frame) / chair_days if chair_days else None,
        "alarm_minutes": float(frame["alarm_min"].sum()),
        "acknowledged": int(frame["acked"].sum()),
        "median_ack_s": _none_if_nan(float(frame["ack_s"].median())) if len(frame) else None,
        "p90_ack_s": _none_if_nan(float(frame["ack_s"].quantile(0.9))) if len(frame) else None,
        "escalated": int(frame["escalated"].sum()),
        "answered": answered,
        "actionable": int(frame["said_actionable"].sum()),
        "actionable_share": float(frame["said_actionable"].sum()) / answered if answered else None,
        "unversioned": int(frame["rule_set_version"].isna().sum()),
    }
    per_user = pd.Series([user for _, user, _, _ in override_changes], dtype=object).value_counts().sort_index()
    return AlarmReport(
        start=start,
        end=end,
        zone_name=str(zone) if zone is not None else "server local time",
        sessions=sessions,
        chair_days=chair_days,
        totals=totals,
        by_rule=by_rule.reset_index(drop=True),
        by_priority=by_priority,
        technical=technical.reset_index(drop=True),
        top_rules=top.head(TOP_RULES).reset_index(drop=True),
        in_force_at_start=in_force_at_start,
        rule_set_changes=rule_set_changes,
        override_changes=[(str(user), int(n)) for user, n in per_user.items()],
        escalate_after_s=escalate_after_s,
        generated=now,
    )


def _none_if_nan(value: float) -> float | None:
    return None if np.isnan(value) else value


def long_table(report: AlarmReport) -> pd.DataFrame:
    """Every figure of the report as rows ``section, group, priority, metric, value`` (the CSV form)."""
    rows: list[tuple[str, str, str, str, Any]] = []
    window = (("from", report.start), ("to", report.end), ("sessions", report.sessions))
    for metric, value in (*window, ("chair_days", report.chair_days), *report.totals.items()):
        rows.append(("total", "", "", metric, value))
    metrics = ["count", "per_chair_day", "alarm_minutes", "acknowledged_share", "median_ack_s", "p90_ack_s"]
    metrics += ["escalated", "answered", "actionable", "actionable_share"]
    for r in report.by_priority.itertuples(index=False):
        rows += [("priority", str(r.priority), str(r.priority), m, getattr(r, m)) for m in metrics]
    for r in report.by_rule.itertuples(index=False):
        group = f"{r.kind}:{r.rule_id}" if r.kind != AlarmKind.PHYSIOLOGICAL.value else str(r.rule_id)
        rows += [("rule", group, str(r.priority), m, getattr(r, m)) for m in metrics]
    for r in report.technical.itertuples(index=False):
        rows += [
            ("technical", str(r.cause), "", m, getattr(r, m)) for m in ("count", "alarm_minutes", "acknowledged_share")
        ]
    for rank, r in enumerate(report.top_rules.itertuples(index=False), start=1):
        rows.append(("top_alarm_minutes", str(r.rule_id), str(r.priority), f"rank {rank}", r.alarm_minutes))
    changes = [c for c in [report.in_force_at_start] if c is not None] + report.rule_set_changes
    for i, change in enumerate(changes):
        section = "rule_set_in_force_at_start" if i == 0 and report.in_force_at_start is not None else "rule_set_change"
        for metric, value in (
            ("created", change.created),
            ("origin", change.origin),
            ("author", change.author),
            ("note", change.note),
        ):
            rows.append((section, f"version {change.version}", "", metric, value))
    for user, count in report.override_changes:
        rows.append(("session_rule_changes", user, "", "count", count))
    for priority, seconds in report.escalate_after_s.items():
        rows.append(("response_expected", "escalate_after_s", priority, "seconds", seconds))
    frame = pd.DataFrame([r[:4] for r in rows], columns=["section", "group", "priority", "metric"])
    # An object column built apart: in one frame with the text, pandas would read the count 3 as 3.0.
    frame["value"] = pd.Series([_plain(r[4]) for r in rows], dtype=object)
    return frame


def _plain(value: Any) -> Any:
    """numpy/pandas scalars as Python values; NaN and NA as empty."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value
