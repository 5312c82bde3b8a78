"""Users' actions as typed commands: the codec, and the local runner over a real engine and store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.commands import (
    Acknowledge,
    AssociateDevice,
    ChangePhase,
    ClaimReadings,
    Command,
    CommandFailed,
    CommandResult,
    Publish,
    ReleaseDevice,
    Silence,
    StartSession,
    decode_command,
    decode_result,
    encode_command,
    encode_result,
)
from monitor.config import load_settings
from monitor.model import AlarmState, Phase, Reading, Vital
from monitor.service import Service, build_service
from monitor.testing import FakeClock

EVERY_COMMAND: list[Command] = [
    Acknowledge(alarm="a1"),
    Silence(alarm="a1", seconds=30.0),
    Silence(alarm="a1"),
    StartSession(bed="chair-1", patient_ref="P-1", weight_kg=70.0, dose_mg=35.0, rate_mg_per_h=52.5),
    ChangePhase(session=4, phase=Phase.ABORTED, reason="patient request"),
    AssociateDevice(bed="chair-1", device="MON-1", claim_from=1000.0),
    ReleaseDevice(bed="chair-1", device="MON-1"),
    ClaimReadings(bed="chair-1", device="MON-1", since=900.0),
    Publish(event={"type": "note", "session": 4, "text": "ok"}),
]


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=lambda c: c.kind)
def test_every_command_survives_the_codec(command: Command) -> None:
    kind, payload = encode_command(command)
    assert kind == command.kind and "kind" not in payload
    assert decode_command(kind, payload) == command


@pytest.mark.parametrize(
    ("kind", "payload", "why"),
    [
        ("shutdown", {}, "shutdown"),
        ("silence", {"alarm": "a1", "seconds": "soon"}, "seconds"),
        ("session_phase", {"session": 1, "phase": "asleep"}, "phase"),
        ("acknowledge", {}, "alarm"),
        ("acknowledge", ["a1"], "not an object"),
    ],
)
def test_a_malformed_command_is_refused_with_400(kind: str, payload: object, why: str) -> None:
    with pytest.raises(CommandFailed) as refused:
        decode_command(kind, payload)
    assert refused.value.status == 400 and why in str(refused.value)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    settings = load_settings(
        db_url=f"sqlite:///{tmp_path / 'ivmon.db'}", data_dir=tmp_path, beds={"chair-1": "C1"}, writer_process=False
    )
    svc = build_service(settings, clock=FakeClock(10_000.0))
    yield svc
    svc.engine.dispose()


async def test_local_commands_run_on_the_engine_and_answer_with_the_change(service: Service) -> None:
    svc = service
    svc.writer.start()
    try:
        started = await svc.commands.run(StartSession(bed="chair-1", patient_ref="P-1"), "nurse")
        assert started.session is not None and started.session.bed == "chair-1"
        now = svc.clock.now()
        await svc.pipeline.submit([Reading(Vital.SPO2, 80.0, "%", now + i, "MON-1", bed="chair-1") for i in range(30)])
        alarm = next(a for a in svc.live.alarms.values() if a.vital is Vital.SPO2)

        result = await svc.commands.run(Acknowledge(alarm=alarm.id), "nurse")
        [change] = result.changes
        assert change.transition == "acknowledged" and change.user == "nurse"
        assert svc.live.alarms[alarm.id].state is AlarmState.ACKNOWLEDGED
        # What the ingest answers a web process is the same result, through the codec.
        assert decode_result(encode_result(result)).changes[0].alarm.acknowledged_by == "nurse"

        with pytest.raises(CommandFailed) as unknown:
            await svc.commands.run(Silence(alarm="no-such-alarm"), "nurse")
        assert unknown.value.status == 404
        with pytest.raises(CommandFailed) as illegal:
            await svc.commands.run(ChangePhase(session=started.session.id, phase=Phase.DISCHARGED), "nurse")
        assert illegal.value.status == 409
    finally:
        await svc.writer.close()


def test_an_empty_result_survives_the_codec() -> None:
    assert decode_result(encode_result(CommandResult(seq=7))) == CommandResult(seq=7)
