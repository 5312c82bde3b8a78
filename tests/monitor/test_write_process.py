"""The writer process: batches written from a process of its own, a dead child replaced, retries written once."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from sqlalchemy import Engine, func, select

from monitor.model import Reading, Vital
from monitor.store import readings as reading_store
from monitor.store import schema
from monitor.store.transaction import BatchRows, write_rows
from monitor.store.writer import BatchWriter


def hr(value: float, ts: float, source: str = "MONITOR-1") -> Reading:
    return Reading(Vital.HR, value, "bpm", ts, source, bed="chair-1")


def dead(pid: int) -> bool:
    """Gone or a zombie (a killed child stays one until its parent reaps it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def count_readings(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(schema.readings)) or 0)


async def test_batches_are_written_by_another_process(migrated_engine: Engine) -> None:
    writer = BatchWriter(migrated_engine, max_delay_s=0.01, separate_process=True)
    writer.start()
    try:
        writer.add_readings([hr(70.0, 100.0), hr(71.0, 101.0)], "MONITOR-1|MSG1|20261125")
        await writer.durable()
        assert writer.process_pid is not None and writer.process_pid != os.getpid()
        writer.add_readings([hr(70.0, 100.0), hr(71.0, 101.0)], "MONITOR-1|MSG1|20261125")  # retransmitted
        await writer.durable()
    finally:
        await writer.close()
    assert reading_store.values_from_source(migrated_engine, "MONITOR-1") == [70.0, 71.0]
    assert (writer.rows_written, writer.duplicates_skipped, writer.healthy) == (2, 1, True)
    assert writer.process_pid is None  # stopped with the writer


async def test_a_killed_writer_process_is_replaced_and_nothing_is_lost(migrated_engine: Engine) -> None:
    writer = BatchWriter(migrated_engine, max_delay_s=0.01, separate_process=True)
    writer.start()
    try:
        writer.add_readings([hr(60.0, 1.0)])
        await writer.durable()
        first = writer.process_pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not dead(first) and time.monotonic() < deadline:  # the next batch must meet a dead child
            time.sleep(0.02)
        writer.add_readings([hr(61.0, 2.0), hr(62.0, 3.0)])
        await writer.durable()  # resolves only once the batch is stored, by the new child
        assert writer.process_pid not in (None, first) and writer.process_restarts == 1
    finally:
        await writer.close()
    assert reading_store.values_from_source(migrated_engine, "MONITOR-1") == [60.0, 61.0, 62.0]
    assert writer.healthy


def test_a_batch_retried_after_its_commit_is_written_once(migrated_engine: Engine) -> None:
    """The commit went through but its answer was lost (connection or writer process gone): the retry is a no-op.

    Without the batch's own key the retry would store the readings twice and fail on the events' seq forever.
    """
    rows = BatchRows(
        batch_key="batch:0123456789abcdef",
        ts=10.0,
        readings=[(10.0, "hr", 70.0, "bpm", "valid", "MONITOR-2", "chair-2", None)],
        events=[{"seq": 7, "ts": 10.0, "type": "alarm", "payload": "{}"}],
    )
    first = write_rows(migrated_engine, rows)
    again = write_rows(migrated_engine, rows)
    assert (first.readings, first.already_written) == (1, False)
    assert (again.readings, again.already_written) == (0, True)
    assert count_readings(migrated_engine) == 1
