"""Storage on SQLite and on the real PostgreSQL: migrations, the batched writer, repositories."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, select, text

from monitor.model import (
    Alarm,
    AlarmChange,
    AlarmKind,
    AlarmState,
    DeviceState,
    DeviceStatus,
    Phase,
    PhaseChange,
    Priority,
    Reading,
    Session,
    Vital,
)
from monitor.store import alarms as alarm_store
from monitor.store import audit as audit_store
from monitor.store import database, schema
from monitor.store import readings as reading_store
from monitor.store import sessions as session_store
from monitor.store.writer import BatchWriter, prune_keys, recent_keys


def test_migrations_are_idempotent(migrated_engine: Engine) -> None:
    database.upgrade(migrated_engine)  # second run: nothing to do, no error
    assert database.has_schema(migrated_engine)
    with migrated_engine.connect() as conn:
        head = ScriptDirectory.from_config(database.alembic_config(migrated_engine)).get_current_head()
        assert conn.scalar(text("select version_num from alembic_version")) == head


def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    engine = database.make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


async def test_writer_batches_many_submissions_into_few_commits(migrated_engine: Engine) -> None:
    writer = BatchWriter(migrated_engine, max_rows=100_000, max_delay_s=0.05)
    writer.start()
    futures = []
    for i in range(200):
        writer.add_readings([Reading(Vital.HR, 60.0 + i % 40, "bpm", 1000.0 + i, "dev-1", bed="chair-1")])
        futures.append(writer.durable())
    await asyncio.gather(*futures)
    await writer.close()
    assert reading_store.count_readings(migrated_engine) == 200
    assert writer.commits < 20, "readings must be written in batches, not one commit each"


async def test_durable_future_resolves_only_after_commit(migrated_engine: Engine) -> None:
    writer = BatchWriter(migrated_engine, max_delay_s=0.01)
    writer.start()
    writer.add_readings([Reading(Vital.SPO2, 97.0, "%", 5.0, "dev-2")])
    fut = writer.durable()
    assert reading_store.count_readings(migrated_engine) == 0  # nothing committed before the writer ran
    await fut
    assert reading_store.count_readings(migrated_engine) == 1
    await writer.close()


async def test_alarms_are_upserted_with_their_history(migrated_engine: Engine) -> None:
    writer = BatchWriter(migrated_engine, max_delay_s=0.01)
    writer.start()
    alarm = Alarm(
        "a1",
        "spo2-low",
        AlarmKind.PHYSIOLOGICAL,
        Priority.HIGH,
        "SpO2 low",
        10.0,
        bed="chair-1",
        vital=Vital.SPO2,
        value=88.0,
        worst=88.0,
        limit=90.0,
    )
    writer.add_alarm_changes([AlarmChange(alarm, "started", 10.0)])
    await writer.durable()
    acked = Alarm(
        **{
            **{f: getattr(alarm, f) for f in alarm.__slots__},
            "state": AlarmState.ACKNOWLEDGED,
            "acknowledged_by": "nurse",
            "acknowledged_at": 20.0,
            "worst": 86.0,
        }
    )
    writer.add_alarm_changes([AlarmChange(acked, "acknowledged", 20.0, "nurse")])
    await writer.durable()
    await writer.close()
    [stored] = alarm_store.open_alarms(migrated_engine)
    assert stored.state is AlarmState.ACKNOWLEDGED and stored.acknowledged_by == "nurse" and stored.worst == 86.0
    history = alarm_store.alarm_history(migrated_engine, ["a1"])
    assert [(h["transition"], h["user"]) for h in history] == [("started", None), ("acknowledged", "nurse")]


async def test_an_alarm_keeps_its_actionable_answer_and_rule_set_version(migrated_engine: Engine) -> None:
    writer = BatchWriter(migrated_engine, max_delay_s=0.01)
    writer.start()
    alarm = Alarm("a2", "hr-high", AlarmKind.PHYSIOLOGICAL, Priority.MEDIUM, "HR high", 10.0, bed="chair-1")
    alarm.rule_set_version = 3
    writer.add_alarm_changes([AlarmChange(alarm, "started", 10.0)])
    await writer.durable()
    [stored] = alarm_store.open_alarms(migrated_engine)
    assert stored.actionable is None and stored.rule_set_version == 3  # not answered yet
    alarm.actionable, alarm.state = False, AlarmState.ACKNOWLEDGED
    writer.add_alarm_changes([AlarmChange(alarm, "acknowledged", 20.0, "nurse")])
    await writer.durable()
    await writer.close()
    [stored] = alarm_store.open_alarms(migrated_engine)
    assert stored.actionable is False and stored.rule_set_version == 3


async def test_a_known_message_key_stores_its_readings_once(migrated_engine: Engine) -> None:
    """The database decides: a retransmission is dropped even when no memory of the key is left."""

    def one(value: float) -> list[Reading]:
        return [Reading(Vital.HR, value, "bpm", 100.0, "MONITOR-1", bed="chair-1")]

    writer = BatchWriter(migrated_engine, max_delay_s=0.01)
    writer.start()
    writer.add_readings(one(70.0), "MONITOR-1|MSG0001")
    writer.add_readings(one(70.0), "MONITOR-1|MSG0001")  # the same message twice in one batch
    writer.add_readings(one(71.0), "MONITOR-1|MSG0002")
    await writer.durable()
    writer.add_readings(one(70.0), "MONITOR-1|MSG0001")  # retransmitted in a later transaction
    await writer.durable()
    await writer.close()
    assert sorted(reading_store.values_from_source(migrated_engine, "MONITOR-1")) == [70.0, 71.0]
    assert writer.duplicates_skipped == 2
    assert list(recent_keys(migrated_engine, 0.0)) == ["MONITOR-1|MSG0001", "MONITOR-1|MSG0002"]


async def test_a_batch_whose_commit_reply_was_lost_is_stored_once_on_retry(
    migrated_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server committed, then the connection died before its reply (the outcome looked unknown).

    The retry must not store anything twice (keyed or not), nor fail forever on the events' seqs.
    """
    real_commit = migrated_engine.dialect.do_commit
    lost: list[bool] = []

    def commit_then_lose_the_reply(dbapi_connection: Any) -> None:
        real_commit(dbapi_connection)
        if not lost:
            lost.append(True)
            raise ConnectionResetError("connection lost before the COMMIT's reply")

    monkeypatch.setattr(migrated_engine.dialect, "do_commit", commit_then_lose_the_reply)
    writer = BatchWriter(migrated_engine, max_delay_s=0.01)
    writer.start()
    writer.add_readings([Reading(Vital.HR, 70.0, "bpm", 100.0, "MONITOR-1")], "MONITOR-1|MSG0001")
    writer.add_readings([Reading(Vital.HR, 71.0, "bpm", 101.0, "SERIAL-1")])  # no key: serial, simulator
    writer.add_status(DeviceStatus("SERIAL-1", DeviceState.CONNECTED, 100.0), None)
    writer.add_event(7, 100.0, "reading", "{}")
    await asyncio.wait_for(writer.durable(), 30)
    await writer.close()
    assert lost and writer.healthy and writer.commits == 1
    with migrated_engine.connect() as conn:
        counts = [conn.scalar(select(func.count()).select_from(t)) for t in (schema.device_events, schema.events)]
    assert reading_store.count_readings(migrated_engine) == 2 and counts == [1, 1]


async def test_a_message_key_longer_than_its_column_is_stored_and_still_deduplicated(
    migrated_engine: Engine,
) -> None:
    """MSH-3/4/10/7 are the sender's to fill: a key past the column width must not fail the batch."""
    long_key = "GATEWAY^" + "X" * 400 + "|MSG0001|20261125120000"
    writer = BatchWriter(migrated_engine, max_delay_s=0.01)
    writer.start()
    reading = [Reading(Vital.SPO2, 96.0, "%", 100.0, "MONITOR-9")]
    writer.add_readings(reading, long_key)
    await writer.durable()
    writer.add_readings(reading, long_key)  # retransmitted
    writer.add_readings([Reading(Vital.SPO2, 95.0, "%", 101.0, "MONITOR-9")], "MONITOR-9|MSG0002")
    await writer.durable()
    await writer.close()
    assert writer.healthy and writer.duplicates_skipped == 1
    assert reading_store.values_from_source(migrated_engine, "MONITOR-9") == [96.0, 95.0]
    assert all(len(key) <= 255 for key in recent_keys(migrated_engine, 0.0))


def test_old_message_keys_are_pruned(migrated_engine: Engine) -> None:
    with migrated_engine.begin() as conn:
        conn.execute(schema.ingest_keys.insert(), [{"key": "OLD|1", "ts": 100.0}, {"key": "NEW|2", "ts": 5000.0}])
    assert prune_keys(migrated_engine, older_than=1000.0) == 1
    assert list(recent_keys(migrated_engine, 0.0)) == ["NEW|2"]


def test_sessions_phases_notes_and_audit_round_trip(migrated_engine: Engine) -> None:
    s = Session(
        0,
        "chair-2",
        "P-0042",
        Phase.BASELINE,
        1000.0,
        weight_kg=80.0,
        dose_mg=40.0,
        phases=[PhaseChange(Phase.BASELINE, 1000.0, "nurse")],
    )
    sid = session_store.insert_session(migrated_engine, s, "nurse")
    session_store.record_phase(migrated_engine, sid, PhaseChange(Phase.INFUSION, 1600.0, "nurse"))
    [open_s] = session_store.open_sessions(migrated_engine)
    assert open_s.phase is Phase.INFUSION and [c.phase for c in open_s.phases] == [Phase.BASELINE, Phase.INFUSION]
    session_store.record_phase(migrated_engine, sid, PhaseChange(Phase.ABORTED, 1700.0, "nurse"), reason="nausea")
    assert session_store.open_sessions(migrated_engine) == []
    session_store.add_note(migrated_engine, sid, 1650.0, "nurse", "patient nauseous", "adverse")
    assert session_store.session_notes(migrated_engine, sid)[0]["kind"] == "adverse"
    assert [x.id for x in session_store.find_sessions(migrated_engine, patient_ref="P-0042")] == [sid]
    audit_store.write_audit(migrated_engine, "nurse", "session_phase", f"session:{sid}", {"phase": "aborted"})
    [entry] = audit_store.read_audit(migrated_engine)
    assert entry["user"] == "nurse" and entry["detail"] == {"phase": "aborted"}


def test_session_readings_come_back_in_time_order(migrated_engine: Engine) -> None:
    rows = [
        {
            "ts": 30.0,
            "vital": "hr",
            "value": 70.0,
            "unit": "bpm",
            "quality": "valid",
            "source": "d",
            "bed_id": "b",
            "session_id": 7,
        },
        {
            "ts": 10.0,
            "vital": "spo2",
            "value": 97.0,
            "unit": "%",
            "quality": "valid",
            "source": "d",
            "bed_id": "b",
            "session_id": 7,
        },
        {
            "ts": 20.0,
            "vital": "hr",
            "value": 71.0,
            "unit": "bpm",
            "quality": "valid",
            "source": "d",
            "bed_id": "b",
            "session_id": 8,
        },
    ]
    with migrated_engine.begin() as conn:
        conn.execute(schema.readings.insert(), rows)
        assert conn.scalar(select(func.count()).select_from(schema.readings)) == 3
    frame = reading_store.session_readings(migrated_engine, 7)
    assert frame["ts"].tolist() == [10.0, 30.0]
    assert reading_store.session_readings(migrated_engine, 7, vitals=["hr"])["value"].tolist() == [70.0]


@pytest.mark.postgres
def test_postgres_fixture_gives_a_real_server(postgres_url: str) -> None:
    engine = database.make_engine(postgres_url)
    with engine.connect() as conn:
        assert "PostgreSQL" in conn.scalar(text("select version()"))


def test_postgres_urls_get_the_driver_and_a_connect_timeout_unless_they_set_one() -> None:
    url = database.postgres_url("postgresql://ivmon@db.example/ivmon")
    assert url.drivername == "postgresql+psycopg"
    assert url.query["connect_timeout"] == str(database.PG_CONNECT_TIMEOUT_S)
    assert database.postgres_url("postgresql://ivmon@db.example/ivmon?connect_timeout=9").query == {
        "connect_timeout": "9"
    }
