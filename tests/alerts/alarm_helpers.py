"""Small builders shared by the alarm tests (plain data, no mocks)."""

from __future__ import annotations

from alerts.engine import AlarmEngine
from alerts.rules import Rule, loads_rules
from monitor.model import AlarmChange, Phase, PhaseChange, Quality, Reading, Session, Vital

BED = "chair-1"


def rule(**fields: object) -> Rule:
    base: dict[str, object] = {"id": "r", "vital": "spo2", "op": "<", "limit": 90, "priority": "high"}
    base.update(fields)
    body = "\n".join(f"{k} = {_toml(v)}" for k, v in base.items() if v is not None)
    return loads_rules("[[rule]]\n" + body)[0]


def _toml(v: object) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return str(v)


def reading(
    vital: Vital | str,
    value: float,
    ts: float,
    *,
    session: int | None = 1,
    quality: Quality = Quality.VALID,
    bed: str | None = BED,
    source: str = "mon-1",
) -> Reading:
    return Reading(Vital(vital), value, "", ts, source, quality, bed, session)


def session(phases: list[tuple[Phase, float]], sid: int = 1, bed: str = BED) -> Session:
    changes = [PhaseChange(p, t, "nurse") for p, t in phases]
    return Session(id=sid, bed=bed, patient_ref="p", phase=changes[-1].phase, started=changes[0].ts, phases=changes)


class Feeder:
    """Drives an engine with one session whose phases change as the test says."""

    def __init__(self, engine: AlarmEngine, start: float = 0.0, phase: Phase = Phase.INFUSION) -> None:
        self.engine = engine
        self.session = Session(
            id=1, bed=BED, patient_ref="p", phase=phase, started=start, phases=[PhaseChange(phase, start, "nurse")]
        )
        engine.register_session(self.session)
        self.changes: list[AlarmChange] = []

    def phase(self, phase: Phase, ts: float) -> list[AlarmChange]:
        change = PhaseChange(phase, ts, "nurse")
        self.session.phase = phase
        self.session.phases.append(change)
        out = self.engine.on_phase(self.session, change)
        self.changes += out
        return out

    def feed(
        self,
        vital: Vital | str,
        values: list[float],
        start: float = 0.0,
        step: float = 1.0,
        quality: Quality = Quality.VALID,
    ) -> list[AlarmChange]:
        out: list[AlarmChange] = []
        for i, v in enumerate(values):
            t = start + i * step
            sid = (
                self.session.id
                if self.session.phase_at(t) in (Phase.BASELINE, Phase.INFUSION, Phase.RECOVERY)
                else None
            )
            out += self.engine.judge([reading(vital, v, t, session=sid, quality=quality)])
        self.changes += out
        return out


def transitions(changes: list[AlarmChange]) -> list[tuple[str, str, float]]:
    return [(c.alarm.rule_id, c.transition, c.ts) for c in changes]
