"""A data failure refuses one submission, never the queue (issue 13, item 1), on SQLite and PostgreSQL.

Before, a batch the database refused for its data (a value too long for its
column) was retried for ever: no commit for anyone again, and a shutdown that
never ended. Now the writer splits the batch until the offending submission is
alone, stores everything else, and refuses that one with the reason.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Engine, func, select

from monitor.model import Alarm, AlarmChange, AlarmKind, DataRefused, Priority, Reading, StorageUnavailable, Vital
from monitor.store import readings as reading_store
from monitor.store import schema
from monitor.store.failures import classify
from monitor.store.writer import BatchWriter


def hr(value: float, ts: float, source: str) -> Reading:
    return Reading(Vital.HR, value, "bpm", ts, source, bed="chair-1")


def bad_alarm(n: int) -> AlarmChange:
    """An alarm whose rule id is longer than its column (64): what a 100-character HL7 code made."""
    alarm = Alarm(f"bad-{n}", "device:" + "X" * 100, AlarmKind.DEVICE, Priority.MEDIUM, "evil", 1000.0)
    return AlarmChange(alarm, "started", 1000.0)


def null_rule_alarm(n: int) -> AlarmChange:
    """An alarm without a rule id: a NOT NULL violation on every database (SQLite ignores lengths)."""
    alarm = Alarm(f"null-{n}", None, AlarmKind.DEVICE, Priority.MEDIUM, "evil", 1000.0)  # type: ignore[arg-type]
    return AlarmChange(alarm, "started", 1000.0)


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(schema.metadata.tables[table])) or 0)


async def submit(writer: BatchWriter, n: int, *, bad: AlarmChange | None = None) -> asyncio.Future[None]:
    """One submission as the pipeline makes it: segment, rows, alarm changes, durable."""
    writer.segment()
    writer.add_readings([hr(60.0 + n % 30, 1000.0 + n, f"MON-{n}")], f"20261202|MON-{n}|C{n}")
    if bad is not None:
        writer.add_alarm_changes([bad])
    return writer.durable()


@pytest.mark.parametrize("separate_process", [False, True], ids=["thread", "process"])
async def test_one_refused_submission_among_many_is_refused_alone(
    migrated_engine: Engine, separate_process: bool
) -> None:
    bad = bad_alarm(1) if migrated_engine.dialect.name == "postgresql" else null_rule_alarm(1)
    writer = BatchWriter(migrated_engine, max_rows=100_000, max_delay_s=0.05, separate_process=separate_process)
    writer.start()
    try:
        futures = [await submit(writer, n, bad=bad if n == 37 else None) for n in range(100)]
        outcomes = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 60)
        refused = [n for n, o in enumerate(outcomes) if isinstance(o, DataRefused)]
        assert refused == [37]
        reason = str(outcomes[37])
        assert ("StringDataRightTruncation" in reason) or ("NOT NULL" in reason), reason
        assert all(o is None for n, o in enumerate(outcomes) if n != 37)
        # The queue moves on: the next submission commits.
        await asyncio.wait_for(await submit(writer, 1000), 30)
    finally:
        await writer.close()
    assert count(migrated_engine, "readings") == 100  # 99 + the one after; the refused one's reading is not
    assert 37 + 60.0 not in reading_store.values_from_source(migrated_engine, "MON-37")
    assert writer.refused_submissions == 1
    assert writer.healthy


async def test_rows_added_outside_a_submission_do_not_refuse_the_next_one(migrated_engine: Engine) -> None:
    """The alarm ticker's changes belong to no message: refused alone, the message after them stored."""
    bad = bad_alarm(2) if migrated_engine.dialect.name == "postgresql" else null_rule_alarm(2)
    writer = BatchWriter(migrated_engine, max_rows=100_000, max_delay_s=0.05)
    writer.start()
    try:
        first = await submit(writer, 1)
        writer.add_alarm_changes([bad])  # e.g. from the ticker, between two messages
        second = await submit(writer, 2)
        outcomes = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 30)
        assert list(outcomes) == [None, None]
    finally:
        await writer.close()
    assert count(migrated_engine, "readings") == 2
    assert writer.refused_submissions == 1


@pytest.mark.postgres
async def test_nul_in_a_device_id_is_refused_alone_on_postgresql(postgres_url: str) -> None:
    """PostgreSQL cannot store NUL in text: COPY fails with the driver's own (unwrapped) error."""
    from monitor.store import database

    engine = database.make_engine(postgres_url)
    database.upgrade(engine)
    writer = BatchWriter(engine, max_rows=100_000, max_delay_s=0.05)
    writer.start()
    try:
        writer.segment()
        writer.add_readings([hr(70.0, 1.0, "GOOD-1")])
        good = writer.durable()
        writer.segment()
        writer.add_readings([hr(70.0, 2.0, "EVIL\x00ID")])
        evil = writer.durable()
        outcomes = await asyncio.wait_for(asyncio.gather(good, evil, return_exceptions=True), 30)
    finally:
        await writer.close()
        engine.dispose()
    assert outcomes[0] is None
    assert isinstance(outcomes[1], DataRefused), outcomes[1]
    assert "NUL" in outcomes[1].reason


async def test_close_with_the_database_gone_refuses_what_waits_and_returns(tmp_path: object) -> None:
    """A writer that cannot commit stops within its timeout; the waiting submissions learn they are not stored."""
    from monitor.store import database

    engine = database.make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    writer = BatchWriter(engine, max_delay_s=0.01)
    writer.start()
    writer.add_readings([hr(70.0, 1.0, "MON-1")])
    fut = writer.durable()
    await asyncio.sleep(0.5)  # a few failed attempts, retried with backoff
    assert not writer.healthy and not fut.done()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await writer.close(timeout_s=1.0)
    assert loop.time() - started < 5.0
    assert isinstance(fut.exception(), StorageUnavailable)
    engine.dispose()


def test_failures_are_classified() -> None:
    import sqlite3

    from sqlalchemy import exc

    assert classify(exc.DataError("INSERT", {}, ValueError("too long"))) == "data"
    assert classify(exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("NOT NULL"))) == "data"
    assert classify(exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))) == "transient"
    assert classify(ConnectionResetError()) == "transient"
    assert classify(ValueError("PostgreSQL text fields cannot contain NUL (0x00) bytes")) == "data"
    assert classify(RuntimeError("?")) == "unknown"
