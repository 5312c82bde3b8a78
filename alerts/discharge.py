"""Discharge readiness (spec/alarms.md): advisory, shown on the recovery tile, never automatic.

Ready when all hold (the figures are the session protocol's ``[discharge]`` criteria,
``monitor.protocols.DischargeCriteria``; these are the defaults): at least 30 min since
the infusion stopped; the last two NIBP readings with sbp and dbp within 20 % of
baseline; hr within 20 % of baseline (median of the last 5 min); spo2 >= 92 % (median
of the last 5 min); no active alarm. Each unmet criterion comes back as a reason. The
nurse still confirms the escort home, and discharging before the criteria are met
needs a reason and who decided (dashboard/api/sessions.py).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from monitor.model import Alarm, AlarmState, Phase, Quality, Reading, Session, Vital
from monitor.protocols import DischargeCriteria

WINDOW_S = 5 * 60.0
#: The criteria of a session without a protocol.
DEFAULT_CRITERIA = DischargeCriteria()


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)  # the criteria not yet met, in the spec's order


def _within(value: float, base: float, pct: float) -> bool:
    return abs(value - base) <= pct / 100.0 * abs(base)


def discharge_readiness(
    session: Session,
    baseline: Mapping[Vital, float | None],
    readings: Iterable[Reading],
    now: float,
    alarms: Iterable[Alarm] = (),
    criteria: DischargeCriteria = DEFAULT_CRITERIA,
) -> Readiness:
    """Readiness of ``session`` at ``now`` from its baseline, its recent readings and its bed's alarms."""
    reasons: list[str] = []
    stopped = session.phase_started(Phase.RECOVERY)
    minimum = criteria.min_recovery_min
    bp_pct, hr_pct = criteria.bp_within_pct, criteria.hr_within_pct
    if stopped is None:
        reasons.append("infusion not stopped yet")
    elif now - stopped < minimum * 60.0:
        reasons.append(f"{(now - stopped) / 60:.0f} of {minimum:g} min since the infusion stopped")
    valid = sorted((r for r in readings if r.quality == Quality.VALID and r.ts <= now), key=lambda r: r.ts)
    sbp = {r.ts: r.value for r in valid if r.vital == Vital.SBP}
    dbp = {r.ts: r.value for r in valid if r.vital == Vital.DBP}
    pairs = [(t, sbp[t], dbp[t]) for t in sorted(sbp) if t in dbp][-2:]
    base_s, base_d = baseline.get(Vital.SBP), baseline.get(Vital.DBP)
    if base_s is None or base_d is None:
        reasons.append("no blood-pressure baseline")
    elif len(pairs) < 2:
        reasons.append("fewer than two NIBP readings")
    elif not all(_within(s, base_s, bp_pct) and _within(d, base_d, bp_pct) for _, s, d in pairs):
        reasons.append(f"last two NIBP not within {bp_pct:g} % of baseline {base_s:.0f}/{base_d:.0f}")
    recent = [r for r in valid if r.ts >= now - WINDOW_S]
    hr = [r.value for r in recent if r.vital == Vital.HR] or [r.value for r in recent if r.vital == Vital.PR]
    base_hr = baseline.get(Vital.HR)
    if base_hr is None:
        reasons.append("no heart-rate baseline")
    elif not hr:
        reasons.append("no heart rate in the last 5 min")
    elif not _within(statistics.median(hr), base_hr, hr_pct):
        reasons.append(f"heart rate {statistics.median(hr):.0f} not within {hr_pct:g} % of baseline {base_hr:.0f}")
    spo2 = [r.value for r in recent if r.vital == Vital.SPO2]
    if not spo2:
        reasons.append("no SpO2 in the last 5 min")
    elif statistics.median(spo2) < criteria.min_spo2:
        reasons.append(f"SpO2 {statistics.median(spo2):.0f} % below {criteria.min_spo2:g} %")
    active = [
        a
        for a in alarms
        if a.state != AlarmState.RESOLVED
        and (a.session_id == session.id or (a.session_id is None and a.bed == session.bed))
    ]
    if active and criteria.no_active_alarms:
        reasons.append(f"{len(active)} active alarm(s)")
    return Readiness(not reasons, tuple(reasons))
