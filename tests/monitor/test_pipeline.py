"""The pipeline with its real collaborators: SQLite, the batched writer, the alarm engine, the bus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, select

from alerts.engine import AlarmEngine
from monitor.bus import InMemoryBus
from monitor.live import LiveState
from monitor.model import AlarmChange, DeviceState, DeviceStatus, Phase, Quality, Reading, Vital
from monitor.pipeline import Pipeline
from monitor.sessions import SessionError, SessionManager
from monitor.store import alarms as alarm_store
from monitor.store import audit as audit_store
from monitor.store import database, schema
from monitor.store.writer import BatchWriter


@dataclass
class Rig:
    engine: Engine
    pipeline: Pipeline
    sessions: SessionManager
    bus: InMemoryBus
    events: list[dict[str, object]]


@pytest.fixture
async def rig(sqlite_url: str) -> AsyncIterator[Rig]:
    engine = database.make_engine(sqlite_url)
    database.upgrade(engine)
    sessions = SessionManager(engine, bindings={"MON-7": "chair-7"})
    bus = InMemoryBus()
    events: list[dict[str, object]] = []
    bus.subscribe(events.append)
    writer = BatchWriter(engine, max_delay_s=0.005)
    writer.start()
    pipeline = Pipeline(writer=writer, sessions=sessions, judge=AlarmEngine(), publisher=bus, live=LiveState())
    yield Rig(engine, pipeline, sessions, bus, events)
    await writer.close()
    engine.dispose()


def stored(engine: Engine) -> list[tuple[str, float, str, str | None, int | None]]:
    c = schema.readings.c
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(c.vital, c.value, c.quality, c.bed_id, c.session_id))]


async def test_readings_are_normalised_bound_stored_and_published(rig: Rig) -> None:
    session = await rig.sessions.start("chair-7", "P-1", "nurse", ts=1000.0)
    result = await rig.pipeline.submit(
        [
            Reading(Vital.SBP, 16.0, "kPa", 1010.0, "MON-7"),
            Reading(Vital.SPO2, 0.97, "fraction", 1010.0, "MON-7"),
        ]
    )
    assert result.stored == 2 and result.rejected == 0
    rows = stored(rig.engine)
    assert ("spo2", 97.0, "valid", "chair-7", session.id) in rows
    [sbp] = [r for r in rows if r[0] == "sbp"]
    assert sbp[1] == pytest.approx(120.0, abs=0.01) and sbp[3] == "chair-7"
    readings = [e for e in rig.events if e["type"] == "reading"]
    assert readings[-1]["bed"] == "chair-7" and readings[-1]["session"] == session.id
    assert readings[-1]["vitals"] == {"sbp": pytest.approx(120.0, abs=0.01), "spo2": 97.0}


async def test_unknown_unit_or_vital_is_refused_counted_and_the_rest_kept(rig: Rig) -> None:
    result = await rig.pipeline.submit(
        [
            Reading(Vital.HR, 70.0, "furlongs", 5.0, "MON-7"),
            Reading("temp", 37.0, "Cel", 5.0, "MON-7"),  # type: ignore[arg-type]
            Reading(Vital.HR, 71.0, "bpm", 5.0, "MON-7"),
        ]
    )
    assert (result.stored, result.rejected) == (1, 2)
    assert any("unknown unit 'furlongs'" in e for e in result.errors)
    assert rig.pipeline.counts["rejected:unknown_unit"] == 1
    assert rig.pipeline.counts["rejected:unknown_vital"] == 1
    assert [r[1] for r in stored(rig.engine)] == [71.0]


async def test_unbound_device_is_stored_unassigned_and_shown(rig: Rig) -> None:
    await rig.pipeline.submit([Reading(Vital.SPO2, 95.0, "%", 50.0, "UNKNOWN-DEVICE")])
    assert stored(rig.engine) == [("spo2", 95.0, "valid", None, None)]
    assert rig.pipeline.live.sources["UNKNOWN-DEVICE"] is None
    assert rig.events[-1]["source"] == "UNKNOWN-DEVICE"


async def test_implausible_value_is_stored_invalid(rig: Rig) -> None:
    await rig.pipeline.submit([Reading(Vital.HR, 400.0, "bpm", 50.0, "MON-7")])
    assert stored(rig.engine) == [("hr", 400.0, Quality.INVALID.value, "chair-7", None)]


async def test_a_retransmission_is_acknowledged_but_stored_once(rig: Rig) -> None:
    items = [Reading(Vital.HR, 80.0, "bpm", 60.0, "MON-7")]
    first, again = await asyncio.gather(
        rig.pipeline.submit(items, dedupe_key="MON-7|0001"),
        rig.pipeline.submit([Reading(Vital.HR, 80.0, "bpm", 60.0, "MON-7")], dedupe_key="MON-7|0001"),
    )
    later = await rig.pipeline.submit([Reading(Vital.HR, 80.0, "bpm", 60.0, "MON-7")], dedupe_key="MON-7|0001")
    assert not first.duplicate and again.duplicate and later.duplicate
    assert len(stored(rig.engine)) == 1


async def test_phase_changes_follow_the_allowed_order_and_are_audited(rig: Rig) -> None:
    s = await rig.sessions.start("chair-1", "P-2", "nurse1", ts=100.0)
    with pytest.raises(SessionError, match="already has an open session"):
        await rig.sessions.start("chair-1", "P-3", "nurse1")
    with pytest.raises(SessionError, match="cannot go from baseline to recovery"):
        await rig.sessions.change_phase(s.id, Phase.RECOVERY, "nurse1")
    with pytest.raises(SessionError, match="needs a reason"):
        await rig.sessions.change_phase(s.id, Phase.ABORTED, "nurse1")
    await rig.sessions.change_phase(s.id, Phase.INFUSION, "nurse1", ts=700.0)
    await rig.sessions.change_phase(s.id, Phase.RECOVERY, "nurse2", ts=3100.0)
    await rig.sessions.change_phase(s.id, Phase.DISCHARGED, "nurse2", ts=5000.0)
    assert "chair-1" not in rig.sessions.open_by_bed
    audit = [(a["user"], a["action"], a["detail"].get("phase")) for a in reversed(audit_store.read_audit(rig.engine))]
    assert audit == [
        ("nurse1", "session_start", None),
        ("nurse1", "session_phase", "infusion"),
        ("nurse2", "session_phase", "recovery"),
        ("nurse2", "session_phase", "discharged"),
    ]
    assert [e["phase"] for e in rig.events if e["type"] == "session"] == [
        "baseline",
        "infusion",
        "recovery",
        "discharged",
    ]


async def test_reading_before_the_session_began_is_not_bound_to_it(rig: Rig) -> None:
    await rig.sessions.start("chair-7", "P-4", "nurse", ts=1000.0)
    await rig.pipeline.submit(
        [Reading(Vital.HR, 70.0, "bpm", 990.0, "MON-7"), Reading(Vital.HR, 71.0, "bpm", 1001.0, "MON-7")]
    )
    assert sorted((r[1], r[4]) for r in stored(rig.engine)) == [(70.0, None), (71.0, 1)]


async def test_device_status_is_stored_and_published(rig: Rig) -> None:
    await rig.pipeline.submit([DeviceStatus("MON-7", DeviceState.SENSOR_OFF, 10.0, vital=Vital.SPO2)])
    with rig.engine.connect() as conn:
        [(state, bed)] = conn.execute(select(schema.device_events.c.state, schema.device_events.c.bed_id)).all()
    assert (state, bed) == ("sensor_off", "chair-7")
    assert any(e["type"] == "device" and e["state"] == "sensor_off" for e in rig.events)


async def test_low_spo2_raises_a_stored_and_published_alarm(rig: Rig) -> None:
    await rig.sessions.start("chair-7", "P-5", "nurse", ts=1000.0)
    await rig.pipeline.submit([Reading(Vital.SPO2, 80.0, "%", 1001.0, "MON-7")])  # spo2-critical: no delay
    alarms = [e for e in rig.events if e["type"] == "alarm"]
    assert alarms and alarms[0]["alarm"]["priority"] == "high" and alarms[0]["alarm"]["bed"] == "chair-7"  # type: ignore[index]
    await rig.pipeline.writer.durable()
    assert any(a.rule_id == "spo2-critical" for a in alarm_store.open_alarms(rig.engine))


class _BrokenEngine(AlarmEngine):
    """The real engine with a judging bug, to see what the pipeline does around it."""

    def judge(self, readings: Sequence[Reading]) -> list[AlarmChange]:
        raise RuntimeError("bug in a rule")


async def test_a_judging_failure_still_stores_publishes_and_counts(rig: Rig) -> None:
    rig.pipeline.judge = _BrokenEngine()
    result = await rig.pipeline.submit([Reading(Vital.HR, 70.0, "bpm", 5.0, "MON-7")], dedupe_key="MON-7|9")
    assert result.stored == 1 and not result.duplicate
    assert [r[1] for r in stored(rig.engine)] == [70.0]
    assert rig.events[-1]["type"] == "reading"
    assert rig.pipeline.counts["judge_errors"] == 1
    again = await rig.pipeline.submit([Reading(Vital.HR, 70.0, "bpm", 5.0, "MON-7")], dedupe_key="MON-7|9")
    assert again.duplicate, "the message was stored: its resend is a duplicate"


async def test_an_overlong_device_id_is_refused_and_does_not_block_the_writer(rig: Rig) -> None:
    # On PostgreSQL such a row would fail every retry of the batch it is in, and everything after it.
    result = await rig.pipeline.submit(
        [
            Reading(Vital.HR, 70.0, "bpm", 5.0, "X" * 129),
            DeviceStatus("Y" * 200, DeviceState.SENSOR_OFF, 5.0),
            Reading(Vital.HR, 71.0, "bpm", 5.0, "MON-7"),
        ]
    )
    assert (result.stored, result.rejected) == (1, 2)
    assert rig.pipeline.counts["rejected:bad_source"] == 2
    assert [r[1] for r in stored(rig.engine)] == [71.0]
