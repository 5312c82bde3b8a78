"""The listener through real sockets: framing cases, ACK codes, dedupe, limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.base import SubmitResult
from adapters.hl7.listener import MllpListener
from adapters.hl7.mllp import frame
from monitor.config import Hl7Binding, Hl7Settings
from monitor.model import DeviceState, DeviceStatus, IngestItem, Vital
from monitor.store import schema
from tests.adapters.hl7.hl7_helpers import Conn, StoredSink, msa
from tests.fixtures import FIXTURES


def message(
    control_id: str,
    *,
    hr: str = "72",
    name: str = "",
    msh18: str = "UNICODE UTF-8",
    mtype: str = "ORU^R01^ORU_R01",
    version: str = "2.6",
    unit: str = "264864^MDC_DIM_BEAT_PER_MIN^MDC",
) -> bytes:
    return (
        f"MSH|^~\\&|MON^0A1B2CFFFE000001^EUI-64|CLINIC|||20250610015127+0800||{mtype}|{control_id}|P|{version}"
        f"||||||{msh18}\r"
        f"PID|||^^^H^PI||{name}\r"
        "PV1||I|KETA^^3\r"
        "OBR|1|||182777000^monitoring of patient^SCT|||20250610015127+0800\r"
        f"OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.5.1.1|{hr}|{unit}|||||R|||20250610015127+0800\r"
        "OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||R|||20250610015127+0800\r"
    ).encode()


async def test_two_frames_in_one_write(listener: MllpListener, sink: StoredSink) -> None:
    conn = await Conn.open(listener.port)
    await conn.write(frame(message("A1")) + frame(message("A2", hr="80")))
    assert [msa(await conn.ack()), msa(await conn.ack())] == [("AA", "A1"), ("AA", "A2")]
    assert [(r.vital, r.value) for r in sink.readings] == [
        (Vital.HR, 72),
        (Vital.SPO2, 97),
        (Vital.HR, 80),
        (Vital.SPO2, 97),
    ]
    await conn.close()


async def test_frame_split_over_several_writes(listener: MllpListener, sink: StoredSink) -> None:
    conn = await Conn.open(listener.port)
    data = frame(message("S1"))
    for part in (data[:1], data[1:40], data[40:-1], data[-1:]):
        await conn.write(part)
        await asyncio.sleep(0.02)  # let each part arrive as its own read
    assert msa(await conn.ack()) == ("AA", "S1")
    assert len(sink.readings) == 2
    await conn.close()


async def test_junk_before_a_frame(listener: MllpListener, sink: StoredSink) -> None:
    conn = await Conn.open(listener.port)
    await conn.write(b"\x00\x00GARBAGE\r\n" + frame(message("J1")))
    assert msa(await conn.ack()) == ("AA", "J1")
    assert len(sink.readings) == 2
    assert listener.counters["framing_errors"] == 1
    assert listener.raw_log.recent()[-1].data == b"\x00\x00GARBAGE\r\n"
    await conn.close()


async def test_frame_without_start_byte_then_a_good_one(listener: MllpListener, sink: StoredSink) -> None:
    conn = await Conn.open(listener.port)
    await conn.write(message("NOSB") + b"\x1c\r" + frame(message("GOOD")))
    bad, good = await conn.ack(), await conn.ack()
    assert msa(bad) == ("AE", "NOSB") and "start block" in str(bad.segment("ERR")[8])
    assert msa(good) == ("AA", "GOOD")
    assert [r.value for r in sink.readings] == [72, 97]  # only the good frame is stored
    await conn.close()


async def test_oversized_frame_is_refused_and_the_connection_kept(listener: MllpListener, sink: StoredSink) -> None:
    big = message("BIG").replace(b"PID|||^^^H^PI||", b"PID|||^^^H^PI||" + b"X" * 20_000)
    conn = await Conn.open(listener.port)
    await conn.write(frame(big) + frame(message("AFTER")))
    refused = await conn.ack()
    assert msa(refused) == ("AE", "BIG") and "larger than 8192" in str(refused.segment("ERR")[8])
    assert msa(await conn.ack()) == ("AA", "AFTER")
    assert len(sink.readings) == 2
    await conn.close()


async def test_utf8_patient_name(listener: MllpListener, sink: StoredSink) -> None:
    conn = await Conn.open(listener.port)
    await conn.write(frame(message("U1", name="Lófasz^János")))
    assert msa(await conn.ack()) == ("AA", "U1")
    # a sender that declares 8859/1 and sends Latin-1
    latin = message("U2", name="Lófasz^János", msh18="8859/1").decode("utf-8").encode("latin-1")
    await conn.write(frame(latin))
    assert msa(await conn.ack()) == ("AA", "U2")
    assert len(sink.readings) == 4 and listener.counters.get("latin1_fallback", 0) == 1
    await conn.close()


async def test_retransmission_is_acknowledged_again_and_stored_once(listener: MllpListener, sink: StoredSink) -> None:
    conn = await Conn.open(listener.port)
    await conn.write(frame(message("R1")))
    assert msa(await conn.ack()) == ("AA", "R1")
    await conn.write(frame(message("R1")))  # the sender missed our ACK and resends
    assert msa(await conn.ack()) == ("AA", "R1")
    assert len(sink.readings) == 2 and listener.counters["duplicates"] == 1
    await conn.close()


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [({"mtype": "ADT^A01^ADT_A01"}, "200"), ({"mtype": "ORM^O01"}, "200"), ({"version": "2.2"}, "203")],
)
async def test_unsupported_type_or_version_is_rejected(
    listener: MllpListener, sink: StoredSink, kwargs: dict[str, str], code: str
) -> None:
    conn = await Conn.open(listener.port)
    await conn.write(frame(message("X1", **kwargs)))
    ack = await conn.ack()
    assert msa(ack) == ("AR", "X1")
    assert str(ack.segment("ERR")[3][0][0]) == code
    assert sink.readings == []
    await conn.close()


async def test_unprocessable_rows_give_ae_with_the_reason(listener: MllpListener, sink: StoredSink) -> None:
    conn = await Conn.open(listener.port)
    bad = message("E1", unit="266016^MDC_DIM_MMHG^MDC").replace(b"|97|", b"|abc|")
    await conn.write(frame(bad))
    ack = await conn.ack()
    assert msa(ack) == ("AE", "E1")
    reasons = [str(seg[8]) for seg in ack.segments("ERR")]
    assert any("does not fit hr" in r for r in reasons) and any("not a number" in r for r in reasons)
    assert sink.readings == []
    # one bad row among good ones: AA, the good row stored, a warning says what was refused
    await conn.write(frame(message("E2", unit="266016^MDC_DIM_MMHG^MDC")))
    ack = await conn.ack()
    assert msa(ack) == ("AA", "E2") and str(ack.segment("ERR")[4]) == "W"
    assert [r.vital for r in sink.readings] == [Vital.SPO2]
    await conn.close()


async def test_not_hl7_at_all_gets_ae(listener: MllpListener) -> None:
    conn = await Conn.open(listener.port)
    await conn.write(frame(b"hello"))
    assert msa(await conn.ack())[0] == "AE"
    await conn.close()


async def test_bed_binding_and_disconnect_status(sink: StoredSink) -> None:
    settings = Hl7Settings(
        host="127.0.0.1", port=0, timezone="UTC", bindings=[Hl7Binding(bed="chair-3", location="KETA^^3")]
    )
    listener = MllpListener(settings)
    await listener.start(sink)
    try:
        conn = await Conn.open(listener.port)
        await conn.write(frame(message("B1")))
        assert msa(await conn.ack()) == ("AA", "B1")
        assert {r.bed for r in sink.readings} == {"chair-3"}
        await conn.close()
        async with asyncio.timeout(5):
            while not any(isinstance(i, DeviceStatus) and i.state == DeviceState.DISCONNECTED for i in sink.items):
                await asyncio.sleep(0.01)
        states = [(i.source, i.state, i.bed) for i in sink.items if isinstance(i, DeviceStatus)]
        assert states == [
            ("0A1B2CFFFE000001", DeviceState.CONNECTED, "chair-3"),
            ("0A1B2CFFFE000001", DeviceState.DISCONNECTED, "chair-3"),
        ]
    finally:
        await listener.stop()


async def test_allow_list_and_per_address_cap(sink: StoredSink) -> None:
    closed = MllpListener(Hl7Settings(host="127.0.0.1", port=0, allow=["10.0.0.0/8", "192.168.1.7"]))
    await closed.start(sink)
    try:
        conn = await Conn.open(closed.port)
        await conn.write(frame(message("D1")))
        with pytest.raises(ConnectionError):
            await conn.ack()
        assert closed.counters["refused_not_allowed"] == 1 and sink.readings == []
    finally:
        await closed.stop()
    capped = MllpListener(Hl7Settings(host="127.0.0.1", port=0, allow=["127.0.0.0/8"], max_connections_per_address=1))
    await capped.start(sink)
    try:
        first = await Conn.open(capped.port)
        await first.write(frame(message("C1")))
        assert msa(await first.ack()) == ("AA", "C1")
        second = await Conn.open(capped.port)
        with pytest.raises(ConnectionError):
            await second.ack()
        assert capped.counters["refused_over_cap"] == 1
        await second.close()
        await first.write(frame(message("C2")))  # the first connection is unaffected
        assert msa(await first.ack()) == ("AA", "C2")
        await first.close()
    finally:
        await capped.stop()


async def test_idle_connection_is_closed(sink: StoredSink) -> None:
    listener = MllpListener(Hl7Settings(host="127.0.0.1", port=0, idle_timeout_s=0.2))
    await listener.start(sink)
    try:
        conn = await Conn.open(listener.port)
        async with asyncio.timeout(5):
            assert await conn.reader.read(100) == b""  # closed by the server, not by us
    finally:
        await listener.stop()


class FailingSink:
    async def submit(self, items: Sequence[IngestItem], *, dedupe_key: str | None = None) -> SubmitResult:
        raise OSError("disk full")


async def test_no_aa_when_storage_fails() -> None:
    listener = MllpListener(Hl7Settings(host="127.0.0.1", port=0))
    await listener.start(FailingSink())
    try:
        conn = await Conn.open(listener.port)
        await conn.write(frame(message("F1")))
        ack = await conn.ack()
        assert msa(ack) == ("AE", "F1") and "resend" in str(ack.segment("ERR")[8])
        assert listener.health()["counters"] == listener.counters  # health exposes the counters
        await conn.close()
    finally:
        await listener.stop()


def test_registered_as_mllp_scheme() -> None:
    import adapters.base as base

    listener = base._registry["mllp"]("mllp://127.0.0.1:2599", {"timezone": "UTC", "allow": ["127.0.0.1"]})
    assert isinstance(listener, MllpListener)
    assert (listener.settings.host, listener.settings.port, listener.settings.allow) == (
        "127.0.0.1",
        2599,
        ["127.0.0.1"],
    )


async def test_pcd04_alarm_is_stored_as_a_device_alarm(listener: MllpListener, sink: StoredSink) -> None:
    conn = await Conn.open(listener.port)
    await conn.write(frame((FIXTURES / "hl7" / "ivmon_mindray_style_alarm_r40.hl7").read_bytes()))
    assert msa(await conn.ack()) == ("AA", "7")
    await conn.close()
    c = schema.alarms.c
    with sink.engine.connect() as db:
        rows = db.execute(select(c.kind, c.priority, c.message, c.rule_id, c.state)).all()
    # Bound to no chair: its text says which monitor and where it is.
    message = "Unassigned monitor 00A037000042 (127.0.0.1): Lead off"
    assert [tuple(r) for r in rows] == [("device", "low", message, "device:196680", "active")]


async def test_future_timestamps_are_refused(listener: MllpListener, sink: StoredSink) -> None:
    conn = await Conn.open(listener.port)
    ahead = time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() + 3600)) + "+0000"
    await conn.write(frame(message("T1").replace(b"20250610015127+0800", ahead.encode())))
    ack = await conn.ack()
    assert msa(ack) == ("AE", "T1") and "in the future" in str(ack.segment("ERR")[8])
    assert sink.readings == []
    await conn.close()


async def test_failed_frames_go_to_the_raw_log_not_the_application_log(
    tmp_path: Path, sink: StoredSink, caplog: pytest.LogCaptureFixture
) -> None:
    listener = MllpListener(Hl7Settings(host="127.0.0.1", port=0, raw_log_messages=2), data_dir=tmp_path)
    await listener.start(sink)
    try:
        conn = await Conn.open(listener.port)
        for i in range(3):
            bad = message(f"P{i}", name="Lófasz^János", unit="kg").replace(b"|97|", b"|x|")
            await conn.write(frame(bad))
            assert msa(await conn.ack()) == ("AE", f"P{i}")
        await conn.close()
    finally:
        await listener.stop()
    files = sorted((tmp_path / "hl7-failed").glob("*.hl7"))
    assert len(files) == 2 and b"L\xc3\xb3fasz" in files[-1].read_bytes()  # bounded, bytes kept for diagnosis
    assert len(listener.raw_log.recent()) == 2
    assert "P2" in caplog.text and "unknown unit 'kg' for hr" in caplog.text
    assert "fasz" not in caplog.text and "nos" not in caplog.text  # no patient data in the log
