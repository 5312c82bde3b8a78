"""The service's seams are explicit: the engine and the shipped doubles fill them (mypy checks this file)."""

from __future__ import annotations

import pytest

from alerts.engine import AlarmEngine
from monitor.model import Phase, PhaseChange, Reading, Session, Vital
from monitor.pipeline import AlarmStage
from monitor.testing import NullAlarmStage, RecordingSink


def test_the_engine_and_the_null_stage_are_alarm_stages() -> None:
    stages: list[AlarmStage] = [AlarmEngine(), NullAlarmStage()]  # a missing method fails the type check
    session = Session(1, "chair-1", "P-1", Phase.BASELINE, 1000.0, phases=[PhaseChange(Phase.BASELINE, 1000.0, "n")])
    for stage in stages:
        stage.register_session(session)
        assert stage.restore([], 1000.0) == []
        assert stage.baseline(1, Vital.HR) is None
        assert isinstance(stage.session_rules(1), list)
        with pytest.raises(KeyError):
            stage.acknowledge("no-such-alarm", "nurse", 1000.0)


async def test_the_recording_sink_keeps_what_it_is_given() -> None:
    sink = RecordingSink()
    result = await sink.submit([Reading(Vital.HR, 70.0, "bpm", 1.0, "MON-1")], dedupe_key="k1")
    assert result.stored == 1 and sink.keys == ["k1"] and sink.readings[0].value == 70.0


def test_a_web_process_knows_the_clinic_rules_for_review() -> None:
    """The web's stand-in for the ingest's engine answers the clinic rules (a review of a session
    without its own override shows the rules it was judged by, not none)."""
    from alerts.rules import default_rules
    from monitor.live import LiveState
    from monitor.roles import RemoteAlarms

    rules = default_rules()
    alarms: AlarmStage = RemoteAlarms(LiveState(), rules)
    assert alarms.session_rules(7) == rules and alarms.rules == rules
    alarms.set_session_rules(7, rules[:1])
    assert alarms.session_rules(7) == rules[:1] and alarms.session_rules(8) == rules
