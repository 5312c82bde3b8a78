"""Alarm statistics for the clinic's alarm committee (Joint Commission NPSG.06.01.01 asks for them).

Computed with pandas from stored alarms (and, optionally, their state
changes), grouped by session, rule, bed or day. Technical, device and
physiological alarms are always kept apart (``kind`` is part of every group).

Per group:
* ``count``: alarms started;
* ``total_duration_s``: summed time from start to end (to ``now`` if still open);
* ``acknowledged_share``, ``median_ack_s``, ``mean_ack_s``: how many were
  acknowledged and how long that took from the start;
* ``self_resolved_share``: alarms that ended by themselves, unacknowledged,
  within ``window_s`` of their start: the ones a further condition delay of
  ``window_s`` would have suppressed (the nuisance share a committee weighs
  against the extra time to notice);
* ``escalated``: how many were escalated;
* ``answered``, ``actionable`` and ``actionable_share``: how many got the one-tap answer to "was it
  actionable?", how many of those said yes, and that share of the answered ones (None: none answered).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from monitor.model import Alarm, AlarmChange
from monitor.store.alarms import ALARM_DTYPES

GroupBy = Literal["session", "rule", "bed", "day"]
_COLUMN = {"session": "session_id", "rule": "rule_id", "bed": "bed", "day": "day"}
COLUMNS = (
    "count",
    "total_duration_s",
    "acknowledged_share",
    "median_ack_s",
    "mean_ack_s",
    "self_resolved_share",
    "escalated",
    "answered",
    "actionable",
    "actionable_share",
)


def alarm_frame(
    alarms: Iterable[Alarm], changes: Iterable[AlarmChange] = (), *, now: float | None = None, tz: str = "UTC"
) -> pd.DataFrame:
    """One row per alarm, with acknowledgement and escalation taken from the changes where given."""
    first_ack: dict[str, float] = {}
    escalated: set[str] = set()
    for ch in changes:
        if ch.transition == "acknowledged":
            first_ack[ch.alarm.id] = min(ch.ts, first_ack.get(ch.alarm.id, ch.ts))
        elif ch.transition == "escalated":
            escalated.add(ch.alarm.id)
    rows = []
    for a in alarms:
        ack = first_ack.get(a.id, a.acknowledged_at)
        rows.append(
            {
                "id": a.id,
                "kind": a.kind.value,
                "rule_id": a.rule_id,
                "bed": a.bed,
                "session_id": a.session_id,
                "priority": a.priority.value,
                "started": a.started,
                "ended": a.ended,
                "acknowledged_at": ack,
                "escalated": a.escalated or a.id in escalated,
                "actionable": a.actionable,
                "rule_set_version": a.rule_set_version,
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "id",
            "kind",
            "rule_id",
            "bed",
            "session_id",
            "priority",
            "started",
            "ended",
            "acknowledged_at",
            "escalated",
            "actionable",
            "rule_set_version",
        ],
    )
    frame = frame.astype(ALARM_DTYPES)
    end = frame["ended"]
    if now is not None:
        end = end.fillna(now)
    frame["duration_s"] = end - frame["started"]
    frame["ack_s"] = frame["acknowledged_at"] - frame["started"]
    frame["day"] = pd.to_datetime(frame["started"], unit="s", utc=True).dt.tz_convert(tz).dt.strftime("%Y-%m-%d")
    return frame


def alarm_stats(
    alarms: Sequence[Alarm] | pd.DataFrame,
    by: GroupBy = "rule",
    changes: Iterable[AlarmChange] = (),
    *,
    window_s: float = 15.0,
    now: float | None = None,
    tz: str = "UTC",
) -> pd.DataFrame:
    """Statistics per ``by`` (and per kind), one row per group, sorted by kind then group."""
    if by not in _COLUMN:
        raise ValueError(f"group by one of {', '.join(_COLUMN)}, not {by!r}")
    frame = alarms if isinstance(alarms, pd.DataFrame) else alarm_frame(alarms, changes, now=now, tz=tz)
    key = _COLUMN[by]
    frame = frame.assign(
        acked=frame["acknowledged_at"].notna(),
        self_resolved=frame["ended"].notna()
        & frame["acknowledged_at"].isna()
        & (frame["ended"] - frame["started"] <= window_s),
        group=frame[key].astype(object).where(frame[key].notna(), "(none)"),
        answered=frame["actionable"].notna(),
        said_actionable=frame["actionable"].fillna(False).astype(bool),
    )
    grouped = frame.groupby(["kind", "group"], sort=True, dropna=False)
    out = pd.DataFrame(
        {
            "count": grouped.size(),
            "total_duration_s": grouped["duration_s"].sum(min_count=1),
            "acknowledged_share": grouped["acked"].mean(),
            "median_ack_s": grouped["ack_s"].median(),
            "mean_ack_s": grouped["ack_s"].mean(),
            "self_resolved_share": grouped["self_resolved"].mean(),
            "escalated": grouped["escalated"].sum(),
            "answered": grouped["answered"].sum(),
            "actionable": grouped["said_actionable"].sum(),
        }
    )
    out["actionable_share"] = (out["actionable"] / out["answered"]).where(out["answered"] > 0)
    out.index = out.index.set_names(["kind", by])
    return out.reset_index().replace({np.nan: None})
