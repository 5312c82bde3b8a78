"""Hostile senders over real sockets, on SQLite and the real PostgreSQL (issue 13, item 1).

The review's reproduction: a device alarm whose code is 100 characters made a
rule id longer than its column; on PostgreSQL the batch failed for ever and no
sender got an ACK again. Now every length from the wire is checked where it
enters (AE with the reason), and a row the database still refuses costs only
its own message (AE with the reason, raw frame kept, counted), never the queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from adapters.hl7.listener import MllpListener
from adapters.hl7.mllp import frame
from alerts.engine import AlarmEngine
from monitor.bus import InMemoryBus
from monitor.config import Hl7Settings
from monitor.live import LiveState
from monitor.model import AlarmChange, DeviceAlarm
from monitor.pipeline import AlarmStage, Pipeline
from monitor.sessions import SessionManager
from monitor.store import database
from monitor.store import readings as reading_store
from monitor.store.writer import BatchWriter
from tests.adapters.hl7.hl7_helpers import Conn, StoredSink, msa
from tests.adapters.hl7.hostile_messages import alarm_message, vitals_message


@asynccontextmanager
async def serving(url: str, judge: AlarmStage | None = None) -> AsyncIterator[tuple[MllpListener, StoredSink]]:
    """The real listener, pipeline and batched writer over ``url``."""
    engine = database.make_engine(url)
    database.upgrade(engine)
    writer = BatchWriter(engine, max_delay_s=0.005)
    writer.start()
    pipeline = Pipeline(
        writer=writer,
        sessions=SessionManager(engine, {}),
        judge=judge or AlarmEngine(),
        publisher=InMemoryBus(),
        live=LiveState(),
    )
    listener = MllpListener(Hl7Settings(host="127.0.0.1", port=0, timezone="UTC"))
    await listener.start(StoredSink(engine, pipeline))
    try:
        yield listener, StoredSink(engine, pipeline)
    finally:
        await listener.stop()
        await writer.close()
        engine.dispose()


def err_text(ack: object) -> str:
    return str(ack)


async def test_a_100_character_alarm_code_is_refused_and_storage_goes_on(db_url: str) -> None:
    async with serving(db_url) as (listener, sink):
        evil = await Conn.open(listener.port)
        good = await Conn.open(listener.port)
        await evil.write(frame(alarm_message("X" * 100, "EVIL1")))
        ack = await evil.ack(timeout=5)
        assert msa(ack) == ("AE", "EVIL1")
        assert "alarm code longer than 40 characters" in err_text(ack)
        for i in range(3):
            await good.write(frame(vitals_message(f"GOOD{i}", hr=70 + i)))
            assert msa(await good.ack(timeout=5)) == ("AA", f"GOOD{i}")
        assert reading_store.values_from_source(sink.engine, "0012000000000001") == [70.0, 97.0, 71.0, 97.0, 72.0, 97.0]
        assert listener.raw_log.entries[-1].data.startswith(b"MSH|^~\\&|EVIL")
        await evil.close()
        await good.close()


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (vitals_message("C" * 300), "MSH-10 (message control id) longer than 199 characters"),
        (vitals_message("L1").replace(b"MON^", b"M" * 5000 + b"^"), "MSH-3 (sending application) longer than 227"),
        (vitals_message("L2").replace(b"|WARD|", b"|" + b"W" * 300 + b"|"), "MSH-4 (sending facility) longer than 227"),
        (vitals_message("L3", bed="B" * 300), "PV1-3 (location) longer than 250 characters"),
        (vitals_message("L4", device="D" * 200), "device id longer than 128 characters"),
        (vitals_message("L5", device="EVIL\x01ID"), "device id holds control characters"),
    ],
    ids=["control-id", "msh3", "msh4", "pv1-3", "device-id", "control-chars"],
)
async def test_oversized_fields_are_refused_with_the_reason(db_url: str, message: bytes, reason: str) -> None:
    async with serving(db_url) as (listener, sink):
        conn = await Conn.open(listener.port)
        await conn.write(frame(message))
        ack = await conn.ack(timeout=5)
        code, control_id = msa(ack)
        assert code == "AE"
        assert reason in err_text(ack)
        assert len(control_id) <= 199 and len(str(ack)) < 2000, "an ACK never echoes an oversized field whole"
        await conn.write(frame(vitals_message("AFTER")))
        assert msa(await conn.ack(timeout=5)) == ("AA", "AFTER")
        assert len(sink.readings) == 2  # only the good message's HR and SpO2
        await conn.close()


class UnboundedRuleIds(AlarmEngine):
    """The engine as it was: ``device:<code>`` however long (the adapter's own check is bypassed below)."""

    def on_device_alarm(self, alarm: DeviceAlarm) -> list[AlarmChange]:
        changes = super().on_device_alarm(alarm)
        for change in changes:
            change.alarm.rule_id = f"device:{alarm.message}"
        return changes


@pytest.mark.postgres
async def test_a_row_the_database_refuses_costs_only_its_own_message(postgres_url: str) -> None:
    """Past the entry checks (a text alarm whose long text became its rule id): AE for it, AA for the others."""
    async with serving(postgres_url, judge=UnboundedRuleIds()) as (listener, sink):
        evil = await Conn.open(listener.port)
        others = [await Conn.open(listener.port) for _ in range(5)]
        text_alarm = (
            vitals_message("EVIL2").split(b"OBX|1")[0]
            + b"OBX|1|ST|2^Yellow Alarm^MDIL-ALERT|1.1.1.1|"
            + b"Y" * 150
            + b"||||||F\r"
        )
        for i, conn in enumerate(others):  # the evil message shares a batch with theirs
            await conn.write(frame(vitals_message(f"OK{i}", device=f"00120000000000{i:02d}")))
        await evil.write(frame(text_alarm))
        ack = await evil.ack(timeout=5)
        assert msa(ack) == ("AE", "EVIL2")
        assert "the database refused this message's data" in err_text(ack)
        assert "StringDataRightTruncation" in err_text(ack)
        for i, conn in enumerate(others):
            assert msa(await conn.ack(timeout=5)) == ("AA", f"OK{i}")
        await others[0].write(frame(vitals_message("AFTER", device="0012000000000000")))
        assert msa(await others[0].ack(timeout=5)) == ("AA", "AFTER")
        assert listener.counters["refused_by_storage"] == 1
        assert listener.raw_log.entries[-1].data.startswith(b"MSH|^~\\&|MON")
        assert sink.pipeline.writer.refused_submissions == 1
        assert len(sink.readings) == 12
        for conn in [evil, *others]:
            await conn.close()


def test_the_alarm_engine_never_builds_a_rule_id_longer_than_its_column() -> None:
    from alerts.engine import RULE_ID_WIDTH, device_rule_id

    assert device_rule_id("196680") == "device:196680"
    long = device_rule_id("X" * 300)
    assert len(long) <= RULE_ID_WIDTH
    assert long == device_rule_id("X" * 300) != device_rule_id("Y" * 300)
