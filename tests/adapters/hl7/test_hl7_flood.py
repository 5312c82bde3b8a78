"""One message cannot flood the screens (issue 13, item 3), over real sockets on SQLite and PostgreSQL.

The review's reproduction: 7,500 distinct OBX-18 device ids in one 0.94 MB
message made 7,800 unassigned devices and 7,806 alarms. Distinct unassigned
devices are now capped per sender address and in all: beyond, the message gets
AR and ONE technical alarm names the sender.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from adapters.hl7.listener import FLOOD_RULE, MllpListener
from adapters.hl7.mllp import frame
from monitor.config import Hl7Settings
from monitor.model import AlarmKind
from tests.adapters.hl7.hl7_helpers import Conn, StoredSink, msa, stored_sink
from tests.adapters.hl7.hostile_messages import hl7_time, vitals_message

NAMED = "HL7 sender 127.0.0.1 sends too many unassigned devices: its messages are refused"


def many_devices(count: int, cid: str, first: int = 0) -> bytes:
    """One ORU^R01 whose every OBX names a device of its own (OBX-18)."""
    sent = hl7_time(time.time())
    rows = [
        f"OBX|{i + 1}|NM|147842^MDC_ECG_HEART_RATE^MDC|1.5.1.1|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R"
        f"|||||||FL{first + i:014d}^^^EUI-64"
        for i in range(count)
    ]
    head = f"MSH|^~\\&|FLOOD|EVIL|||{sent}||ORU^R01^ORU_R01|{cid}|P|2.6\rOBR|1|||182777000^monitoring^SCT|||{sent}\r"
    return (head + "\r".join(rows) + "\r").encode()


@asynccontextmanager
async def listening(url: str, **limits: int) -> AsyncIterator[tuple[MllpListener, StoredSink]]:
    async with stored_sink(url) as sink:
        listener = MllpListener(Hl7Settings(host="127.0.0.1", port=0, timezone="UTC", **limits))  # type: ignore[arg-type]
        await listener.start(sink)
        try:
            yield listener, sink
        finally:
            await listener.stop()


def flood_alarms(sink: StoredSink) -> list[str]:
    return [
        a.message
        for a in sink.pipeline.live.alarms.values()
        if a.kind is AlarmKind.TECHNICAL and a.rule_id == FLOOD_RULE
    ]


async def test_a_message_with_7500_devices_is_refused_with_one_alarm(db_url: str) -> None:
    message = many_devices(7_500, "FLOOD1")
    assert 900_000 < len(message) < 1_048_576  # the review's 0.94 MB, under the frame limit
    async with listening(db_url) as (listener, sink):
        conn = await Conn.open(listener.port)
        await conn.write(frame(message))
        ack = await conn.ack(timeout=30)
        assert msa(ack) == ("AR", "FLOOD1")
        assert "too many unassigned devices" in str(ack)
        await conn.write(frame(many_devices(7_500, "FLOOD2")))  # again: still one alarm
        assert msa(await conn.ack(timeout=30)) == ("AR", "FLOOD2")
        await conn.write(frame(vitals_message("PING")))  # an unrelated message from elsewhere is unaffected
        assert msa(await conn.ack()) == ("AA", "PING")
        live = sink.pipeline.live
        assert len(live.values) == 1 and len(live.sources) == 1, "no tile for any flooded device"
        assert sink.readings and {r.source for r in sink.readings} == {"0012000000000001"}
        for _ in range(100):  # the alarm goes through the pipeline on its own task
            if flood_alarms(sink):
                break
            await asyncio.sleep(0.05)
        assert flood_alarms(sink) == [NAMED]
        assert len(live.alarms) == 1, [a.message for a in live.alarms.values()]
        assert listener.counters["refused_too_many_devices"] == 2
        await conn.close()


async def test_the_cap_counts_per_sender_and_in_all_and_the_alarm_names_the_sender(db_url: str) -> None:
    async with listening(db_url, max_unassigned_per_address=5, max_unassigned_total=8) as (listener, sink):
        conn = await Conn.open(listener.port)
        await conn.write(frame(many_devices(5, "FILL", first=0)))
        assert msa(await conn.ack()) == ("AA", "FILL")
        await conn.write(frame(many_devices(5, "SAME", first=0)))  # the same five: no new device
        assert msa(await conn.ack()) == ("AA", "SAME")
        await conn.write(frame(many_devices(1, "SIXTH", first=5)))
        ack = await conn.ack()
        assert msa(ack) == ("AR", "SIXTH")
        assert "5 per sender address, 8 in all" in str(ack)
        for _ in range(100):  # the alarm goes through the pipeline on its own task
            if flood_alarms(sink):
                break
            await asyncio.sleep(0.05)
        await conn.write(frame(many_devices(5, "AGAIN", first=0)))  # known devices: still taken
        assert msa(await conn.ack()) == ("AA", "AGAIN")
        assert flood_alarms(sink) == [NAMED]
        await conn.close()
