"""The alarm limits in force at a chair, small beside each number on its tile.

For each vital, the lower and the upper limit nearest to normal among the rules that apply now
(the session's rules in its phase, or the always-on rules of a chair without a session), with
relative limits resolved against the session's baseline.
"""

from __future__ import annotations

from alerts.replay import scope_name
from monitor.model import Session
from monitor.pipeline import AlarmStage

Limits = dict[str, dict[str, float]]


def _round(value: float) -> float:
    return float(round(value)) if abs(value - round(value)) < 0.05 else round(value, 1)


def limits_of(alarms: AlarmStage, session: Session | None) -> Limits:
    """``{"spo2": {"low": 90}, "hr": {"low": 51, "high": 110}, ...}``; limits the rules in force give
    (a web process reads the baselines from storage once the infusion has started, monitor/roles.py)."""
    sid = session.id if session is not None else None
    scope = scope_name(session.phase if session is not None else None)
    out: Limits = {}
    for rule in alarms.session_rules(sid):
        if scope not in rule.phases:
            continue
        limit = rule.limit_for(alarms.baseline(sid, rule.vital) if sid is not None else None)
        if limit is None:
            continue
        side = "high" if rule.upper else "low"
        per = out.setdefault(rule.vital.value, {})
        held = per.get(side)
        # The limit nearest to normal is the one a value crosses first.
        if held is None or (limit < held if side == "high" else limit > held):
            per[side] = _round(limit)
    return out
