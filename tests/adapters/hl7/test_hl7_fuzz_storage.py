"""Fuzzing the listener with oversized fields in every segment, through the real pipeline on PostgreSQL.

Issue 13, item 4. Property: whatever one field of one segment holds (long, with
separators, escapes, control characters, any Unicode), the message is answered
or dropped, and a normal message sent after it on the same connection gets
``AA`` within 5 s: no input stalls the queue. PostgreSQL, because it enforces
column widths and text encoding (SQLite stores anything), which is where a
stalled writer came from. The CI run is modest; ``slow`` runs many more.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.hl7.listener import MllpListener
from adapters.hl7.mllp import Frame, MllpFramer, frame
from alerts.engine import AlarmEngine
from monitor.bus import InMemoryBus
from monitor.config import Hl7Settings
from monitor.live import LiveState
from monitor.pipeline import Pipeline
from monitor.sessions import SessionManager
from monitor.store import database
from monitor.store.writer import BatchWriter
from tests.adapters.hl7.hl7_helpers import StoredSink
from tests.adapters.hl7.hostile_messages import hl7_time

pytestmark = pytest.mark.postgres

#: Every segment a monitor sends, each field filled (PCD-01 vitals and a PCD-04 alarm in one message).
TEMPLATE = [
    "MSH|^~\\&|FUZZ^0A1B2CFFFE00FFFF^EUI-64|WARD|IVMON|IVMON|{sent}||ORU^R01^ORU_R01|{cid}|P|2.6|||AL|NE||"
    "UNICODE UTF-8",
    "PID|||12345^^^Hospital^PI||Doe^Jane||19700101|F",
    "PV1||I|ICU^1^2^Hospital|||||||||||||||||1",
    "OBR|1|ORD1|FIL1|182777000^monitoring of patient^SCT|||{sent}|{sent}",
    "OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.5.1.1|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|50-120|N|||R|||{sent}||||"
    "0A1B2CFFFE000001^^0A1B2CFFFE000001^EUI-64",
    "OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.5.1.2|97|262688^MDC_DIM_PERCENT^MDC|90-100|N|||R|||{sent}||||"
    "0A1B2CFFFE000001^^0A1B2CFFFE000001^EUI-64",
    "OBR|2||1^FUZZ^0A1B2CFFFE00FFFF^EUI-64|196616^MDC_EVT_ALARM^MDC|||{sent}",
    "OBX|3|CWE|196616^MDC_EVT_ALARM^MDC|1.7.0.196680.1|196680^MDC_EVT_LEAD_OFF^MDC|||A~PL~ST|||R|||{sent}||||"
    "0A1B2CFFFE000001^^0A1B2CFFFE000001^EUI-64",
    "OBX|4|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.7.0.196680.3|start||||||R",
    "OBX|5|ST|68482^MDC_ATTR_ALARM_STATE^MDC|1.7.0.196680.4|active||||||R",
    "OBX|6|ST|68484^MDC_ATTR_ALARM_PRIORITY^MDC|1.7.0.196680.6|PM||||||R",
    "OBX|7|ST|2^Yellow Alarm^MDIL-ALERT|1.1.1.1|HR high||||||F|||{sent}",
]
NORMAL = (
    "MSH|^~\\&|NORMAL^0012000000000001^EUI-64|WARD|||{sent}||ORU^R01^ORU_R01|{cid}|P|2.6\r"
    "OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.5.1.1|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||{sent}\r"
)
#: What an oversized field is made of: text, HL7's separators and escapes, control characters, any Unicode.
FIELD_TEXT = st.lists(
    st.one_of(
        st.sampled_from("AZaz09 .-+"),
        st.sampled_from(["^", "~", "\\", "&", "\\F\\", "\\X00\\", "\x00", "\x1b", "\x7f", "\u00b2", "\ufffd"]),
        st.characters(codec="utf-8"),  # UTF-8 has no surrogates
    ),
    min_size=1,
    max_size=40,
).map("".join)


@st.composite
def oversized_message(draw: st.DrawFn, cid: str) -> bytes:
    """The template with one field of one segment replaced by a long value (sometimes a few fields)."""
    segments = [s.format(sent=hl7_time(time.time()), cid=cid) for s in TEMPLATE]
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(segments) - 1))
        fields = segments[index].split("|")
        first = 3 if index == 0 else 1  # MSH-1/2 are the separators themselves (fuzzed elsewhere)
        position = draw(st.integers(first, len(fields) + 2))
        while len(fields) <= position:
            fields.append("")
        unit = draw(FIELD_TEXT)
        length = draw(st.sampled_from([65, 129, 200, 256, 1_000, 10_000, 100_000]))
        value = (unit * (length // len(unit) + 1))[:length]
        if index == 0 and position == 10:
            value = cid + value  # keep the control id recognisable at its start
        fields[position] = value.replace("\r", " ").replace("\x1c", " ").replace("\x0b", " ")
        segments[index] = "|".join(fields)
    return ("\r".join(segments) + "\r").encode("utf-8", "surrogatepass")


class PgBackground:
    """Listener, pipeline and writer on PostgreSQL, on their own event loop thread (hypothesis is sync)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.listener: MllpListener | None = None
        self.writer: BatchWriter | None = None
        self.counter = 0

    def __enter__(self) -> PgBackground:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(60)
        return self

    async def _start(self) -> None:
        engine = database.make_engine(self.url)
        database.upgrade(engine)
        self.engine = engine
        self.writer = BatchWriter(engine, max_delay_s=0.005)
        self.writer.start()
        pipeline = Pipeline(
            writer=self.writer,
            sessions=SessionManager(engine, {}),
            judge=AlarmEngine(),
            publisher=InMemoryBus(),
            live=LiveState(),
        )
        self.listener = MllpListener(Hl7Settings(host="127.0.0.1", port=0, timezone="UTC", idle_timeout_s=60))
        await self.listener.start(StoredSink(engine, pipeline))

    async def _stop(self) -> None:
        assert self.listener is not None and self.writer is not None
        await self.listener.stop()
        await self.writer.close()
        self.engine.dispose()

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def next_cid(self) -> str:
        self.counter += 1
        return f"FZ{self.counter}"

    @property
    def port(self) -> int:
        assert self.listener is not None
        return self.listener.port


def ack_of(sock: socket.socket, framer: MllpFramer, cid: str) -> list[str]:
    """MSA segments read until the one for ``cid`` (the 5 s socket timeout fails the test otherwise)."""
    seen: list[str] = []
    while True:
        data = sock.recv(65536)
        assert data, f"connection closed before the ACK of {cid} (got {seen})"
        for event in framer.feed(data):
            if isinstance(event, Frame):
                msa = next((s for s in event.payload.split(b"\r") if s.startswith(b"MSA|")), b"")
                seen.append(msa.decode("utf-8", "replace")[:80])
                if msa.split(b"|")[2:3] == [cid.encode()]:
                    return seen


def fuzz_then_normal(bg: PgBackground, message: bytes) -> None:
    normal_cid = bg.next_cid()
    normal = NORMAL.format(sent=hl7_time(time.time()), cid=normal_cid).encode()
    with socket.create_connection(("127.0.0.1", bg.port), timeout=5) as sock:
        sock.sendall(frame(message))
        sock.sendall(frame(normal))
        sock.settimeout(5)  # the normal message's AA within 5 s, whatever came before it
        seen = ack_of(sock, MllpFramer(), normal_cid)
    assert seen[-1] == f"MSA|AA|{normal_cid}", seen


@pytest.fixture
def pg_background(postgres_url: str) -> Iterator[PgBackground]:
    with PgBackground(postgres_url) as bg:
        yield bg


def check(bg: PgBackground, data: Any) -> None:
    fuzz_then_normal(bg, data.draw(oversized_message(bg.next_cid())))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_oversized_fields_never_stall_the_queue(pg_background: PgBackground, data: st.DataObject) -> None:
    check(pg_background, data)


@pytest.mark.slow
@settings(max_examples=1_000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_oversized_fields_never_stall_the_queue_long_run(pg_background: PgBackground, data: st.DataObject) -> None:
    check(pg_background, data)


def test_the_writer_stayed_healthy_and_nothing_crashed(pg_background: PgBackground) -> None:
    """After a fuzzed message of every kind the listener counted no internal error."""
    for size in (100, 100_000):
        for index in range(len(TEMPLATE)):
            fields = TEMPLATE[index].split("|")
            for position in range(3 if index == 0 else 1, len(fields)):
                message = list(TEMPLATE)
                changed = list(fields)
                changed[position] = "Z" * size
                message[index] = "|".join(changed)
                cid = pg_background.next_cid()
                text = "\r".join(s.format(sent=hl7_time(time.time()), cid=cid) for s in message) + "\r"
                fuzz_then_normal(pg_background, text.encode())
    assert pg_background.listener is not None and pg_background.writer is not None
    assert pg_background.listener.counters.get("internal_errors", 0) == 0
    assert pg_background.writer.healthy
